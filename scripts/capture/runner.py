"""Runs the capture scenarios for one instrumentation library and keeps the raw OTLP it exports.

Run by scripts/capture_instrumentation.py with the python of a throw-away venv that holds one
library (never the project venv). In this one process: the fake provider (fake_provider.py), an
OTLP/HTTP endpoint on 127.0.0.1 that keeps every request body unparsed, the library configured as
its documentation says, and one call of the real `openai` or `anthropic` client per scenario
(max_retries=0, so one call is one request and one LLM span).

Output, under --out: `<scenario>/traces-NNN.binpb` and `logs-NNN.binpb` (request bodies as sent,
decompressed), `<scenario>/truth.json` (what was sent and what the fake provider answered) and
`run.json` (the library configuration and what each call raised). Standard library only, apart from
the library under test, so it runs in any venv.

Usage: <venv>/bin/python runner.py --config library.json --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import sys
import threading
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fake_provider import FakeState, anthropic_usage, make_provider, openai_usage
from scenarios import (
    EMBEDDING_DIMENSIONS,
    LONG_SYSTEM_PROMPT,
    PII,
    SCENARIOS,
    TIMEOUT_CLIENT_SECONDS,
    TOOL_ARGUMENTS,
    USER_ID_CONTEXT,
    USER_ID_REQUEST,
    Scenario,
)


@dataclass
class Captured:
    """OTLP request bodies received, by signal, for the scenario running now."""

    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[tuple[str, bytes]]:
        with self.lock:
            taken, self.bodies = self.bodies, []
        return taken


def make_collector(captured: Captured) -> ThreadingHTTPServer:
    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            signal = self.path.rstrip("/").rsplit("/", 1)[-1]  # traces, logs or metrics
            with captured.lock:
                captured.bodies.append((signal, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Collector)


def serve(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


# --- library set-up -------------------------------------------------------------------------------


@dataclass
class Library:
    """The part of the capture script's library table the runner needs (see capture_instrumentation.py)."""

    id: str
    provider: str
    setup: str  # which function below configures it
    env: dict[str, str]
    content_default: str  # what the library does with message content when not configured


@dataclass
class Telemetry:
    """What to flush after each scenario and shut down at the end."""

    providers: list[Any] = field(default_factory=list)
    user_context: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None
    user_context_api: str | None = None

    def flush(self) -> None:
        for provider in self.providers:
            provider.force_flush()


def sdk(lib: Library, endpoint: str) -> Telemetry:
    """The OpenTelemetry SDK wired as an application would: OTLP/HTTP protobuf, flushed per record."""
    from opentelemetry import _logs, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": lib.id, "deployment.environment.name": "capture"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{endpoint}/v1/logs")))
    _logs.set_logger_provider(logger_provider)
    return Telemetry(providers=[tracer_provider, logger_provider])


def setup_sdk(lib: Library, endpoint: str) -> Telemetry:
    """No instrumentation library: what a client that traces itself exports on its own."""
    return sdk(lib, endpoint)


def setup_openai_v2(lib: Library, endpoint: str) -> Telemetry:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    telemetry = sdk(lib, endpoint)
    OpenAIInstrumentor().instrument()
    return telemetry


def setup_openllmetry(lib: Library, endpoint: str) -> Telemetry:
    telemetry = sdk(lib, endpoint)
    if lib.provider == "openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    else:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    return telemetry


def setup_openinference(lib: Library, endpoint: str) -> Telemetry:
    from openinference.instrumentation import using_user

    telemetry = sdk(lib, endpoint)
    if lib.provider == "openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    else:
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    telemetry.user_context = using_user
    telemetry.user_context_api = "openinference.instrumentation.using_user"
    return telemetry


def setup_openlit(lib: Library, endpoint: str) -> Telemetry:
    """openlit.init builds its own providers (and resource) from these arguments, as its docs show."""
    import openlit
    from opentelemetry import _logs, trace

    # The HTTP client instrumentations openlit.init turns on would add a span per HTTP request
    # (including the OTLP exports); the corpus is about the LLM spans.
    http = ["requests", "urllib", "urllib3", "httpx", "aiohttp-client"]
    openlit.init(
        otlp_endpoint=endpoint,
        application_name=lib.id,
        environment="capture",
        disable_batch=True,
        disable_metrics=True,
        capture_message_content=True,
        disabled_instrumentors=http,
    )
    return Telemetry(providers=[trace.get_tracer_provider(), _logs.get_logger_provider()])


def setup_traceloop(lib: Library, endpoint: str) -> Telemetry:
    """Traceloop.init builds its own providers; association properties are its user-id API."""
    from opentelemetry import trace
    from traceloop.sdk import Traceloop
    from traceloop.sdk.instruments import Instruments

    instruments = {Instruments.OPENAI if lib.provider == "openai" else Instruments.ANTHROPIC}
    if lib.id.startswith("langchain"):
        instruments.add(Instruments.LANGCHAIN)
    Traceloop.init(
        app_name=lib.id,
        api_endpoint=endpoint,
        disable_batch=True,
        telemetry_enabled=False,
        resource_attributes={"deployment.environment.name": "capture"},
        instruments=instruments,
    )

    @contextlib.contextmanager
    def association(user: str) -> Iterator[None]:
        Traceloop.set_association_properties({"user_id": user})
        yield

    return Telemetry(
        providers=[trace.get_tracer_provider()],
        user_context=association,
        user_context_api='traceloop.sdk.Traceloop.set_association_properties({"user_id": ...})',
    )


SETUPS: dict[str, Callable[[Library, str], Telemetry]] = {
    "sdk": setup_sdk,
    "openai_v2": setup_openai_v2,
    "openllmetry": setup_openllmetry,
    "openinference": setup_openinference,
    "openlit": setup_openlit,
    "traceloop": setup_traceloop,
}


# --- the calls --------------------------------------------------------------------------------------

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": WEATHER_TOOL_OPENAI["function"]["parameters"],  # type: ignore[index]
}


def call_openai(s: Scenario, base_url: str, langchain: bool) -> None:
    import openai

    timeout = TIMEOUT_CLIENT_SECONDS if s.error == "timeout" else 30.0
    if langchain:
        call_langchain(s, base_url, timeout)
        return
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-capture", max_retries=0, timeout=timeout)
    if s.operation == "embeddings":
        client.embeddings.create(model=s.request_model, input=[s.prompt], dimensions=EMBEDDING_DIMENSIONS)
        return
    messages = [{"role": "system", "content": s.system}, {"role": "user", "content": s.prompt}]
    kw: dict[str, Any] = {"model": s.request_model, "messages": messages}
    if s.tools:
        kw["tools"] = [WEATHER_TOOL_OPENAI]
    if s.user_ids:
        kw["user"] = USER_ID_REQUEST
    if s.request_model.startswith("o"):
        kw["reasoning_effort"] = "low"
    else:
        kw |= {"temperature": 0.2, "max_tokens": 256}
    if s.stream:
        for _chunk in client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **kw
        ):
            pass
    else:
        client.chat.completions.create(**kw)


def call_langchain(s: Scenario, base_url: str, timeout: float) -> None:
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    common: dict[str, Any] = {"base_url": f"{base_url}/v1", "api_key": "sk-capture", "max_retries": 0}
    if s.operation == "embeddings":
        embedder = OpenAIEmbeddings(  # no tiktoken: it would download its encodings
            model=s.request_model,
            dimensions=EMBEDDING_DIMENSIONS,
            timeout=timeout,
            check_embedding_ctx_length=False,
            **common,
        )
        embedder.embed_documents([s.prompt])
        return
    kw: dict[str, Any] = {"model": s.request_model, "timeout": timeout, **common}
    if s.request_model.startswith("o"):
        kw["reasoning_effort"] = "low"
    else:
        kw |= {"temperature": 0.2, "max_tokens": 256}
    if s.user_ids:
        kw["model_kwargs"] = {"user": USER_ID_REQUEST}
    if s.stream:
        kw |= {"streaming": True, "stream_usage": True}
    llm: Any = ChatOpenAI(**kw)
    if s.tools:
        llm = llm.bind_tools([WEATHER_TOOL_OPENAI])
    messages = [("system", s.system), ("human", s.prompt)]
    if s.stream:
        for _chunk in llm.stream(messages):
            pass
    else:
        llm.invoke(messages)


def call_anthropic(s: Scenario, base_url: str) -> None:
    import anthropic

    timeout = TIMEOUT_CLIENT_SECONDS if s.error == "timeout" else 30.0
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-capture", max_retries=0, timeout=timeout)
    system: Any = s.system
    if s.system is LONG_SYSTEM_PROMPT:
        system = [{"type": "text", "text": s.system, "cache_control": {"type": "ephemeral"}}]
    kw: dict[str, Any] = {
        "model": s.request_model,
        "max_tokens": 256,  # anthropic 2.x no longer takes temperature, so it is not sent
        "system": system,
        "messages": [{"role": "user", "content": s.prompt}],
    }
    if s.tools:
        kw["tools"] = [WEATHER_TOOL_ANTHROPIC]
    if s.user_ids:
        kw["metadata"] = {"user_id": USER_ID_REQUEST}
    if s.stream:
        for _event in client.messages.create(stream=True, **kw):
            pass
    else:
        client.messages.create(**kw)


def run_scenario(lib: Library, telemetry: Telemetry, s: Scenario, base_url: str) -> str | None:
    """Makes the call; returns the exception it raised as `module.Class`, or None."""
    context: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if s.user_ids and telemetry.user_context is not None:
        context = telemetry.user_context(USER_ID_CONTEXT)
    try:
        with context:
            if s.provider == "openai":
                call_openai(s, base_url, langchain=lib.id.startswith("langchain"))
            else:
                call_anthropic(s, base_url)
    except Exception as exc:
        if s.error == "none":
            traceback.print_exc()
        return f"{type(exc).__module__}.{type(exc).__qualname__}"
    finally:
        if s.user_ids and lib.setup == "traceloop":
            from traceloop.sdk import Traceloop

            Traceloop.set_association_properties({})  # association properties outlive the call
    return None


def truth(lib: Library, telemetry: Telemetry, s: Scenario, raised: str | None, asked: list[Any]) -> Any:
    """The ground truth of one scenario: what was sent and what the fake provider answered."""
    seeded = {"system": s.system, "prompt": s.prompt, "completion": s.completion if s.usage else None}
    if s.tools:
        seeded["tool_arguments"] = TOOL_ARGUMENTS
    if s.operation == "embeddings":
        seeded = {"embedding_input": s.prompt}
    return {
        "library": lib.id,
        "scenario": s.name,
        "requests": [
            {
                "provider": s.provider,
                "operation": s.operation,
                "request_model": s.request_model,
                "response_model": s.response_model,
                "streamed": s.stream,
                "usage": asdict(s.usage) if s.usage else None,
                "provider_usage": _provider_usage(s),
                "finish_reasons": [s.finish_reason] if s.finish_reason else [],
                "error": s.error,
                "http_status": s.http_status,
                "client_exception": raised,
                "user_id_request": USER_ID_REQUEST if s.user_ids else None,
                "user_id_context": USER_ID_CONTEXT if s.user_ids and telemetry.user_context else None,
                "user_id_context_api": telemetry.user_context_api if s.user_ids else None,
                "content_seeded": {k: v for k, v in seeded.items() if v},
                "pii_seeded": sorted(PII.values()) if s.pii else [],
                "request_sent": [_request_summary(r) for r in asked],
            }
        ],
    }


def _provider_usage(s: Scenario) -> Any:
    if s.usage is None:
        return None
    if s.provider == "anthropic":
        return anthropic_usage(s.usage)
    if s.operation == "embeddings":
        return {"prompt_tokens": s.usage.input, "total_tokens": s.usage.input}
    return openai_usage(s.usage)


def _request_summary(request: dict[str, Any]) -> dict[str, Any]:
    """What the client put on the wire, without the messages (an instrumentation may change it)."""
    body = request["body"]
    keys = ("model", "stream", "stream_options", "user", "metadata", "encoding_format", "dimensions")
    return {"path": request["path"]} | {k: body[k] for k in keys if k in body}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lib = Library(**json.loads(args.config.read_text()))

    captured = Captured()
    collector = make_collector(captured)
    endpoint = serve(collector)
    state = FakeState()
    base_url = serve(make_provider(state))
    # The anthropic SDK warns that the scenario's model is deprecated; true, and not what is captured.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.update(lib.env)  # read by some libraries at import time, so before the set-up
    telemetry = SETUPS[lib.setup](lib, endpoint)
    captured.take()  # anything exported during set-up belongs to no scenario

    run: dict[str, Any] = {"library": asdict(lib), "scenarios": {}}
    failed: list[str] = []
    for s in SCENARIOS[lib.provider]:
        state.scenario, state.requests = s, []
        raised = run_scenario(lib, telemetry, s, base_url)
        telemetry.flush()
        time.sleep(0.2)  # exports are synchronous; this covers any library that hands off to a thread
        folder = args.out / s.name
        folder.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        for signal, body in captured.take():
            counts[signal] = counts.get(signal, 0) + 1
            (folder / f"{signal}-{counts[signal]:03d}.binpb").write_bytes(body)
        (folder / "truth.json").write_text(
            json.dumps(truth(lib, telemetry, s, raised, state.requests), indent=2, sort_keys=True) + "\n"
        )
        run["scenarios"][s.name] = {"raised": raised, "bodies": counts}
        print(f"{lib.id} {s.name}: raised={raised} bodies={counts}", flush=True)
        if raised and s.error == "none":
            failed.append(s.name)
    (args.out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    for provider in telemetry.providers:
        with contextlib.suppress(Exception):
            provider.shutdown()
    if failed:
        print(f"{lib.id}: calls that should have succeeded raised: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
