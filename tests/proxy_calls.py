"""The capture scenarios as calls of the real `openai` and `anthropic` clients, for the proxy tests.

`call(base, scenario)` makes one scenario's call against a base URL (the fake provider's, or the
proxy's prefix in front of it) and returns what the caller received: status, the headers a caller
reads, the body's bytes exactly as they arrived, and the client's parsed result. The same call made
both ways must give the same `Received`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import anthropic
import openai

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts/capture"))
from fake_provider import FakeState, make_provider
from scenarios import EMBEDDING_INPUT, SCENARIOS, USER_ID_REQUEST, Scenario, Usage

__all__ = ["SCENARIOS", "FakeState", "Received", "Scenario", "Usage", "call", "make_provider", "scenario"]

API_KEY = "sk-proxy-test-SECRET-0123456789abcdef"  # must never leave the caller and the provider
# The headers a caller reads, besides the body: none of them is the proxy's to change.
CALLER_HEADERS = ("content-type", "retry-after", "x-request-id", "request-id", "cache-control")
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@dataclass(frozen=True)
class Received:
    status: int
    headers: dict[str, str]
    body: bytes
    parsed: Any


def scenario(provider: str, name: str) -> Scenario:
    return next(s for s in SCENARIOS[provider] if s.name == name)


def _received(response: Any, body: bytes, parsed: Any) -> Received:
    headers = {k: response.headers[k] for k in CALLER_HEADERS if k in response.headers}
    return Received(response.status_code, headers, body, parsed)


def _openai_kwargs(s: Scenario, include_usage: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "model": s.request_model,
        "messages": [{"role": "system", "content": s.system}, {"role": "user", "content": s.prompt}],
    }
    if s.tools:
        kw["tools"] = [{"type": "function", "function": WEATHER_TOOL}]
    if s.user_ids:
        kw["user"] = USER_ID_REQUEST
    if s.stream and include_usage:
        kw["stream_options"] = {"include_usage": True}
    return kw


def _anthropic_kwargs(s: Scenario) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "model": s.request_model,
        "max_tokens": 256,
        "system": s.system,
        "messages": [{"role": "user", "content": s.prompt}],
    }
    if s.tools:
        kw["tools"] = [
            {"name": "get_weather", "description": "The weather.", "input_schema": WEATHER_TOOL["parameters"]}
        ]
    if s.user_ids:
        kw["metadata"] = {"user_id": USER_ID_REQUEST}
    return kw


def call(
    base: str,
    s: Scenario,
    headers: dict[str, str] | None = None,
    include_usage: bool = False,
    timeout: float = 10.0,
) -> Received:
    """One scenario's call with the real client: raw bytes first, then the same call parsed."""
    extra = headers or {}
    if s.provider == "openai":
        oc = openai.OpenAI(base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, timeout=timeout)
        try:
            if s.operation == "embeddings":
                raw = oc.embeddings.with_raw_response.create(
                    model=s.request_model, input=EMBEDDING_INPUT, extra_headers=extra
                )
                return _received(raw.http_response, raw.http_response.content, raw.parse().model_dump())
            kw = _openai_kwargs(s, include_usage)
            if s.stream:
                with oc.chat.completions.with_streaming_response.create(
                    stream=True, extra_headers=extra, **kw
                ) as r:
                    body = b"".join(r.iter_bytes())
                    response = r.http_response
                chunks = [
                    c.model_dump() for c in oc.chat.completions.create(stream=True, extra_headers=extra, **kw)
                ]
                return _received(response, body, chunks)
            raw = oc.chat.completions.with_raw_response.create(extra_headers=extra, **kw)
            return _received(raw.http_response, raw.http_response.content, raw.parse().model_dump())
        except openai.APIStatusError as e:
            return _received(e.response, e.response.content, (type(e).__name__, e.body))
    ac = anthropic.Anthropic(base_url=base, api_key=API_KEY, max_retries=0, timeout=timeout)
    kw = _anthropic_kwargs(s)
    try:
        if s.stream:
            with ac.messages.with_streaming_response.create(stream=True, extra_headers=extra, **kw) as r:
                body = b"".join(r.iter_bytes())
                response = r.http_response
            events = [e.model_dump() for e in ac.messages.create(stream=True, extra_headers=extra, **kw)]
            return _received(response, body, events)
        raw = ac.messages.with_raw_response.create(extra_headers=extra, **kw)
        return _received(raw.http_response, raw.http_response.content, raw.parse().model_dump())
    except anthropic.APIStatusError as e:
        return _received(e.response, e.response.content, (type(e).__name__, e.body))
