"""`observatory demo`: synthetic LLM traffic sent to a running stack's OTLP/HTTP endpoint, with the
ground truth it must add up to written as a manifest.

The traffic is generated and serialized before the first request, so the send loop only posts bytes:
what it measures is the stack, not the generator. Requests refused with 503 (or 429, 502, 504) and
connection errors are retried with exponential backoff, honouring Retry-After.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

from observatory.spec.types import Spec
from observatory.traffic import Traffic, Truth, Workload, generate

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_SECONDS = 5.0


class DemoError(RuntimeError):
    """The endpoint refused the traffic for good, or never answered."""


@dataclass(frozen=True)
class Options:
    endpoint: str = DEFAULT_ENDPOINT
    traces: int = 1000
    rate: float | None = None  # traces per second; None sends as fast as the endpoint takes them
    seed: int = 7
    logs: bool = True  # the local stack has no logs pipeline (Loki needs Docker)
    max_attempts: int = 8
    timeout_seconds: float = 10.0


@dataclass
class Report:
    traces: int
    spans: int
    log_records: int
    requests: int
    retries: int
    generate_seconds: float
    encode_seconds: float
    send_seconds: float

    @property
    def spans_per_second(self) -> float:
        return self.spans / self.send_seconds if self.send_seconds else 0.0

    def summary(self) -> str:
        return (
            f"sent {self.traces} traces ({self.spans} spans, {self.log_records} log records) in "
            f"{self.requests} requests, {self.retries} retries: {self.spans_per_second:,.0f} spans/s "
            f"({self.send_seconds:.2f}s sending; generated in {self.generate_seconds:.2f}s, "
            f"encoded in {self.encode_seconds:.2f}s)"
        )


@dataclass(frozen=True)
class Payload:
    path: str  # /v1/traces or /v1/logs
    body: bytes
    traces: int  # application traces whose spans it carries (approximate for split batches)
    spans: int
    log_records: int


def manifest(truth: Truth, workload: Workload, spans: int) -> dict[str, Any]:
    """The ground truth as JSON-ready data: totals per application and model, ids, dialect counts."""
    per: dict[str, dict[str, dict[str, Any]]] = {}
    for app, model in sorted(truth.requests):
        key = (app, model)
        per.setdefault(app, {})[model] = {
            "requests": truth.requests[key],
            "input_tokens": truth.input_tokens[key],
            "output_tokens": truth.output_tokens[key],
            "cache_read_tokens": truth.cache_read_tokens[key],
            "cache_write_tokens": truth.cache_write_tokens[key],
            "cost_usd": round(truth.cost_usd.get(key, 0.0), 12),
            "unpriced_requests": truth.unpriced_requests[key],
        }
    return {
        "seed": workload.seed,
        "traces": workload.traces,
        "spans": spans,
        "applications": per,
        "totals": {
            "requests": sum(truth.requests.values()),
            "input_tokens": sum(truth.input_tokens.values()),
            "output_tokens": sum(truth.output_tokens.values()),
            "cost_usd": round(sum(truth.cost_usd.values()), 12),
            "unpriced_requests": sum(truth.unpriced_requests.values()),
        },
        "error_trace_ids": sorted(truth.error_traces),
        "slow_trace_ids": sorted(truth.slow_traces),
        "dialect_spans": dict(sorted(truth.dialect_spans.items())),
    }


def prepare(
    spec: Spec, options: Options, start_unix_nano: int
) -> tuple[Traffic, list[Payload], float, float]:
    """The traffic, its requests serialized once, and the seconds generating and encoding took."""
    batch = max(1, min(100, int(options.rate))) if options.rate else 100  # ~1 request/s when paced
    began = time.perf_counter()
    workload = Workload(seed=options.seed, traces=options.traces, start_unix_nano=start_unix_nano)
    traffic = generate(spec, workload, batch_traces=batch)
    generated = time.perf_counter()
    total_spans = 0
    payloads = []
    for request in traffic.traces:
        n = sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
        total_spans += n
        payloads.append(Payload("/v1/traces", request.SerializeToString(), 0, n, 0))
    # Spans per trace are alike across batches: share the traces out in proportion to spans.
    payloads = [
        Payload(p.path, p.body, round(options.traces * p.spans / max(total_spans, 1)), p.spans, 0)
        for p in payloads
    ]
    if options.logs:
        for logs in traffic.logs:
            n = sum(len(s.log_records) for rl in logs.resource_logs for s in rl.scope_logs)
            payloads.append(Payload("/v1/logs", logs.SerializeToString(), 0, 0, n))
    return traffic, payloads, generated - began, time.perf_counter() - generated


class Progress:
    """Spans sent so far on `stream`: one line rewritten in place on a terminal, else a line per 10%."""

    def __init__(self, stream: TextIO | None, total_spans: int) -> None:
        self.stream, self.total = stream, max(total_spans, 1)
        self.tty = bool(stream and stream.isatty())
        self.started = time.perf_counter()
        self.last_decile = -1
        self.last_draw = 0.0

    def update(self, spans: int, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        pct = 100 * spans / self.total
        rate = spans / max(now - self.started, 1e-9)
        line = f"demo: {spans}/{self.total} spans ({pct:3.0f}%), {rate:,.0f} spans/s"
        if self.tty:
            if final or now - self.last_draw >= 0.1:
                self.stream.write(f"\r{line}\x1b[K" + ("\n" if final else ""))
                self.stream.flush()
                self.last_draw = now
        elif int(pct // 10) > self.last_decile:
            self.last_decile = int(pct // 10)
            self.stream.write(line + "\n")
            self.stream.flush()


def _post(session: requests.Session, url: str, body: bytes, options: Options) -> int:
    """POST until accepted; returns the retries it took. Raises DemoError on a final refusal."""
    why = ""
    for attempt in range(options.max_attempts):
        delay = min(0.1 * 2**attempt, MAX_BACKOFF_SECONDS)
        try:
            response = session.post(
                url,
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=options.timeout_seconds,
            )
        except (requests.ConnectionError, requests.Timeout) as err:
            why = f"{type(err).__name__}: {err}"
        else:
            if response.status_code == 200:
                return attempt
            why = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in RETRY_STATUSES:
                hint = (
                    " (no pipeline takes this signal there; --no-logs skips logs)"
                    if url.endswith("/v1/logs") and response.status_code == 404
                    else ""
                )
                raise DemoError(f"{url} refused the request: {why}{hint}")
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), MAX_BACKOFF_SECONDS)
        time.sleep(delay)
    raise DemoError(f"{url}: gave up after {options.max_attempts} attempts; last: {why}")


def send(
    spec: Spec, options: Options, progress: TextIO | None = sys.stderr, start_unix_nano: int | None = None
) -> tuple[Traffic, Report]:
    """Generate the traffic of `options`, send it, and return it with what the sending took."""
    # Span times end a minute before now, so every span is complete and in the past when it lands.
    start = start_unix_nano or time.time_ns() - options.traces * 2_000_000 - 60 * 10**9
    traffic, payloads, gen_s, enc_s = prepare(spec, options, start)
    total_spans = sum(p.spans for p in payloads)
    meter = Progress(progress, total_spans)
    endpoint = options.endpoint.rstrip("/")
    retries = sent_spans = sent_traces = 0
    began = time.perf_counter()
    with requests.Session() as session:
        for payload in payloads:
            if options.rate and payload.traces:
                # Paced: this batch leaves when the traces before it have had their share of time.
                time.sleep(max(0.0, began + sent_traces / options.rate - time.perf_counter()))
            retries += _post(session, endpoint + payload.path, payload.body, options)
            sent_spans += payload.spans
            sent_traces += payload.traces
            meter.update(sent_spans)
    seconds = time.perf_counter() - began
    meter.update(sent_spans, final=True)
    report = Report(
        options.traces,
        total_spans,
        sum(p.log_records for p in payloads),
        len(payloads),
        retries,
        gen_s,
        enc_s,
        seconds,
    )
    return traffic, report


def write_manifest(path: Path, traffic: Traffic, options: Options, report: Report) -> None:
    workload = Workload(seed=options.seed, traces=options.traces)
    data = manifest(traffic.truth, workload, report.spans)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def target(endpoint: str | None, logs: bool, state_dir: Path) -> tuple[str, bool, str]:
    """Where to send: the given endpoint, else the running local stack's, else the default.

    Returns (endpoint, whether to send logs, a note saying which was chosen).
    """
    if endpoint:
        return endpoint, logs, f"sending to {endpoint}"
    from observatory.local import stack

    state = stack.running_state(state_dir)
    if state is not None:
        url = str(state["urls"]["otlp_http"])
        return url, False, f"sending to the local stack at {url} (traces only: it has no logs pipeline)"
    return DEFAULT_ENDPOINT, logs, f"sending to {DEFAULT_ENDPOINT}"
