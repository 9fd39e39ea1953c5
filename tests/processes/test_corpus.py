"""Real instrumentation in, right numbers out: every captured library's spans through the real pipeline.

`tests/corpus/` holds what real GenAI instrumentation libraries exported while driving the real
`openai` and `anthropic` clients against a fake provider whose answers are the ground truth
(`truth.json` per scenario; `scripts/capture_instrumentation.py` re-captures). Here every file goes
through the built collector with the rendered config, into the real ingester and PostgreSQL and a
real Prometheus, with Tempo's and Loki's addresses captured. Each LLM request must become exactly one
row holding what the provider said, priced independently from the price table, its error in the
vocabulary, its user hashed; no seeded PII or message content reaches any exporter.

What a library does not emit at all (say, no cached-token count) is a cell of `tests/corpus/support.yaml`,
which the README's compatibility table shows; the test holds every cell to the capture, both ways.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory import names
from observatory.ingest import server
from observatory.pricing import Usage, cost_usd, find_price, priced_model
from observatory.render.collector import config
from observatory.spec import load
from observatory.spec.types import Spec
from tests.conftest import (
    REPO,
    ManagedProcess,
    collector_binary,
    free_port,
    loopback_collector,
    poll_until,
    start_prometheus,
)
from tests.otlp_capture import OtlpCapture

CORPUS = REPO / "tests" / "corpus"
SUPPORT = yaml.safe_load((CORPUS / "support.yaml").read_text())
HASH_KEY = "corpus-test-hash-key"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
ROW_FIELDS = (
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "finish_reason",
    "ttft_ms",
    "user_id",
)


@dataclass(frozen=True)
class Scenario:
    library: str
    name: str
    path: Path
    truth: dict[str, Any]

    @property
    def trace_ids(self) -> set[str]:
        request = ExportTraceServiceRequest()
        request.ParseFromString((self.path / "traces.binpb").read_bytes())
        return {s.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def _scenarios() -> list[Scenario]:
    out = []
    for truth_path in sorted(CORPUS.glob("*/*/truth.json")):
        truth = json.loads(truth_path.read_text())
        out.append(Scenario(truth_path.parent.parent.name, truth_path.parent.name, truth_path.parent, truth))
    return out


SCENARIOS = _scenarios()


def counted(library: str, request: dict[str, Any] | None = None) -> bool:
    """Whether the library's span of `request` is a request at all (support.yaml says why when not)."""
    entry = SUPPORT["libraries"][library]
    failed = request is not None and request["error"] != "none"
    return "not_counted" not in entry and not (failed and "failed_calls_not_counted" in entry)


def emits(library: str, field: str, scenario: str | None = None) -> bool:
    """Whether `library` emits `field` (in `scenario`); support.yaml lists what it does not."""
    entry = SUPPORT["libraries"][library]
    own = entry.get("scenarios", {}).get(scenario, {}) if scenario else {}
    return field not in entry.get("missing", []) and field not in own.get("missing", [])


def inexact(library: str, field: str, scenario: str) -> bool:
    """Whether `library` reports a value of its own for `field` in `scenario`, not the provider's."""
    return field in SUPPORT["libraries"][library].get("scenarios", {}).get(scenario, {}).get("inexact", [])


def _corpus_age_days() -> int:
    """Whole days since the earliest span of the corpus started, plus one."""
    earliest = min(
        span.start_time_unix_nano
        for scenario in SCENARIOS
        for rs in ExportTraceServiceRequest.FromString(
            (scenario.path / "traces.binpb").read_bytes()
        ).resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    )
    return (time.time_ns() - earliest) // (86_400 * 10**9) + 1


@dataclass
class Pipeline:
    spec: Spec
    dsn: str
    prometheus: str
    tempo: OtlpCapture
    loki: OtlpCapture


def _spec(tmp: Path) -> Spec:
    """The repository's spec on the postgres engine, every trace sampled (so Tempo's copy is checked for
    PII too), and a short decision wait."""
    data = yaml.safe_load((REPO / "observatory.yaml").read_text())
    data["storage"] = {"engine": "postgres"}
    data["sampling"] = {"baseline_ratio": 1.0, "decision_wait_seconds": 2}
    path = tmp / "observatory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load(path)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[Pipeline]:
    collector_binary()  # skip early, before anything starts, when it is not built
    tmp = tmp_path_factory.mktemp("corpus")
    spec = _spec(tmp)
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "corpus"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/corpus"
    ingest_port = free_port()
    ingester = ManagedProcess(
        server.command(
            Path(spec.source),
            f"127.0.0.1:{ingest_port}",
            # The corpus is replayed at the times it was captured, and the ingester refuses rows
            # older than the raw rows' retention (30 days here): without this, the test would start
            # failing a month after each capture. No maintenance: it would drop those days' rows.
            f"--max-age-days={_corpus_age_days()}",
            "--maintain-interval-seconds=0",
        ),
        tmp / "ingester.log",
        {"OBSERVATORY_DATABASE_URL": dsn},
    )
    prometheus, prom_url = start_prometheus(tmp)
    tempo, loki = OtlpCapture(), OtlpCapture()
    collector, health, otlp_http = loopback_collector(
        tmp,
        config(spec),
        prometheus_url=prom_url,
        ingester_url=f"http://127.0.0.1:{ingest_port}",
        tempo_url=tempo.url,
        loki_url=loki.url,
        hash_key=HASH_KEY,
    )
    try:
        ingester.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=2).ok, "ingester"
        )
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        send = requests.Session()
        for scenario in SCENARIOS:
            for signal in ("traces", "logs"):
                body = scenario.path / f"{signal}.binpb"
                if body.exists():
                    response = send.post(
                        f"http://127.0.0.1:{otlp_http}/v1/{signal}",
                        data=body.read_bytes(),
                        headers=PROTOBUF,
                        timeout=10,
                    )
                    assert response.status_code == 200, (scenario.path, response.text)
        expected = sum(1 for s in SCENARIOS for r in s.truth["requests"] if counted(s.library, r))
        # Wait for every expected row, or for the count to stop moving: then each scenario's test says
        # which requests are missing or extra.
        seen: list[int] = []

        def settled() -> bool:
            with psycopg.connect(dsn) as conn:
                (n,) = conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone() or (0,)
            seen.append(n)
            return n >= expected or (len(seen) > 20 and n > 0 and seen[-20] == n)

        poll_until(settled, f"{expected} rows, one per request of the corpus", 120, 0.5)
        time.sleep(3)  # the tail sampler's decision wait: traces reach Tempo's address after it
        yield Pipeline(spec, dsn, prom_url, tempo, loki)
    finally:
        collector.stop()
        ingester.stop()
        prometheus.stop()
        tempo.close()
        loki.close()


def _rows(pipeline: Pipeline, scenario: Scenario) -> list[dict[str, Any]]:
    with psycopg.connect(pipeline.dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            f"SELECT * FROM {names.TABLE_REQUESTS}"
            " WHERE application = %s AND trace_id = ANY(%s) ORDER BY time",
            (scenario.library, sorted(scenario.trace_ids)),
        )
        return list(cur)


def _truth_fields(request: dict[str, Any]) -> dict[str, Any]:
    """What the provider said, per row field; None where a failed call had nothing to say."""
    if request["error"] != "none":
        return dict.fromkeys(ROW_FIELDS, None) | {"user_id": _user(request)}
    usage = request["usage"]
    return {
        "response_model": request["response_model"],
        "input_tokens": usage["input"],
        "output_tokens": usage["output"] if request["operation"] != "embeddings" else None,
        "cache_read_tokens": usage["cache_read"],
        "cache_write_tokens": usage["cache_write"],
        "reasoning_tokens": usage["reasoning"],
        "finish_reason": (request.get("finish_reasons") or [None])[0],
        "ttft_ms": True if request["streamed"] else None,  # a duration: only whether there is one
        "user_id": _user(request),
    }


def _user(request: dict[str, Any]) -> frozenset[str] | None:
    """The hashes a row may hold: the user given with the request or in the library's context API
    (a library reads one of them)."""
    given = [request.get("user_id_request"), request.get("user_id_context")]
    hashes = frozenset(hashlib.sha256(f"{HASH_KEY}:{g}".encode()).hexdigest() for g in given if g)
    return hashes or None


def _field_problem(library: str, scenario: str, field: str, got: Any, true: Any, failed: bool) -> str | None:
    """Why `got` is not what the row should hold for `field`, or None when it is."""
    if not emits(library, field, scenario):
        return None if got is None else f"support.yaml says {library} does not emit it, got {got!r}"
    if inexact(library, field, scenario):
        return None if (got is None) == (true is None) else f"got {got!r}, want a value like {true!r}"
    if failed and field != "user_id":
        # Nothing came back; some libraries still repeat the request model as the response model.
        return None if field == "response_model" or got is None else f"a failed call, got {got!r}"
    if field == "user_id" and got is None:
        return None if true is None else f"got None, want one of {sorted(true)}"
    if field == "ttft_ms":
        return None if (got is not None) == bool(true) else f"streamed={bool(true)}, got {got!r}"
    if field == "finish_reason":  # each library spells reasons its own way: present or not
        return None if (got is None) == (true is None) else f"got {got!r}, the provider said {true!r}"
    if not true:  # a zero count a library may leave out
        return None if got in (None, true) else f"got {got!r}, want {true!r}"
    if isinstance(true, frozenset):
        return None if got in true else f"got {got!r}, want one of {sorted(true)}"
    return None if got == true else f"got {got!r}, want {true!r}"


def _price(
    spec: Spec, library: str, request: dict[str, Any], row: dict[str, Any]
) -> tuple[float | None, bool]:
    """(cost, unpriced) computed apart from the collector: the price table and the tokens the row holds,
    which the previous checks held to the truth."""
    if request["error"] != "none":
        return 0.0, False
    usage = Usage(
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        cache_read_tokens=row["cache_read_tokens"] or 0,
        cache_write_tokens=row["cache_write_tokens"] or 0,
    )
    model = priced_model(request["request_model"], row["response_model"])
    price = find_price(spec.models, request["provider"], model, row["time"].date())
    return (None, True) if price is None else (cost_usd(price, usage), False)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{s.library}/{s.name}" for s in SCENARIOS])
def test_each_request_is_one_row_holding_what_the_provider_said(
    scenario: Scenario, pipeline: Pipeline
) -> None:
    rows = _rows(pipeline, scenario)
    truths = [r for r in scenario.truth["requests"] if counted(scenario.library, r)]
    assert len(rows) == len(truths), f"{len(rows)} rows for {len(truths)} requests"
    for row, request in zip(rows, truths, strict=True):
        failed = request["error"] != "none"
        problems = {}
        for key in ("provider", "operation", "request_model"):
            if row[key] != request[key]:
                problems[key] = f"got {row[key]!r}, want {request[key]!r}"
        if (row["status"] == "error") != failed or row["error_type"] != (
            request["error"] if failed else None
        ):
            problems["error"] = f"got {row['status']} {row['error_type']!r}, want {request['error']}"
        if failed and not row["error_type_raw"]:
            problems["error_type_raw"] = "the library's own error type is not kept"
        for field, true in _truth_fields(request).items():
            if problem := _field_problem(scenario.library, scenario.name, field, row[field], true, failed):
                problems[field] = problem
        cost, unpriced = _price(pipeline.spec, scenario.library, request, row)
        if row["unpriced"] != unpriced or (cost is None) != (row["cost_usd"] is None):
            problems["cost"] = f"got {row['cost_usd']!r} unpriced={row['unpriced']}, want {cost!r}"
        elif cost is not None and not math.isclose(row["cost_usd"], cost, rel_tol=0, abs_tol=1e-9):
            problems["cost"] = f"got {row['cost_usd']!r}, want {cost!r}"
        if row["ttft_ms"] is not None and not 0 < row["ttft_ms"] <= row["duration_ms"]:
            problems["ttft_ms"] = f"{row['ttft_ms']} ms for a call of {row['duration_ms']} ms"
        assert not problems, problems


def test_what_support_yaml_says_each_library_emits_is_seen_in_the_capture(pipeline: Pipeline) -> None:
    """Every field the table says a library emits has a witness: a row holding a non-zero value the
    provider sent (fields the provider never sent a non-zero value for are not applicable)."""
    unproven = []
    for library in sorted({s.library for s in SCENARIOS if counted(s.library)}):
        witnessed, applicable = set(), set()
        for scenario in (s for s in SCENARIOS if s.library == library):
            requests_ = [r for r in scenario.truth["requests"] if counted(library, r)]
            for row, request in zip(_rows(pipeline, scenario), requests_, strict=False):
                failed = request["error"] != "none"
                for field, true in _truth_fields(request).items():
                    if true:
                        applicable.add(field)
                        problem = _field_problem(library, scenario.name, field, row[field], true, failed)
                        if row[field] is not None and problem is None:
                            witnessed.add(field)
        for field in sorted(applicable - witnessed):
            if emits(library, field):
                unproven.append(f"{library}: {field}")
    assert not unproven, f"support.yaml says these are emitted, but no row shows one: {unproven}"


def _prom(pipeline: Pipeline, query: str) -> dict[tuple[str, ...], float]:
    result = requests.get(f"{pipeline.prometheus}/api/v1/query", params={"query": query}, timeout=5).json()
    return {tuple(r["metric"].values()): float(r["value"][1]) for r in result["data"]["result"]}


def test_prometheus_counts_every_request_per_application_and_model(pipeline: Pipeline) -> None:
    want: Counter[tuple[str, ...]] = Counter()
    for scenario in SCENARIOS:
        for request in (r for r in scenario.truth["requests"] if counted(scenario.library, r)):
            want[(scenario.library, request["request_model"])] += 1
    query = f"sum by (application, model) ({names.METRIC_REQUESTS})"
    poll_until(
        lambda: _prom(pipeline, query) == {k: float(v) for k, v in want.items()},
        "requests per library and model",
        60,
    )


def test_no_seeded_pii_or_content_reaches_any_exporter(pipeline: Pipeline) -> None:
    seeded = {
        text
        for scenario in SCENARIOS
        for request in scenario.truth["requests"]
        for text in (*request.get("pii_seeded", []), *request.get("content_seeded", {}).values())
        if text
    }
    assert seeded, "the corpus seeds PII and content"
    exported = b"".join(raw for capture in (pipeline.tempo, pipeline.loki) for raw in capture.raw)
    assert pipeline.tempo.raw and pipeline.loki.raw, "traces and logs reached Tempo's and Loki's addresses"
    with psycopg.connect(pipeline.dsn) as conn:
        rows = conn.execute(f"SELECT row_to_json(r)::text FROM {names.TABLE_REQUESTS} r").fetchall()
    stored = "\n".join(r[0] for r in rows)
    series = requests.get(
        f"{pipeline.prometheus}/api/v1/series", params={"match[]": '{__name__=~"llm_.+"}'}, timeout=5
    ).text
    leaks = {}
    for text in sorted(seeded):
        where = [
            name
            for name, haystack in (
                ("tempo/loki", exported),
                ("rows", stored.encode()),
                ("prometheus", series.encode()),
            )
            if text.encode() in haystack
        ]
        if where:
            leaks[text] = where
    assert not leaks, f"seeded text reached exporters: {leaks}"


def test_every_library_and_scenario_is_in_the_support_table() -> None:
    assert set(SUPPORT["libraries"]) == {s.library for s in SCENARIOS}
    unknown = {
        field
        for lib in SUPPORT["libraries"].values()
        for field in lib.get("missing", [])
        if field not in ROW_FIELDS
    }
    assert not unknown, unknown


def test_every_truth_file_names_the_library_and_scenario_of_its_folder() -> None:
    for scenario in SCENARIOS:
        assert (scenario.truth["library"], scenario.truth["scenario"]) == (scenario.library, scenario.name)
