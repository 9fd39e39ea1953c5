"""Which GenAI instrumentations run, and the switches that keep message content out of spans.

Each provider or framework has one preferred instrumentation (the extras of this distribution
install exactly these). Where a second library for the same provider is also installed, it is not
loaded: two instrumentations of one client would make every call two LLM spans.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

_log = logging.getLogger("observatory_sdk")
GROUP = "opentelemetry_instrumentor"

# Instrumentor module -> what it instruments; the preferred library for each, in extras order.
PREFERRED = {
    "opentelemetry.instrumentation.openai_v2": "openai",  # official, OpenTelemetry contrib
    "openinference.instrumentation.anthropic": "anthropic",  # exact tokens, cache tokens, user id
    "opentelemetry.instrumentation.langchain": "langchain",  # OpenLLMetry
    "opentelemetry.instrumentation.llamaindex": "llamaindex",  # OpenLLMetry
    "opentelemetry.instrumentation.bedrock": "bedrock",  # OpenLLMetry, bedrock-runtime only
}
# Other libraries for the same targets: skipped when the preferred one is installed.
ALTERNATIVES = {
    "opentelemetry.instrumentation.openai": "openai",  # OpenLLMetry
    "openinference.instrumentation.openai": "openai",
    "opentelemetry.instrumentation.anthropic": "anthropic",  # OpenLLMetry
    "openinference.instrumentation.langchain": "langchain",
    "openinference.instrumentation.llama_index": "llamaindex",
    "openinference.instrumentation.bedrock": "bedrock",
}

# Every switch the preferred libraries read for message content (prompts, completions, tool arguments).
# The stack's spec keeps content out by default (pii.keep_message_content: false); so does the distro.
_CONTENT_OFF = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",  # openai-v2
    "TRACELOOP_TRACE_CONTENT": "false",  # OpenLLMetry
    "OPENINFERENCE_HIDE_INPUTS": "true",  # OpenInference: every OPENINFERENCE_HIDE_* defaults to false
    "OPENINFERENCE_HIDE_OUTPUTS": "true",
    "OPENINFERENCE_HIDE_INPUT_MESSAGES": "true",
    "OPENINFERENCE_HIDE_OUTPUT_MESSAGES": "true",
    "OPENINFERENCE_HIDE_INPUT_TEXT": "true",
    "OPENINFERENCE_HIDE_OUTPUT_TEXT": "true",
    "OPENINFERENCE_HIDE_INPUT_IMAGES": "true",
    "OPENINFERENCE_HIDE_EMBEDDING_VECTORS": "true",
}
_CONTENT_ON = {key: "true" if value == "false" else "false" for key, value in _CONTENT_OFF.items()}


def configure_content(capture: bool | None) -> None:
    """Content off unless asked: `capture=None` leaves any switch the user set and turns the rest off;
    True or False sets every switch (an explicit argument wins over the environment)."""
    if capture is None:
        for key, value in _CONTENT_OFF.items():
            os.environ.setdefault(key, value)
        return
    os.environ.update(_CONTENT_ON if capture else _CONTENT_OFF)


def content_on() -> bool:
    return os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").lower() == "true"


def configure_provider_sdks() -> None:
    """The anthropic client traces itself whenever a global tracer provider is set; beside the
    Anthropic instrumentation that is a second span per call, which the stack does not count
    (dialects.yaml provider_sdk_scopes), so it is turned off unless the user said otherwise."""
    if _installed_modules() & {m for m, target in PREFERRED.items() if target == "anthropic"}:
        os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")


def _module(entry_point: EntryPoint) -> str:
    return entry_point.value.split(":", 1)[0]


def _genai_entry_points() -> list[EntryPoint]:
    return [ep for ep in entry_points(group=GROUP) if _module(ep) in PREFERRED or _module(ep) in ALTERNATIVES]


def _installed_modules() -> set[str]:
    return {_module(ep) for ep in _genai_entry_points()}


def superseded(entry_point: EntryPoint, installed: Iterable[str] | None = None) -> bool:
    """True for an alternative library whose target's preferred library is installed."""
    target = ALTERNATIVES.get(_module(entry_point))
    if target is None:
        return False
    modules = set(installed) if installed is not None else _installed_modules()
    return any(PREFERRED.get(m) == target for m in modules)


def instrument_installed() -> list[str]:
    """Turn on the installed GenAI instrumentations (what `init()` does; `opentelemetry-instrument`
    loads every instrumentor itself, through the distro). Failures are logged, never raised."""
    done = []
    installed = _installed_modules()
    for entry_point in _genai_entry_points():
        if superseded(entry_point, installed):
            _log.debug(
                "not loading %s: %s is instrumented by the preferred library",
                entry_point.value,
                ALTERNATIVES[_module(entry_point)],
            )
            continue
        try:
            dist = getattr(entry_point, "dist", None)
            conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
            if conflict is not None:  # the instrumented library is absent or of another version
                _log.debug("not loading %s: %s", entry_point.value, conflict)
                continue
            instrumentor = entry_point.load()()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(skip_dep_check=True)
            done.append(_module(entry_point))
        except Exception:  # an instrumentation that fails must not stop the application
            _log.warning("could not load the instrumentation %s", entry_point.value, exc_info=True)
    return done
