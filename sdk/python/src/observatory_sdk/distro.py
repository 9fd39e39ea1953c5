"""The hooks `opentelemetry-instrument` loads: the distro (environment defaults, which instrumentors
load) and the configurator (the SDK pipeline of `_setup`, the same one `init()` builds).

    pip install 'llm-observatory-sdk[openai,anthropic]'
    OTEL_SERVICE_NAME=support-bot OTEL_RESOURCE_ATTRIBUTES=team=support,deployment.environment.name=prod \\
        opentelemetry-instrument python app.py
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint
from typing import Any

# The module opts out of type checking (`# type: ignore` at its top), so its names look absent.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from . import _instrument, _setup

_log = logging.getLogger("observatory_sdk")


class ObservatoryDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        # Before any instrumentor loads: content stays out unless the environment asks for it.
        _instrument.configure_content(None)
        _instrument.configure_provider_sdks()

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        if _instrument.superseded(entry_point):
            _log.debug("not loading %s: its target has a preferred instrumentation", entry_point.value)
            return
        super().load_instrumentor(entry_point, **kwargs)


class ObservatoryConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        # opentelemetry-instrument loads every installed instrumentor itself, through the distro.
        import observatory_sdk

        observatory_sdk._adopt(_setup.setup(instrument=False))
