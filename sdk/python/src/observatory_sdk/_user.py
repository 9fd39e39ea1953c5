"""The end user of a request: a context-local value carried in W3C baggage, copied onto spans.

`user("u-123")` puts the id into the OpenTelemetry context, which lives in a contextvar: each thread
and each asyncio task sees its own, and the W3C baggage propagator sends it to downstream services,
whose spans (with this distro) get it too. `UserSpanProcessor` copies it onto every span started
inside, so the GenAI spans of the instrumentations carry `user.id` without knowing about it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import baggage, context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ._names import USER_BAGGAGE_KEY, USER_ID


@contextlib.contextmanager
def user(user_id: str) -> Iterator[None]:
    """Attribute every span started inside to `user_id` (sent as-is; the collector hashes it)."""
    token = context.attach(baggage.set_baggage(USER_BAGGAGE_KEY, str(user_id)))
    try:
        yield
    finally:
        context.detach(token)


def current_user() -> str | None:
    """The user set by the innermost `user()` (or received in baggage), or None."""
    value = baggage.get_baggage(USER_BAGGAGE_KEY)
    return None if value is None else str(value)


class UserSpanProcessor(SpanProcessor):
    """Sets `user.id` from baggage on each span as it starts (a dictionary lookup: nothing exported)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        value = baggage.get_baggage(USER_BAGGAGE_KEY, parent_context)
        if value is not None and span.is_recording():
            span.set_attribute(USER_ID, str(value))

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
