"""One price-matching rule in three forms, each held to one hand-written table of cases: the Python
reference (`pricing.find_price`), its SQL (`sql/prices.py`, run on a real PostgreSQL, and the
cost dashboard's cache-savings panel built from it) and the collector's OTTL (run in the real
collector built from the rendered manifest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from observatory import names
from observatory.otlp import key_values, spans
from observatory.pricing import find_price, priced_model
from observatory.render.collector import config
from observatory.render.dashboards import cost
from observatory.render.dashboards.panels import Sql
from observatory.spec import parse
from observatory.spec.types import ModelPrice, Spec
from observatory.sql import prices
from observatory.storage.migrate import migrate
from tests.collector_stages import stages_config
from tests.conftest import ManagedProcess, collector_binary, free_port, poll_until
from tests.grafana_sql import expand
from tests.otlp_capture import OtlpCapture


def _price(
    provider: str,
    effective_from: str,
    input_usd: float,
    cache_read_usd: float | None,
    model: str | None = None,
    pattern: str | None = None,
) -> ModelPrice:
    return ModelPrice(
        provider=provider,
        model=model,
        model_pattern=pattern,
        input_usd_per_million_tokens=input_usd,
        output_usd_per_million_tokens=input_usd * 4,
        cache_read_usd_per_million_tokens=cache_read_usd,
        cache_write_usd_per_million_tokens=None,
        effective_from=date.fromisoformat(effective_from),
    )


# Every row has its own input price, so the cost of a million uncached input tokens names the row.
ROWS = (
    _price("openai", "2024-01-01", 1.0, 0.5, model="gpt-4o"),
    _price("openai", "2024-10-01", 2.0, 0.5, model="gpt-4o"),
    _price("openai", "2024-01-01", 3.0, None, model="gpt-4o-mini"),
    _price("openai", "2024-01-01", 4.0, 1.0, model="gpt-4.1"),
    _price("anthropic", "2024-01-01", 5.0, 0.25, pattern="^claude-sonnet-4"),
    _price("openai", "2024-01-01", 6.0, 3.0, pattern="^o[0-9]"),
    _price("openai", "2024-01-01", 7.0, 0.5, model="o3"),  # same date as the pattern above, listed later
    _price("openai", "2024-06-15", 8.0, 2.0, model="gpt-4.1"),  # a change in the middle of a month
)


@dataclass(frozen=True)
class Case:
    name: str
    provider: str | None
    request_model: str
    response_model: str | None
    day: date
    row: int | None  # the index in ROWS of the row that prices the request; None: unpriced


JUNE = date(2024, 6, 1)
CASES = (
    Case("exact model", "openai", "gpt-4o", None, JUNE, 0),
    Case("dated snapshot with dashes", "openai", "gpt-4o-2024-08-06", None, JUNE, 0),
    Case("dated snapshot without dashes", "openai", "gpt-4o-20240806", None, JUNE, 0),
    Case("a suffix that is no date names another model", "openai", "gpt-4o-audio-preview", None, JUNE, None),
    Case("half a date is no snapshot", "openai", "gpt-4o-2024-08", None, JUNE, None),
    Case("a longer model has its own row", "openai", "gpt-4o-mini", None, JUNE, 2),
    Case("and so do its snapshots", "openai", "gpt-4o-mini-2024-07-18", None, JUNE, 2),
    Case("an exact model matches from the start", "openai", "ft:gpt-4o", None, JUNE, None),
    Case("a dot in an exact model is a dot", "openai", "gpt-4x1", None, JUNE, None),
    Case("a model with a dot", "openai", "gpt-4.1", None, JUNE, 3),
    Case("model_pattern", "anthropic", "claude-sonnet-4-20250514", None, JUNE, 4),
    Case("wrong provider", "azure.ai.openai", "gpt-4o", None, JUNE, None),
    Case("a pattern is for its provider only", "openai", "claude-sonnet-4", None, JUNE, None),
    Case("no provider", None, "gpt-4o", None, JUNE, None),
    Case("the newer row from its effective_from", "openai", "gpt-4o", None, date(2024, 10, 1), 1),
    Case("the older row the day before", "openai", "gpt-4o-2024-08-06", None, date(2024, 9, 30), 0),
    Case("a request before any row", "openai", "gpt-4o", None, date(2023, 12, 31), None),
    Case("the response model is priced", "openai", "gpt-4o", "gpt-4o-mini-2024-07-18", JUNE, 2),
    Case("a response model the table knows", "openai", "auto", "gpt-4o-2024-08-06", JUNE, 0),
    Case("an unpriced response model is not priced as the request", "openai", "gpt-4o", "gpt-9", JUNE, None),
    Case("an empty response model is still the one priced", "openai", "gpt-4o", "", JUNE, None),
    Case("of two rows of one date the one listed later", "openai", "o3", None, JUNE, 6),
    Case("the earlier one where the later does not match", "openai", "o1", None, JUNE, 5),
    Case("the day before a change within a month", "openai", "gpt-4.1", None, date(2024, 6, 14), 3),
    Case("the day of a change within a month", "openai", "gpt-4.1", None, date(2024, 6, 15), 7),
)
IDS = [c.name for c in CASES]


def _expected(case: Case) -> ModelPrice | None:
    return None if case.row is None else ROWS[case.row]


# --- Python ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_python_reference_picks_the_row_each_case_names(case: Case) -> None:
    model = priced_model(case.request_model, case.response_model)
    assert find_price(ROWS, case.provider, model, case.day) is _expected(case)


# --- SQL on a real PostgreSQL ----------------------------------------------------------------------


def _cases_cte(conn: psycopg.Connection) -> str:
    def literal(value: object) -> str:
        return sql.Literal(value).as_string(conn)

    rows = ",\n    ".join(
        f"({i}, {literal(c.provider)}::text, {literal(c.request_model)}::text,"
        f" {literal(c.response_model)}::text, {literal(c.day)}::date)"
        for i, c in enumerate(CASES)
    )
    return f"cases (n, provider, request_model, response_model, day) AS (VALUES\n    {rows})"


def _sql_rows(conn: psycopg.Connection, models: tuple[ModelPrice, ...]) -> list[int | None]:
    model = prices.priced_model("c.request_model", "c.response_model")
    query = (
        f"WITH {prices.prices_cte(models)},\n{_cases_cte(conn)}\n"
        "SELECT c.n, p.spec_order FROM cases c\n"
        f"LEFT JOIN LATERAL ({prices.price_row('c.provider', model, 'c.day')}) p ON true\n"
        "ORDER BY c.n"
    )
    got = conn.execute(query.encode()).fetchall()
    assert [n for n, _ in got] == list(range(len(CASES)))
    return [row for _, row in got]


def test_the_sql_form_picks_the_same_row_as_the_reference_in_every_case(database: str) -> None:
    with psycopg.connect(database) as conn:
        got = _sql_rows(conn, ROWS)
    wrong = {c.name: (row, c.row) for c, row in zip(CASES, got, strict=True) if row != c.row}
    assert not wrong, f"(sql, expected) row per case: {wrong}"


def test_with_no_price_rows_the_sql_form_prices_nothing(database: str) -> None:
    with psycopg.connect(database) as conn:
        assert _sql_rows(conn, ()) == [None] * len(CASES)


def _spec() -> Spec:
    return replace(parse("version: v1\nstorage: {engine: postgres}\n", "s.yaml"), models=ROWS)


def _cache_savings() -> Sql:
    [panel] = [p for p in cost.panels(_spec()) if p.slug == "cache_savings"]
    [query] = panel.queries
    assert isinstance(query, Sql)
    return query


def test_the_cache_savings_panel_prices_each_request_with_the_row_the_rule_picks(database: str) -> None:
    # One request per case, each in its own application so the panel's variable selects it alone.
    cache_read_tokens = 2_000_000
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn, _spec())
        for i, case in enumerate(CASES):
            start = datetime.combine(case.day, datetime.min.time(), UTC) + timedelta(hours=12)
            conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition(%s)", (case.day,))
            conn.execute(
                f"INSERT INTO {names.TABLE_REQUESTS} (time, trace_id, span_id, application, environment,"
                " provider, request_model, response_model, status, duration_ms, input_tokens,"
                " output_tokens, cache_read_tokens, unpriced)"
                " VALUES (%s, %s, %s, %s, 'test', %s, %s, %s, 'ok', 100, %s, 10, %s, %s)",
                (
                    start,
                    f"{i:032x}",
                    f"{i:016x}",
                    f"case-{i}",
                    case.provider,
                    case.request_model,
                    case.response_model,
                    cache_read_tokens,
                    cache_read_tokens,
                    case.row is None,
                ),
            )
        wrong = {}
        for i, case in enumerate(CASES):
            text = expand(
                _cache_savings().sql,
                timescaledb=False,
                start=datetime(2023, 12, 1, tzinfo=UTC),
                end=datetime(2024, 12, 1, tzinfo=UTC),
                variables={"application": f"case-{i}"},
            )
            [(got,)] = conn.execute(text.encode()).fetchall()
            row = _expected(case)
            saving = 0.0
            if row is not None and row.cache_read_usd_per_million_tokens is not None:
                saving = row.input_usd_per_million_tokens - row.cache_read_usd_per_million_tokens
            if not math.isclose(got, cache_read_tokens * saving / 1e6, abs_tol=1e-9):
                wrong[case.name] = (got, cache_read_tokens * saving / 1e6)
    assert not wrong, f"(panel, expected) USD per case: {wrong}"


# --- OTTL in the real collector --------------------------------------------------------------------


def _request(cases: tuple[Case, ...]) -> bytes:
    """One OTLP export: a span per case, named after it, with a million uncached input tokens."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    out = []
    for i, case in enumerate(cases):
        start = int(datetime.combine(case.day, datetime.min.time(), UTC).timestamp() + 12 * 3600) * 10**9
        attrs: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": case.request_model,
            "gen_ai.usage.input_tokens": 1_000_000,
            "gen_ai.usage.output_tokens": 0,
        }
        if case.provider is not None:
            attrs["gen_ai.provider.name"] = case.provider
        if case.response_model is not None:
            attrs["gen_ai.response.model"] = case.response_model
        out.append(
            Span(
                trace_id=(i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name=case.name,
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 10**9,
                attributes=key_values(attrs),
            )
        )
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=out)])
    resource.resource.attributes.extend(key_values({"service.name": "pricing-cases"}))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def _collector_config(otlp_port: int, health_port: int, capture_url: str) -> str:
    """The rendered pricing processor, after normalisation (which marks LLM requests)."""
    processors = config(_spec())["processors"]
    return stages_config(
        processors, ["transform/normalise", "transform/price"], otlp_port, health_port, capture_url
    )


def test_the_collectors_ottl_prices_every_case_with_the_row_the_reference_picks(tmp_path: Path) -> None:
    binary = collector_binary()
    capture = OtlpCapture()
    otlp, health = free_port(), free_port()
    (tmp_path / "config.yaml").write_text(_collector_config(otlp, health, capture.url))
    collector = ManagedProcess(
        [str(binary), f"--config={tmp_path / 'config.yaml'}"], tmp_path / "collector.log"
    )
    try:
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        response = requests.post(
            f"http://127.0.0.1:{otlp}/v1/traces",
            data=_request(CASES),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

        def priced() -> dict[str, dict[str, object]]:
            return {s.name: s.attributes for r in list(capture.traces) for s in spans(r)}

        poll_until(lambda: len(priced()) == len(CASES), f"{len(CASES)} priced spans at the capture endpoint")
    finally:
        collector.stop()
        capture.close()
    wrong = {}
    for case in CASES:
        attrs, row = priced()[case.name], _expected(case)
        if row is None:
            got = (attrs.get("llm.cost.unpriced"), attrs.get("llm.cost.usd"))
            if got != (True, None):
                wrong[case.name] = got
        elif not (
            attrs.get("llm.cost.unpriced") is False
            and math.isclose(float(attrs.get("llm.cost.usd", -1)), row.input_usd_per_million_tokens)
            and attrs.get("llm.cost.price_effective_from") == row.effective_from.isoformat()
        ):
            wrong[case.name] = attrs
    assert not wrong, f"spans the collector priced otherwise than the rule: {wrong}"
