"""LLM Observatory's OpenTelemetry distro: one call (or `opentelemetry-instrument`) sends an LLM
application's GenAI spans to the stack with the application, team, environment and end user set.

    import observatory_sdk
    observatory_sdk.init(application="support-bot", team="support", environment="prod")
    with observatory_sdk.user("u-123"):
        client.chat.completions.create(...)
        trace_id = observatory_sdk.current_trace_id()   # for the rating that comes later
    observatory_sdk.feedback(True, "spot on", trace_id=trace_id)
"""

from __future__ import annotations

import logging
import threading

from opentelemetry.sdk._logs.export import LogExporter
from opentelemetry.sdk.trace.export import SpanExporter

from . import _feedback
from ._feedback import current_trace_id
from ._names import USER_FEEDBACK
from ._setup import EXIT_FLUSH_SECONDS, Setup, setup, shutdown_within
from ._user import current_user, user

__all__ = ["current_trace_id", "current_user", "feedback", "init", "shutdown", "user"]
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
    log_exporter: LogExporter | None = None,
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
            log_exporter=log_exporter,
        )
        return _state


def _adopt(done: Setup) -> None:
    """The configurator's setup becomes the one init() returns (opentelemetry-instrument ran first)."""
    global _state
    with _lock:
        _state = done


def feedback(
    score: bool | float,
    comment: str | None = None,
    *,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    response_id: str | None = None,
    name: str = USER_FEEDBACK,
) -> None:
    """Record a user's rating of an answer: `True`/`False` for thumbs up/down, or a number on the
    application's own scale, with an optional comment (redacted by the collector like other text).

    It rates the current trace, or `trace_id` (32 hex digits, from `current_trace_id()` at the time of
    the answer) when the rating comes later; `span_id` names the rated LLM span when the trace has
    several and the application knows which. The rating user is the current `user()`. Raises
    ValueError or TypeError for bad arguments, or when there is no trace to rate; never for a
    collector that is down (the rating is queued, bounded, and dropped if it cannot be sent).
    """
    rating = _feedback.record(
        score, comment, trace_id=trace_id, span_id=span_id, response_id=response_id, name=name
    )
    if _state is None:
        raise RuntimeError(
            "feedback(): call observatory_sdk.init() (or run under opentelemetry-instrument) first"
        )
    _state.logger_provider.get_logger("observatory_sdk").emit(rating)


def shutdown() -> None:
    """Export what is queued (spans and log records, at most EXIT_FLUSH_SECONDS in all) and stop.
    Also runs at exit."""
    if _state is not None:
        shutdown_within([_state.tracer_provider, _state.logger_provider], EXIT_FLUSH_SECONDS)
