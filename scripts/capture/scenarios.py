"""The capture scenarios: what each call sends and what the fake provider answers (the ground truth).

Data only, shared by fake_provider.py (which answers with it) and runner.py (which makes the calls
and writes it down as truth.json). Standard library only: it runs in each library's throw-away venv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Identifiers the fake provider returns; fixed so a re-capture differs only in span ids and times.
CREATED_UNIX = 1767225600  # 2026-01-01T00:00:00Z
USER_ID_REQUEST = "user-request-4711"  # sent in the request (OpenAI `user`, Anthropic metadata.user_id)
USER_ID_CONTEXT = "user-context-0815"  # set through the library's own context API, where it has one
TIMEOUT_CLIENT_SECONDS = 0.5  # the client's timeout in the timeout scenario
TIMEOUT_SERVER_SLEEP_SECONDS = 2.0  # how long the fake provider then waits before answering
STREAM_FIRST_CHUNK_DELAY_SECONDS = 0.05  # so time to first token is measurably shorter than the call
STREAM_CHUNK_DELAY_SECONDS = 0.01

# The PII seeded in the PII scenario: the test proves none of it leaves the collector.
PII = {
    "email": "jane.doe@example.com",
    "phone": "+49 30 1234567",
    "iban": "DE89370400440532013000",
    "card": "4111 1111 1111 1111",
}
PII_PROMPT = (
    f"Please update my account: email {PII['email']}, phone {PII['phone']}, "
    f"IBAN {PII['iban']}, card {PII['card']}."
)
PII_COMPLETION = (
    f"Done. Your account now has email {PII['email']}, phone {PII['phone']}, "
    f"IBAN {PII['iban']} and card {PII['card']}."
)
SYSTEM_PROMPT = "You are a terse assistant for the capture corpus."
LONG_SYSTEM_PROMPT = "You are a terse assistant for the capture corpus. " * 4  # stands for a cached prefix
TOOL_ARGUMENTS = '{"city": "Berlin", "unit": "celsius"}'
EMBEDDING_INPUT = "The quick brown fox jumps over the lazy dog."
EMBEDDING_DIMENSIONS = 4


@dataclass(frozen=True)
class Usage:
    """Token counts as OpenTelemetry counts them: `input` includes cache reads and cache writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass(frozen=True)
class Scenario:
    """One call: what the client sends and what the fake provider answers."""

    name: str
    provider: str  # gen_ai.provider.name
    operation: str  # gen_ai.operation.name
    request_model: str
    response_model: str | None
    usage: Usage | None  # None: the provider sent no usage (failed calls)
    prompt: str = "Say hello."
    completion: str = "Hello! How can I help?"
    finish_reason: str | None = "stop"  # as the provider spells it
    stream: bool = False
    tools: bool = False
    error: str = "none"  # none | rate_limit | server_error | timeout | stream_error | stall (proxy tests)
    http_status: int | None = 200
    user_ids: bool = False  # set the request's user id and the library's context user id
    pii: bool = False
    system: str = SYSTEM_PROMPT


def _openai(name: str, **kw: Any) -> Scenario:
    base: dict[str, Any] = {
        "provider": "openai",
        "operation": "chat",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "usage": Usage(input=21, output=9),
    }
    return Scenario(name=name, **(base | kw))


def _anthropic(name: str, **kw: Any) -> Scenario:
    base: dict[str, Any] = {
        "provider": "anthropic",
        "operation": "chat",
        "request_model": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5-20250929",
        "usage": Usage(input=25, output=11),
        "finish_reason": "end_turn",
    }
    return Scenario(name=name, **(base | kw))


_FAILED: dict[str, Any] = {"response_model": None, "usage": None, "finish_reason": None}

SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    "openai": (
        _openai("chat"),
        _openai("stream", stream=True, usage=Usage(input=18, output=12)),
        _openai(
            "tool_call",
            prompt="What is the weather in Berlin?",
            completion="",
            tools=True,
            finish_reason="tool_calls",
            usage=Usage(input=64, output=17),
        ),
        _openai("rate_limit", error="rate_limit", http_status=429, **_FAILED),
        _openai("server_error", error="server_error", http_status=500, **_FAILED),
        _openai("timeout", error="timeout", http_status=None, **_FAILED),
        _openai(
            "embeddings",
            operation="embeddings",
            request_model="text-embedding-3-small",
            response_model="text-embedding-3-small",
            prompt=EMBEDDING_INPUT,
            completion="",
            finish_reason=None,
            usage=Usage(input=10),
        ),
        _openai(
            "cached_input",
            system=LONG_SYSTEM_PROMPT,
            usage=Usage(input=2048, output=12, cache_read=1536),
        ),
        _openai(
            "reasoning",
            request_model="o4-mini",
            response_model="o4-mini-2025-04-16",
            prompt="How many prime numbers are there below 30?",
            completion="There are 10.",
            usage=Usage(input=30, output=220, reasoning=192),
        ),
        _openai("user_id", user_ids=True, usage=Usage(input=22, output=9)),
        _openai(
            "pii", prompt=PII_PROMPT, completion=PII_COMPLETION, pii=True, usage=Usage(input=52, output=47)
        ),
    ),
    "anthropic": (
        _anthropic("chat"),
        _anthropic("stream", stream=True, usage=Usage(input=19, output=13)),
        _anthropic(
            "tool_call",
            prompt="What is the weather in Berlin?",
            completion="",
            tools=True,
            finish_reason="tool_use",
            usage=Usage(input=380, output=55),
        ),
        _anthropic("rate_limit", error="rate_limit", http_status=429, **_FAILED),
        _anthropic("server_error", error="server_error", http_status=500, **_FAILED),
        _anthropic("timeout", error="timeout", http_status=None, **_FAILED),
        # Anthropic reports input_tokens without the cached part: the provider sends 50, 1800, 400.
        _anthropic(
            "cached_input",
            system=LONG_SYSTEM_PROMPT,
            usage=Usage(input=2250, output=15, cache_read=1800, cache_write=400),
        ),
        _anthropic("user_id", user_ids=True, usage=Usage(input=26, output=11)),
        _anthropic(
            "pii", prompt=PII_PROMPT, completion=PII_COMPLETION, pii=True, usage=Usage(input=60, output=50)
        ),
    ),
}
