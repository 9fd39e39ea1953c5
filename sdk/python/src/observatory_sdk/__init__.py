"""LLM Observatory's OpenTelemetry distro: one call (or `opentelemetry-instrument`) sends an LLM
application's GenAI spans to the stack with the application, team, environment and end user set.

    import observatory_sdk
    observatory_sdk.init(application="support-bot", team="support", environment="prod")
    with observatory_sdk.user("u-123"):
        client.chat.completions.create(...)
"""

from __future__ import annotations

import logging
import threading

from opentelemetry.sdk.trace.export import SpanExporter

from ._setup import EXIT_FLUSH_SECONDS, Setup, setup, shutdown_within
from ._user import current_user, user

__all__ = ["current_user", "init", "shutdown", "user"]
__version__ = "0.1.0"

_log = logging.getLogger("observatory_sdk")
_lock = threading.Lock()
_state: Setup | None = None


def init(
    application: str | None = None,
    team: str | None = None,
    environment: str | None = None,
    *,
    endpoint: str | None = None,
    capture_content: bool | None = None,
    exporter: SpanExporter | None = None,
) -> Setup:
    """Set up tracing for LLM Observatory and turn on the installed GenAI instrumentations.

    application, team, environment: the resource attributes the stack groups by (service.name, team,
    deployment.environment.name); each falls back to OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES,
    and a warning at start-up names those still missing. endpoint: the collector's OTLP base URL
    (default OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318). capture_content: put prompts
    and completions into the telemetry (default off, as the stack's spec). A second call, or a call
    in an application already run by `opentelemetry-instrument` with this distro, returns the first
    setup unchanged (a second tracer provider would not be the global one and would export nothing).
    """
    global _state
    with _lock:
        if _state is not None:
            _log.warning(
                "observatory_sdk is already set up (an earlier init() or opentelemetry-instrument); "
                "this init() changes nothing"
            )
            return _state
        _state = setup(
            application,
            team,
            environment,
            endpoint=endpoint,
            capture_content=capture_content,
            exporter=exporter,
        )
        return _state


def _adopt(done: Setup) -> None:
    """The configurator's setup becomes the one init() returns (opentelemetry-instrument ran first)."""
    global _state
    with _lock:
        _state = done


def shutdown() -> None:
    """Export what is queued (at most EXIT_FLUSH_SECONDS) and stop. Also runs at exit."""
    if _state is not None:
        shutdown_within(_state.tracer_provider, EXIT_FLUSH_SECONDS)
