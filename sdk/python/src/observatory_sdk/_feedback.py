"""User feedback: a rating of an answer, sent as the GenAI conventions' evaluation event.

`feedback(True)` inside the request that produced the answer rates that request's trace; later (the
user clicks thumbs-up a minute after the answer), `feedback(True, trace_id=...)` with the id that
`current_trace_id()` gave at the time. The event is an OTLP log record named
`gen_ai.evaluation.result`, parented to the rated span (or only to its trace), with
`gen_ai.evaluation.name` `user_feedback`, the score, a label for thumbs, the comment as
`gen_ai.evaluation.explanation` and the rating user as `user.id`. The stack's collector routes these
records to its ingester, which stores each joined to the request it rates: the span given, else the
trace's LLM request that ended last.

Bad arguments raise (ValueError, TypeError) at once, in the caller; sending never does: the record
waits in a bounded queue like the spans, and a collector that is down costs the rating, nothing else.
"""

from __future__ import annotations

import math
import time
from numbers import Real

from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from ._names import (
    EVALUATION_EVENT,
    EVALUATION_EXPLANATION,
    EVALUATION_NAME,
    EVALUATION_SCORE_LABEL,
    EVALUATION_SCORE_VALUE,
    RESPONSE_ID,
    USER_FEEDBACK,
    USER_ID,
)
from ._user import current_user

THUMBS = {True: "thumbs_up", False: "thumbs_down"}
MAX_COMMENT = 4096  # characters sent; the ingester keeps as many


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), to hand to whatever collects the user's rating later;
    None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def _id(value: str | int | None, digits: int, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(
            f"feedback(): {what} must be {digits} hex digits or an int, not {type(value).__name__}"
        )
    number = value if isinstance(value, int) else None
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0x")
        if len(text) != digits or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(f"feedback(): {what} {value!r} is not {digits} hex digits")
        number = int(text, 16)
    assert number is not None
    if not 0 < number < 16**digits:
        raise ValueError(f"feedback(): {what} {value!r} is not a valid id (zero or too large)")
    return number


def _score(score: bool | float) -> tuple[float, str | None]:
    if isinstance(score, bool):
        return (1.0 if score else 0.0), THUMBS[score]
    if not isinstance(score, Real):
        raise TypeError(f"feedback(): score must be a bool (thumbs) or a number, not {type(score).__name__}")
    value = float(score)
    if not math.isfinite(value):
        raise ValueError(f"feedback(): score must be finite, not {score!r}")
    return value, None


def record(
    score: bool | float,
    comment: str | None = None,
    *,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    response_id: str | None = None,
    name: str = USER_FEEDBACK,
) -> LogRecord:
    """The log record of a rating (see `observatory_sdk.feedback`)."""
    value, label = _score(score)
    if comment is not None and not isinstance(comment, str):
        raise TypeError(f"feedback(): comment must be a string, not {type(comment).__name__}")
    if not name or not isinstance(name, str):
        raise ValueError("feedback(): name must be a non-empty string")
    trace_number, span_number = _id(trace_id, 32, "trace_id"), _id(span_id, 16, "span_id")
    if trace_number is None:
        if span_number is not None:
            raise ValueError("feedback(): span_id needs the trace_id it belongs to")
        current = trace.get_current_span().get_span_context()
        if not current.is_valid:
            raise ValueError(
                "feedback(): no trace to rate: call it inside the traced request, or pass the "
                "trace_id that observatory_sdk.current_trace_id() gave then"
            )
        trace_number = current.trace_id
    attributes: dict[str, str | float] = {EVALUATION_NAME: name, EVALUATION_SCORE_VALUE: value}
    if label:
        attributes[EVALUATION_SCORE_LABEL] = label
    if comment:
        attributes[EVALUATION_EXPLANATION] = comment[:MAX_COMMENT]
    if response_id:
        attributes[RESPONSE_ID] = str(response_id)
    rater = current_user()
    if rater is not None:
        attributes[USER_ID] = rater
    # The record's trace and span come from a context holding the rated span (span id 0: the trace).
    rated = SpanContext(
        trace_number, span_number or 0, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    now = time.time_ns()
    return LogRecord(
        timestamp=now,
        observed_timestamp=now,
        context=trace.set_span_in_context(NonRecordingSpan(rated)),
        attributes=attributes,
        event_name=EVALUATION_EVENT,
    )
