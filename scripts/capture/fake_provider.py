"""A fake OpenAI and Anthropic API on 127.0.0.1 that answers each scenario with fixed token counts.

Chat completions (plain and streamed as server-sent events, with the final usage chunk when
stream_options.include_usage is set), responses (plain and streamed; the proxy tests use them),
embeddings (float or base64), Anthropic messages (plain and streamed as message_start /
content_block_* / message_delta / message_stop), and each provider's
429 (with Retry-After), 500, a reply slower than the client's timeout, an error inside a stream that
began with 200 (chat chunk error object, Responses `error` + `response.failed`, Anthropic `error`)
and a stream that stalls after its first events. The runner sets
`FakeState.scenario` before every call; the server answers from it and records what it was asked.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scenarios import (
    CREATED_UNIX,
    EMBEDDING_DIMENSIONS,
    STREAM_CHUNK_DELAY_SECONDS,
    STREAM_FIRST_CHUNK_DELAY_SECONDS,
    TIMEOUT_SERVER_SLEEP_SECONDS,
    TOOL_ARGUMENTS,
    Scenario,
    Usage,
)


@dataclass
class FakeState:
    """What the fake provider answers next, and what it was asked (the runner sets `scenario`)."""

    scenario: Scenario | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # each request's, for the proxy tests
    # gzip JSON answers when the request's Accept-Encoding lists gzip (the proxy's compression test)
    gzip: bool = False


def openai_usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def anthropic_usage(u: Usage) -> dict[str, Any]:
    uncached = u.input - u.cache_read - u.cache_write
    return {
        "input_tokens": uncached,
        "output_tokens": u.output,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation_input_tokens": u.cache_write,
        "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }


def _openai_message(s: Scenario) -> dict[str, Any]:
    if s.tools:
        call = {
            "id": "call_capture_0001",
            "type": "function",
            "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    return {"role": "assistant", "content": s.completion, "refusal": None, "annotations": []}


def openai_chat(s: Scenario) -> dict[str, Any]:
    assert s.usage is not None
    return {
        "id": f"chatcmpl-capture-{s.name}",
        "object": "chat.completion",
        "created": CREATED_UNIX,
        "model": s.response_model,
        "choices": [
            {"index": 0, "message": _openai_message(s), "logprobs": None, "finish_reason": s.finish_reason}
        ],
        "usage": openai_usage(s.usage),
        "service_tier": "default",
        "system_fingerprint": "fp_capture",
    }


def _words(text: str) -> list[str]:
    """The completion cut into stream deltas, each word with its leading space."""
    parts = text.split(" ")
    return [parts[0]] + [" " + p for p in parts[1:]]


def openai_stream(s: Scenario, include_usage: bool) -> Iterator[dict[str, Any]]:
    assert s.usage is not None
    head = {
        "id": f"chatcmpl-capture-{s.name}",
        "object": "chat.completion.chunk",
        "created": CREATED_UNIX,
        "model": s.response_model,
        "service_tier": "default",
        "system_fingerprint": "fp_capture",
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return head | {"choices": [choice]} | extra

    yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
    for word in _words(s.completion):
        yield chunk({"content": word}, None)
    yield chunk({}, s.finish_reason)
    if include_usage:
        yield head | {"choices": [], "usage": openai_usage(s.usage)}


def openai_embeddings(s: Scenario, encoding: str) -> dict[str, Any]:
    assert s.usage is not None
    vector = [0.125, -0.25, 0.5, -0.0625][:EMBEDDING_DIMENSIONS]
    data: Any = vector
    if encoding == "base64":  # the openai client asks for base64 unless told otherwise
        data = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": data}],
        "model": s.response_model,
        "usage": {"prompt_tokens": s.usage.input, "total_tokens": s.usage.input},
    }


def openai_response(s: Scenario, status: str = "completed") -> dict[str, Any]:
    """A Responses API response object (POST /v1/responses)."""
    assert s.usage is not None
    message = {
        "type": "message",
        "id": f"msg_capture_{s.name}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": s.completion, "annotations": []}],
    }
    return {
        "id": f"resp_capture_{s.name}",
        "object": "response",
        "created_at": CREATED_UNIX,
        "status": status,
        "model": s.response_model,
        "output": [message] if status == "completed" else [],
        "usage": {
            "input_tokens": s.usage.input,
            "input_tokens_details": {"cached_tokens": s.usage.cache_read},
            "output_tokens": s.usage.output,
            "output_tokens_details": {"reasoning_tokens": s.usage.reasoning},
            "total_tokens": s.usage.input + s.usage.output,
        },
    }


def openai_response_stream(s: Scenario) -> Iterator[dict[str, Any]]:
    """The Responses API's stream: created, one text delta per word, completed (with usage)."""
    created = openai_response(s) | {"status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": 0, "response": created}
    for i, word in enumerate(_words(s.completion)):
        delta = {"item_id": f"msg_capture_{s.name}", "output_index": 0, "content_index": 0, "delta": word}
        yield {"type": "response.output_text.delta", "sequence_number": i + 1} | delta
    yield {"type": "response.completed", "sequence_number": 99, "response": openai_response(s)}


def _anthropic_content(s: Scenario) -> list[dict[str, Any]]:
    if s.tools:
        return [
            {"type": "text", "text": "Let me check the weather."},
            {
                "type": "tool_use",
                "id": "toolu_capture_0001",
                "name": "get_weather",
                "input": json.loads(TOOL_ARGUMENTS),
            },
        ]
    return [{"type": "text", "text": s.completion}]


def anthropic_message(s: Scenario) -> dict[str, Any]:
    assert s.usage is not None
    return {
        "id": f"msg_capture_{s.name}",
        "type": "message",
        "role": "assistant",
        "model": s.response_model,
        "content": _anthropic_content(s),
        "stop_reason": s.finish_reason,
        "stop_sequence": None,
        "usage": anthropic_usage(s.usage),
    }


def anthropic_stream(s: Scenario) -> Iterator[dict[str, Any]]:
    assert s.usage is not None
    start_usage = anthropic_usage(s.usage) | {"output_tokens": 1}
    message = anthropic_message(s) | {"content": [], "stop_reason": None, "usage": start_usage}
    yield {"type": "message_start", "message": message}
    yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    yield {"type": "ping"}
    for word in _words(s.completion):
        yield {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
    yield {"type": "content_block_stop", "index": 0}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": s.finish_reason, "stop_sequence": None},
        "usage": {"output_tokens": s.usage.output},
    }
    yield {"type": "message_stop"}


def anthropic_stream_error(s: Scenario) -> Iterator[dict[str, Any]]:
    """A stream that starts, then ends with an error event (status 200 already sent)."""
    events = anthropic_stream(s)
    yield next(events)  # message_start
    yield next(events)  # content_block_start
    yield {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def openai_stream_error(s: Scenario) -> Iterator[dict[str, Any]]:
    """A chat completions stream that starts, then carries an error object (status 200 already sent);
    OpenAI ends such a stream without [DONE]."""
    chunks = openai_stream(s, include_usage=False)
    yield next(chunks)  # the role chunk
    yield next(chunks)  # the first word
    message = "The server had an error while processing your request. Sorry about that!"
    yield {"error": {"message": message, "type": "server_error", "param": None, "code": "server_error"}}


def openai_response_stream_failed(s: Scenario) -> Iterator[dict[str, Any]]:
    """A Responses API stream that starts, then fails: an `error` event, then `response.failed`."""
    events = openai_response_stream(s)
    yield next(events)  # response.created
    yield next(events)  # the first text delta
    message = "Rate limit reached for requests. Try again in 20s."
    yield {"type": "error", "sequence_number": 2, "code": "rate_limit_exceeded", "message": message}
    error = {"code": "rate_limit_exceeded", "message": message}
    failed = openai_response(s, status="failed") | {"error": error, "usage": None}
    yield {"type": "response.failed", "sequence_number": 3, "response": failed}


def stalled(events: Iterator[dict[str, Any]], after: int) -> Iterator[dict[str, Any]]:
    """The events, with a pause longer than the client's timeout after the first `after` of them."""
    for i, event in enumerate(events):
        if i == after:
            time.sleep(TIMEOUT_SERVER_SLEEP_SECONDS)
        yield event


def error_body(s: Scenario) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and body of a failed call, shaped like each provider's."""
    rate = s.error == "rate_limit"
    headers = {"retry-after": "20"} if rate else {}
    if s.provider == "openai":
        if rate:
            message = f"Rate limit reached for {s.request_model} on tokens per min (TPM). Try again in 20s."
            error = {"message": message, "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
        else:
            message = "The server had an error while processing your request. Sorry about that!"
            error = {"message": message, "type": "server_error", "param": None, "code": None}
        return (429 if rate else 500), headers, {"error": error}
    kind, message = ("rate_limit_error", "Number of request tokens has exceeded your rate limit.")
    if not rate:
        kind, message = ("api_error", "Internal server error")
    return (429 if rate else 500), headers, {"type": "error", "error": {"type": kind, "message": message}}


def make_provider(state: FakeState) -> ThreadingHTTPServer:
    class Provider(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            s = state.scenario
            assert s is not None, "the runner sets a scenario before every call"
            state.requests.append({"path": self.path, "body": body})
            state.headers.append(dict(self.headers.items()))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(s, body)  # raises when the client gave up (the timeout scenario)

        def _answer(self, s: Scenario, body: dict[str, Any]) -> None:
            if s.error == "timeout":
                time.sleep(TIMEOUT_SERVER_SLEEP_SECONDS)
            if s.error == "stream_error" and self.path.endswith("/chat/completions"):
                self._sse((("", e) for e in openai_stream_error(s)), done=False)
            elif s.error == "stream_error" and self.path.endswith("/responses"):
                self._sse(((e["type"], e) for e in openai_response_stream_failed(s)), done=False)
            elif s.error == "stall":  # a chat stream that goes quiet after two chunks
                self._sse((("", c) for c in stalled(openai_stream(s, False), 2)), done=True)
            elif s.error == "stream_error":  # Anthropic: overloaded after the stream began with 200
                self._sse(((e["type"], e) for e in anthropic_stream_error(s)), done=False)
            elif s.error != "none":
                status, headers, payload = error_body(s)
                self._json(payload, status, headers)
            elif self.path.endswith("/embeddings"):
                self._json(openai_embeddings(s, body.get("encoding_format", "float")))
            elif self.path.endswith("/responses") and body.get("stream"):
                self._sse(((e["type"], e) for e in openai_response_stream(s)), done=False)
            elif self.path.endswith("/responses"):
                self._json(openai_response(s))
            elif self.path.endswith("/chat/completions") and body.get("stream"):
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._sse((("", c) for c in openai_stream(s, usage)), done=True)
            elif self.path.endswith("/chat/completions"):
                self._json(openai_chat(s))
            elif self.path.endswith("/messages") and body.get("stream"):
                self._sse(((e["type"], e) for e in anthropic_stream(s)), done=False)
            elif self.path.endswith("/messages"):
                self._json(anthropic_message(s))
            else:
                self._json({"error": {"message": f"no route {self.path}"}}, 404)

        def _head(self, status: int, content_type: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("x-request-id", "req_capture")
            self.send_header("request-id", "req_capture")
            for key, value in headers.items():
                self.send_header(key, value)

        def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            headers = dict(headers or {})
            if state.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                data, headers["Content-Encoding"] = gzip.compress(data), "gzip"
            self._head(status, "application/json", headers)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, events: Iterator[tuple[str, dict[str, Any]]], done: bool) -> None:
            self._head(200, "text/event-stream", {"Cache-Control": "no-cache"})
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            time.sleep(STREAM_FIRST_CHUNK_DELAY_SECONDS)
            for name, event in events:
                prefix = f"event: {name}\n" if name else ""
                self.wfile.write(f"{prefix}data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                time.sleep(STREAM_CHUNK_DELAY_SECONDS)
            if done:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Provider)
