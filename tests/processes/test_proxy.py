"""The proxy between the real `openai` and `anthropic` clients and a fake provider API: callers get
exactly what the provider sent, and each call becomes one GenAI span with exact attributes.

The fake provider (scripts/capture/fake_provider.py) stands for OpenAI and Anthropic; the proxy is
the built binary (`make proxy`); its spans go to a test-owned OTLP endpoint (tests/otlp_capture.py).
Every call sends a traceparent with its own trace id, so each test finds its span by trace id.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from tests.conftest import ManagedProcess, free_port, poll_until, proxy_binary
from tests.otlp_capture import OtlpCapture
from tests.proxy_calls import API_KEY, SCENARIOS, FakeState, Scenario, Usage, call, make_provider, scenario

UPSTREAM_TIMEOUT_SECONDS = 1.0  # the proxy's; the fake's timeout scenario answers after 2 s
STREAM_IDLE_TIMEOUT_SECONDS = 1.0  # the proxy's; the fake's stall scenario pauses 2 s mid-stream
# Every scenario a caller can compare byte for byte (the timeout one has no response to compare).
COMPARABLE = [(p, s.name) for p in SCENARIOS for s in SCENARIOS[p] if s.error != "timeout"]


@dataclass
class Proxy:
    url: str
    process: ManagedProcess
    log: Path

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeState, str]]:
    state = FakeState()
    server = make_provider(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def capture() -> Iterator[OtlpCapture]:
    c = OtlpCapture()
    yield c
    c.close()


def start_proxy(tmp: Path, upstream: str, otlp: str, *flags: str) -> Proxy:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "proxy.log"
    argv = [
        str(proxy_binary()),
        f"-listen=127.0.0.1:{port}",
        f"-openai-upstream={upstream}",
        f"-anthropic-upstream={upstream}",
        f"-otlp-endpoint={otlp}",
        f"-upstream-timeout={UPSTREAM_TIMEOUT_SECONDS}s",
        f"-stream-idle-timeout={STREAM_IDLE_TIMEOUT_SECONDS}s",
        "-export-interval=50ms",
        *flags,
    ]
    process = ManagedProcess(argv, log)
    process.wait_ready(
        lambda: requests.get(f"{url}/readyz", timeout=1).ok, f"the proxy ready at {url}/readyz"
    )
    return Proxy(url, process, log)


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, fake: tuple[FakeState, str], capture: OtlpCapture
) -> Iterator[Proxy]:
    p = start_proxy(tmp_path_factory.mktemp("proxy"), fake[1], capture.url)
    yield p
    p.process.stop()


def prefixed(proxy_url: str, s: Scenario) -> str:
    return f"{proxy_url}/{s.provider}"


def traceparent() -> tuple[str, str, str]:
    trace, parent = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace}-{parent}-01", trace, parent


def value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind)


def spans_of(capture: OtlpCapture, trace_id: str) -> list[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(resource attributes, span attributes, span) of every span captured in the trace."""
    found = []
    for request in list(capture.traces):
        for rs in request.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    if span.trace_id.hex() == trace_id:
                        found.append((resource, {a.key: value(a.value) for a in span.attributes}, span))
    return found


def one_span(capture: OtlpCapture, trace_id: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    poll_until(lambda: spans_of(capture, trace_id), f"the proxy's span in trace {trace_id}", 10)
    time.sleep(0.2)  # a second span for the same call would have arrived by now
    found = spans_of(capture, trace_id)
    assert len(found) == 1, f"one span per call, got {len(found)}"
    return found[0]


def failed_span(capture: OtlpCapture, trace_id: str, error_type: str, raw: str) -> dict[str, Any]:
    """The attributes of the trace's one span, which must be failed with this error type and raw type."""
    _, attrs, span = one_span(capture, trace_id)
    assert (attrs["error.type"], attrs["llm.error.raw_type"]) == (error_type, raw)
    assert span.status.code == span.status.STATUS_CODE_ERROR
    return attrs


def openai_client(base: str) -> Any:
    """The real openai client against a base URL (the fake's, or the proxy's /openai prefix)."""
    import openai

    return openai.OpenAI(base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, timeout=10)


def expected_attributes(s: Scenario, fake_url: str) -> dict[str, Any]:
    port = int(fake_url.rsplit(":", 1)[1])
    want: dict[str, Any] = {
        "gen_ai.provider.name": s.provider,
        "gen_ai.operation.name": s.operation,
        "gen_ai.request.model": s.request_model,
        "gen_ai.request.stream": s.stream,
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": s.http_status,
    }
    if s.response_model:
        want["gen_ai.response.model"] = s.response_model
    if s.error == "none" and s.operation == "chat":  # the fake's fixed ids; embeddings have none
        want["gen_ai.response.id"] = (
            f"chatcmpl-capture-{s.name}" if s.provider == "openai" else f"msg_capture_{s.name}"
        )
    if s.usage is not None:
        want |= {
            "gen_ai.usage.input_tokens": s.usage.input,
            "gen_ai.usage.output_tokens": s.usage.output,
            "gen_ai.usage.cache_read.input_tokens": s.usage.cache_read,
            "gen_ai.usage.cache_creation.input_tokens": s.usage.cache_write,
            "gen_ai.usage.reasoning.output_tokens": s.usage.reasoning,
        }
    if s.finish_reason:
        want["gen_ai.response.finish_reasons"] = [s.finish_reason]
    if s.error == "rate_limit":
        raw = "rate_limit_exceeded" if s.provider == "openai" else "rate_limit_error"
        want |= {"error.type": "rate_limit", "llm.error.raw_type": raw}
    if s.error == "server_error":
        raw = "server_error" if s.provider == "openai" else "api_error"
        want |= {"error.type": "server_error", "llm.error.raw_type": raw}
    return want


def set_scenario(state: FakeState, s: Scenario) -> None:
    state.scenario, state.requests, state.headers = s, [], []


@pytest.mark.parametrize(("provider", "name"), COMPARABLE)
def test_the_real_clients_receive_through_the_proxy_exactly_what_the_provider_sent(
    fake: tuple[FakeState, str], proxy: Proxy, provider: str, name: str
) -> None:
    state, fake_url = fake
    s = scenario(provider, name)
    set_scenario(state, s)
    direct = call(fake_url, s)
    proxied = call(prefixed(proxy.url, s), s)
    assert proxied == direct


def test_an_openai_stream_whose_caller_asked_for_usage_keeps_its_usage_chunk(
    fake: tuple[FakeState, str], proxy: Proxy
) -> None:
    state, fake_url = fake
    s = scenario("openai", "stream")
    set_scenario(state, s)
    direct = call(fake_url, s, include_usage=True)
    proxied = call(prefixed(proxy.url, s), s, include_usage=True)
    assert proxied == direct
    assert b'"prompt_tokens": 18' in proxied.body


def test_the_proxy_asks_openai_for_stream_usage_and_hides_it_from_a_caller_who_did_not(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, fake_url = fake
    s = scenario("openai", "stream")
    set_scenario(state, s)
    direct = call(fake_url, s)
    assert b'"usage"' not in direct.body
    set_scenario(state, s)
    proxied = call(prefixed(proxy.url, s), s)
    assert proxied == direct
    assert state.requests[0]["body"]["stream_options"] == {"include_usage": True}
    header, trace, _ = traceparent()
    call_once(prefixed(proxy.url, s), s, header)
    _, attrs, _ = one_span(capture, trace)
    assert attrs["gen_ai.usage.input_tokens"] == 18
    assert attrs["gen_ai.usage.output_tokens"] == 12


@pytest.mark.parametrize(("provider", "name"), COMPARABLE)
def test_each_call_becomes_one_genai_span_in_the_callers_trace_with_exact_attributes(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture, provider: str, name: str
) -> None:
    state, fake_url = fake
    s = scenario(provider, name)
    set_scenario(state, s)
    header, trace, parent = traceparent()
    started = time.time_ns()
    received = call_once(prefixed(proxy.url, s), s, header)
    resource, attrs, span = one_span(capture, trace)
    assert attrs == expected_attributes(s, fake_url) | ttfc_of(attrs, s), received.status
    assert span.parent_span_id.hex() == parent
    assert span.name == f"{s.operation} {s.request_model}"
    assert span.kind == span.SPAN_KIND_CLIENT
    assert span.status.code == (span.status.STATUS_CODE_ERROR if s.error != "none" else 0)
    assert started <= span.start_time_unix_nano <= span.end_time_unix_nano <= time.time_ns()
    assert resource == {"service.name": "llm-proxy"}
    if s.stream:
        duration = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
        # The fake waits 50 ms before its first event, then 10 ms between events.
        assert 0.05 <= attrs["gen_ai.response.time_to_first_chunk"] < duration


def ttfc_of(attrs: dict[str, Any], s: Scenario) -> dict[str, Any]:
    key = "gen_ai.response.time_to_first_chunk"
    return {key: attrs[key]} if s.stream and key in attrs else {}


def call_once(base: str, s: Scenario, header: str) -> Any:
    """One HTTP call for one span: a stream scenario read raw, since `call` also parses it anew."""
    if not s.stream:
        return call(base, s, headers={"traceparent": header})
    path = "/v1/chat/completions" if s.provider == "openai" else "/v1/messages"
    body: dict[str, Any] = {
        "model": s.request_model,
        "stream": True,
        "messages": [{"role": "user", "content": s.prompt}],
    }
    if s.provider == "anthropic":
        body["max_tokens"] = 256
    headers = {"traceparent": header, "authorization": f"Bearer {API_KEY}", "x-api-key": API_KEY}
    response = httpx.post(base + path, json=body, headers=headers, timeout=10)
    return response


def test_application_team_and_user_come_from_headers_that_never_reach_the_provider(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    s = scenario("anthropic", "chat")
    set_scenario(state, s)
    header, trace, _ = traceparent()
    headers = {
        "traceparent": header,
        "X-Observatory-Application": "legacy-billing",
        "X-Observatory-Team": "finance",
        "X-Observatory-User": "user-77",
    }
    assert call(prefixed(proxy.url, s), s, headers=headers).status == 200
    resource, attrs, _ = one_span(capture, trace)
    assert resource == {"service.name": "legacy-billing", "team": "finance"}
    assert attrs["user.id"] == "user-77"
    sent = {k.lower() for k in state.headers[0]}
    assert not any(k.startswith("x-observatory-") for k in sent), sent
    assert state.headers[0]["X-Api-Key"] == API_KEY  # the caller's key goes to the provider, and only there
    assert state.headers[0]["Traceparent"].split("-")[1] == trace


def test_credentials_appear_in_no_span_and_no_log_line(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    for provider, name in COMPARABLE:
        s = scenario(provider, name)
        set_scenario(state, s)
        call(prefixed(proxy.url, s), s)
    poll_until(lambda: "observatory_proxy_queue_spans 0" in proxy.metrics(), "the proxy's queue empty", 10)
    secret = API_KEY.encode()
    assert capture.raw, "the proxy exported spans"
    assert not [raw for raw in capture.raw if secret in raw or b"SECRET" in raw]
    assert b"SECRET" not in proxy.log.read_bytes()
    assert "SECRET" not in proxy.metrics()


def test_a_provider_slower_than_the_proxys_timeout_is_a_504_and_a_timeout_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    s = scenario("openai", "timeout")
    set_scenario(state, s)
    header, trace, _ = traceparent()
    body = {"model": s.request_model, "messages": [{"role": "user", "content": "hi"}]}
    started = time.monotonic()
    r = httpx.post(
        f"{proxy.url}/openai/v1/chat/completions", json=body, headers={"traceparent": header}, timeout=10
    )
    assert r.status_code == 504
    assert time.monotonic() - started < UPSTREAM_TIMEOUT_SECONDS + 0.5
    failed_span(capture, trace, "timeout", "upstream_timeout")


def test_a_caller_that_gives_up_is_a_cancelled_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    s = scenario("anthropic", "timeout")
    set_scenario(state, s)
    header, trace, _ = traceparent()
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        call(prefixed(proxy.url, s), s, headers={"traceparent": header}, timeout=0.3)
    _, attrs, _ = one_span(capture, trace)
    assert (attrs["error.type"], attrs["llm.error.raw_type"]) == ("cancelled", "client_disconnected")


def test_a_caller_that_leaves_a_stream_early_is_a_cancelled_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    s = replace(scenario("openai", "stream"), completion=" ".join(["word"] * 200))  # 2 s of events
    set_scenario(state, s)
    header, trace, _ = traceparent()
    body = {"model": s.request_model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST",
        f"{proxy.url}/openai/v1/chat/completions",
        json=body,
        headers={"traceparent": header},
        timeout=10,
    ) as r:
        next(r.iter_raw())  # the first event, then hang up
    _, attrs, _ = one_span(capture, trace)
    assert attrs["error.type"] == "cancelled"
    assert attrs["gen_ai.request.stream"] is True


def test_health_readiness_and_metrics_answer(proxy: Proxy) -> None:
    assert requests.get(f"{proxy.url}/healthz", timeout=5).text == "ok\n"
    assert requests.get(f"{proxy.url}/readyz", timeout=5).text == "ready\n"
    text = proxy.metrics()
    for name in (
        "observatory_proxy_requests_total",
        "observatory_proxy_requests_in_flight",
        "observatory_proxy_spans_exported_total",
        "observatory_proxy_spans_dropped_total",
        "observatory_proxy_export_failures_total",
        "observatory_proxy_queue_spans",
        "observatory_proxy_queue_capacity_spans 8192",
    ):
        assert re.search(rf"^{name}", text, re.M), name


def test_a_dead_collector_changes_nothing_a_caller_sees_and_the_drops_are_counted(
    tmp_path: Path, fake: tuple[FakeState, str]
) -> None:
    state, fake_url = fake
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    p = start_proxy(tmp_path, fake_url, dead, "-queue-spans=4", "-export-timeout=200ms")
    try:
        for provider, name in COMPARABLE:
            s = scenario(provider, name)
            set_scenario(state, s)
            direct = call(fake_url, s)
            started = time.monotonic()
            assert call(prefixed(p.url, s), s) == direct, name
            assert time.monotonic() - started < 2, f"{name} was slowed down"
        poll_until(
            lambda: re.search(r"^observatory_proxy_export_failures_total [1-9]", p.metrics(), re.M),
            "a failed export counted",
            10,
        )
        text = p.metrics()
        dropped = int(re.search(r"^observatory_proxy_spans_dropped_total (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        assert dropped > 0
        assert "observatory_proxy_spans_exported_total 0" in text
    finally:
        p.process.stop()
    assert os.path.getsize(p.log) < 100_000


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_the_responses_api_passes_unchanged_and_becomes_a_chat_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture, stream: bool
) -> None:

    state, fake_url = fake
    s = replace(scenario("openai", "chat"), name="responses", usage=Usage(input=30, output=12, reasoning=4))
    set_scenario(state, s)
    header, trace, parent = traceparent()

    def respond(base: str, headers: dict[str, str]) -> tuple[bytes, Any]:
        client = openai_client(base)
        kw: dict[str, Any] = {"model": s.request_model, "input": s.prompt, "extra_headers": headers}
        if stream:
            with client.responses.with_streaming_response.create(stream=True, **kw) as r:
                return b"".join(r.iter_bytes()), r.http_response.headers["content-type"]
        raw = client.responses.with_raw_response.create(**kw)
        return raw.http_response.content, raw.parse().model_dump()

    direct = respond(fake_url, {})
    assert respond(f"{proxy.url}/openai", {"traceparent": header}) == direct
    _, attrs, span = one_span(capture, trace)
    assert span.parent_span_id.hex() == parent
    want = {
        "gen_ai.operation.name": "chat",
        "gen_ai.response.model": s.response_model,
        "gen_ai.response.id": "resp_capture_responses",
        "gen_ai.usage.input_tokens": 30,
        "gen_ai.usage.output_tokens": 12,
        "gen_ai.usage.reasoning.output_tokens": 4,
        "gen_ai.response.finish_reasons": ["completed"],
        "gen_ai.request.stream": stream,
    }
    assert {k: attrs.get(k) for k in want} == want
    assert ("gen_ai.response.time_to_first_chunk" in attrs) == stream


def test_an_error_event_inside_an_anthropic_stream_is_a_failed_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, fake_url = fake
    s = replace(scenario("anthropic", "stream"), name="stream_error", error="stream_error")
    set_scenario(state, s)
    header, trace, _ = traceparent()
    body = {"model": s.request_model, "stream": True, "max_tokens": 64, "messages": []}
    direct = httpx.post(f"{fake_url}/v1/messages", json=body, timeout=10)
    proxied = httpx.post(
        f"{proxy.url}/anthropic/v1/messages", json=body, headers={"traceparent": header}, timeout=10
    )
    assert (proxied.status_code, proxied.content) == (direct.status_code, direct.content)
    assert b"overloaded_error" in proxied.content
    failed_span(capture, trace, "server_error", "overloaded_error")


def test_an_error_object_inside_an_openai_chat_stream_is_a_failed_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    import openai

    state, fake_url = fake
    s = replace(scenario("openai", "stream"), name="stream_error", error="stream_error")
    set_scenario(state, s)
    header, trace, _ = traceparent()

    def stream(base: str, headers: dict[str, str]) -> tuple[bytes, list[Any], Any]:
        client = openai_client(base)
        kw: dict[str, Any] = {"model": s.request_model, "messages": [{"role": "user", "content": s.prompt}]}
        with client.chat.completions.with_streaming_response.create(
            stream=True, extra_headers=headers, **kw
        ) as r:
            body = b"".join(r.iter_bytes())
        chunks: list[Any] = []
        with pytest.raises(openai.APIError) as raised:
            for chunk in client.chat.completions.create(stream=True, **kw):
                chunks.append(chunk.model_dump())
        return body, chunks, raised.value.body

    direct = stream(fake_url, {})
    assert stream(f"{proxy.url}/openai", {"traceparent": header}) == direct
    assert len(direct[1]) == 2, "the client saw two chunks before the error"
    attrs = failed_span(capture, trace, "server_error", "server_error")
    assert attrs["http.response.status_code"] == 200


def test_a_failed_responses_api_stream_is_a_failed_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:

    state, fake_url = fake
    s = replace(scenario("openai", "chat"), name="responses_failed", error="stream_error")
    set_scenario(state, s)
    header, trace, _ = traceparent()

    def stream(base: str, headers: dict[str, str]) -> tuple[bytes, list[Any]]:
        client = openai_client(base)
        kw: dict[str, Any] = {"model": s.request_model, "input": s.prompt}
        with client.responses.with_streaming_response.create(stream=True, extra_headers=headers, **kw) as r:
            body = b"".join(r.iter_bytes())
        return body, [e.model_dump() for e in client.responses.create(stream=True, **kw)]

    direct = stream(fake_url, {})
    assert stream(f"{proxy.url}/openai", {"traceparent": header}) == direct
    assert [e["type"] for e in direct[1]][-2:] == ["error", "response.failed"]
    attrs = failed_span(capture, trace, "rate_limit", "rate_limit_exceeded")
    assert "gen_ai.response.finish_reasons" not in attrs


def test_a_stream_that_goes_quiet_is_cut_after_the_idle_timeout_and_is_a_timeout_span(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, _ = fake
    s = replace(scenario("openai", "stream"), name="stall", error="stall")
    set_scenario(state, s)
    header, trace, _ = traceparent()
    body = {"model": s.request_model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    received = b""
    started = time.monotonic()
    url = f"{proxy.url}/openai/v1/chat/completions"
    with (
        pytest.raises(httpx.RemoteProtocolError),  # the stream ends without its final chunk
        httpx.stream("POST", url, json=body, headers={"traceparent": header}, timeout=10) as r,
    ):
        assert r.status_code == 200
        for part in r.iter_raw():
            received += part
    cut_after = time.monotonic() - started
    assert STREAM_IDLE_TIMEOUT_SECONDS <= cut_after < STREAM_IDLE_TIMEOUT_SECONDS + 0.8, cut_after
    assert received.count(b"data: ") == 2, received  # the two chunks before the pause, and no more
    failed_span(capture, trace, "timeout", "upstream_idle_timeout")


def test_a_caller_accepting_br_and_gzip_reads_the_body_and_the_span_keeps_its_tokens(
    fake: tuple[FakeState, str], proxy: Proxy, capture: OtlpCapture
) -> None:
    state, fake_url = fake
    s = scenario("openai", "chat")
    assert s.usage is not None
    header, trace, _ = traceparent()
    state.gzip = True  # the fake compresses with gzip when offered it
    try:
        set_scenario(state, s)
        direct = call(fake_url, s, headers={"Accept-Encoding": "gzip"})
        set_scenario(state, s)
        proxied = call(prefixed(proxy.url, s), s, headers={"Accept-Encoding": "br, gzip"})
        # The provider is offered only what the proxy can decode, so it never answers in br.
        assert state.headers[0]["Accept-Encoding"] == "gzip"
        assert proxied == direct
        body = {"model": s.request_model, "messages": [{"role": "user", "content": s.prompt}]}
        headers = {"traceparent": header, "Accept-Encoding": "br, gzip"}
        raw = httpx.post(f"{proxy.url}/openai/v1/chat/completions", json=body, headers=headers, timeout=10)
    finally:
        state.gzip = False
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.json()["usage"]["prompt_tokens"] == s.usage.input
    _, attrs, _ = one_span(capture, trace)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (
        s.usage.input,
        s.usage.output,
    )


def test_on_sigterm_an_open_stream_finishes_and_its_span_is_flushed_before_exit(
    tmp_path: Path, fake: tuple[FakeState, str], capture: OtlpCapture
) -> None:
    state, fake_url = fake
    p = start_proxy(tmp_path, fake_url, capture.url, "-export-interval=10s")  # only the exit flushes
    s = replace(scenario("openai", "stream"), completion=" ".join(["word"] * 60))  # about 0.7 s
    set_scenario(state, s)
    header, trace, _ = traceparent()
    body = {"model": s.request_model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    url = f"{p.url}/openai/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers={"traceparent": header}, timeout=10) as r:
        chunks = r.iter_raw()
        received = next(chunks)
        p.process.proc.terminate()  # SIGTERM while the stream is open
        received += b"".join(chunks)
    assert received.endswith(b"data: [DONE]\n\n")
    assert p.process.proc.wait(timeout=10) == 0
    _, attrs, _ = one_span(capture, trace)
    assert "error.type" not in attrs
    assert attrs["gen_ai.usage.output_tokens"] == s.usage.output  # type: ignore[union-attr]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{p.url}/healthz", timeout=2)


def test_calls_beyond_the_limits_get_the_proxys_own_answers_and_are_counted(
    tmp_path: Path, fake: tuple[FakeState, str], capture: OtlpCapture
) -> None:
    state, fake_url = fake
    p = start_proxy(tmp_path, fake_url, capture.url, "-max-concurrent=1", "-max-request-bytes=1000")
    try:
        s = replace(scenario("openai", "stream"), completion=" ".join(["word"] * 60))  # about 0.7 s
        set_scenario(state, s)
        body = {"model": s.request_model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        url = f"{p.url}/openai/v1/chat/completions"
        with httpx.stream("POST", url, json=body, timeout=10) as open_stream:
            chunks = open_stream.iter_raw()  # kept: a dropped iterator closes the response
            next(chunks)  # one call in flight: the limit
            refused = httpx.post(url, json=body, timeout=10)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["type"] == "observatory_proxy_error"
        too_large = httpx.post(url, content=b"{" + b" " * 2000 + b"}", timeout=10)
        assert too_large.status_code == 413
        refused_series = (
            'observatory_proxy_requests_total{provider="openai",operation="",error_type="proxy_limit"}'
        )
        assert f"{refused_series} 1\n" in p.metrics()
    finally:
        p.process.stop()


def test_an_unreachable_provider_is_a_502_and_a_connection_span(tmp_path: Path, capture: OtlpCapture) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    p = start_proxy(tmp_path, nowhere, capture.url)
    try:
        header, trace, _ = traceparent()
        body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []}
        r = httpx.post(
            f"{p.url}/anthropic/v1/messages", json=body, headers={"traceparent": header}, timeout=10
        )
        assert r.status_code == 502
        _, attrs, _ = one_span(capture, trace)
        assert (attrs["error.type"], attrs["llm.error.raw_type"]) == (
            "connection",
            "upstream_connection_error",
        )
        assert "http.response.status_code" not in attrs
    finally:
        p.process.stop()
