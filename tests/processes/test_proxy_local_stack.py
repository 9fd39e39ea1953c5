"""The proxy in `observatory local up`, end to end: the real `openai` and `anthropic` clients call the
fake provider through the proxy the local stack runs, and the real collector and ingester turn its
spans into exact rows in PostgreSQL and exact metrics in Prometheus.

One module-scoped stack (PostgreSQL, Prometheus, Alertmanager, ingester, query API, collector and the
proxy, as detached processes) with the spec's `proxy` section pointing both providers at the fake.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml

from observatory import names
from observatory.local import postgres as local_pg
from observatory.local import stack
from observatory.spec import load
from tests.conftest import REPO, collector_binary, poll_until, proxy_binary, require_tool
from tests.proxy_calls import API_KEY, FakeState, Scenario, call, make_provider, scenario

APPLICATION, TEAM, USER = "legacy-billing", "finance", "customer-4242"
# (provider, scenario): every kind of call once; each has one span, so one row.
CALLS = [
    ("openai", "chat"),
    ("openai", "cached_input"),
    ("openai", "reasoning"),
    ("openai", "embeddings"),
    ("openai", "rate_limit"),
    ("anthropic", "chat"),
    ("anthropic", "cached_input"),
    ("anthropic", "server_error"),
]
STREAMS = [("openai", "stream"), ("anthropic", "stream")]  # raw HTTP: one call, one row


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeState, str]]:
    state = FakeState()
    server = make_provider(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, fake: tuple[FakeState, str]) -> Iterator[dict[str, Any]]:
    collector_binary()
    proxy_binary()
    require_tool("prometheus")
    require_tool("prometheus-alertmanager")
    if not local_pg.available():
        require_tool("initdb")
    tmp = tmp_path_factory.mktemp("proxy-stack")
    data = yaml.safe_load((REPO / "observatory.yaml").read_text())
    data["proxy"] = {"enabled": True, "openai_base_url": fake[1], "anthropic_base_url": fake[1]}
    (tmp / "observatory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load(tmp / "observatory.yaml")
    out = io.StringIO()
    state = stack.up(REPO, spec, tmp / "state", out=out, env_file=tmp / ".env")
    try:
        assert "LLM proxy" in stack.describe(state)
        yield state
    finally:
        stack.down(tmp / "state")


def _stream_call(proxy_url: str, s: Scenario) -> None:
    import httpx

    path = "/openai/v1/chat/completions" if s.provider == "openai" else "/anthropic/v1/messages"
    body: dict[str, Any] = {"model": s.request_model, "stream": True, "max_tokens": 64}
    body["messages"] = [{"role": "user", "content": s.prompt}]
    headers = {
        "authorization": f"Bearer {API_KEY}",
        "x-api-key": API_KEY,
        names.PROXY_HEADER_APPLICATION: APPLICATION,
        names.PROXY_HEADER_TEAM: TEAM,
        names.PROXY_HEADER_USER: USER,
    }
    r = httpx.post(proxy_url + path, json=body, headers=headers, timeout=10)
    assert r.status_code == 200


@pytest.fixture(scope="module")
def sent(local: dict[str, Any], fake: tuple[FakeState, str]) -> list[Scenario]:
    state, _ = fake
    proxy_url = local["urls"]["proxy"]
    headers = {
        names.PROXY_HEADER_APPLICATION: APPLICATION,
        names.PROXY_HEADER_TEAM: TEAM,
        names.PROXY_HEADER_USER: USER,
    }
    done = []
    for provider, name in CALLS:
        s = scenario(provider, name)
        state.scenario = s
        call(f"{proxy_url}/{provider}", s, headers=headers)
        done.append(s)
    for provider, name in STREAMS:
        s = scenario(provider, name)
        state.scenario = s
        _stream_call(proxy_url, s)
        done.append(s)
    return done


def _rows(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            f"SELECT application, team, user_id, provider, request_model, response_model, operation, status,"
            f" error_type, error_type_raw, finish_reason, ttft_ms, input_tokens, output_tokens,"
            f" cache_read_tokens, cache_write_tokens, reasoning_tokens FROM {names.TABLE_REQUESTS}"
        )
        columns = [d.name for d in cur.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _expected_row(s: Scenario) -> dict[str, Any]:
    failed = s.error != "none"
    raw = {
        ("openai", "rate_limit"): "rate_limit_exceeded",
        ("anthropic", "server_error"): "api_error",
    }.get((s.provider, s.error))
    u = s.usage
    return {
        "application": APPLICATION,
        "team": TEAM,
        "provider": s.provider,
        "request_model": s.request_model,
        "response_model": s.response_model,
        "operation": s.operation,
        "status": "error" if failed else "unset",
        "error_type": s.error if failed else None,
        "error_type_raw": raw,
        "finish_reason": s.finish_reason,
        "streamed": s.stream,
        "input_tokens": u.input if u else None,
        "output_tokens": u.output if u else None,
        "cache_read_tokens": u.cache_read if u else None,
        "cache_write_tokens": u.cache_write if u else None,
        "reasoning_tokens": u.reasoning if u else None,
    }


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("user_id", "ttft_ms")}
    out["streamed"] = row["ttft_ms"] is not None
    return out


def _order(row: dict[str, Any]) -> str:
    return repr(sorted(row.items()))


def test_every_proxied_call_is_one_exact_row_in_the_database(
    local: dict[str, Any], sent: list[Scenario]
) -> None:
    dsn = local["database_url"]
    poll_until(lambda: len(_rows(dsn)) >= len(sent), f"{len(sent)} rows in {names.TABLE_REQUESTS}", 60)
    rows = _rows(dsn)
    got = sorted((_comparable(r) for r in rows), key=_order)
    want = sorted((_expected_row(s) for s in sent), key=_order)
    assert got == want
    # user.id is hashed by the collector with the stack's key: never stored as sent.
    assert {r["user_id"] for r in rows} != {USER}
    assert all(r["user_id"] and USER not in r["user_id"] for r in rows)


def _prometheus(local: dict[str, Any], query: str) -> dict[tuple[str, ...], float]:
    url = local["urls"]["prometheus"]
    result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def test_the_collectors_metrics_count_every_proxied_call_and_token(
    local: dict[str, Any], sent: list[Scenario]
) -> None:
    # Prometheus leaves out an empty label: the calls that did not fail have no error_type.
    want: dict[tuple[tuple[str, str], ...], float] = {}
    for s in sent:
        key = (("error_type", s.error),) if s.error != "none" else ()
        key = tuple(sorted((*key, ("provider", s.provider))))
        want[key] = want.get(key, 0) + 1
    query = f'sum by (provider, error_type) ({names.METRIC_REQUESTS}{{application="{APPLICATION}"}})'

    def requests_match() -> bool:
        got = _prometheus(local, query)
        assert got == want, (got, want)
        return True

    poll_until(requests_match, f"{names.METRIC_REQUESTS} by provider and error type", 60)
    tokens = sum(s.usage.input for s in sent if s.usage)
    input_query = f'sum({names.METRIC_INPUT_TOKENS}{{application="{APPLICATION}"}})'
    poll_until(
        lambda: list(_prometheus(local, input_query).values()) == [float(tokens)],
        f"{names.METRIC_INPUT_TOKENS} = {tokens}",
        60,
    )


def test_the_api_key_reaches_no_row_metric_or_log_of_the_stack(
    local: dict[str, Any], sent: list[Scenario]
) -> None:
    dsn = local["database_url"]
    poll_until(lambda: len(_rows(dsn)) >= len(sent), "the rows", 60)
    with psycopg.connect(dsn) as conn:
        dump = repr(conn.execute(f"SELECT * FROM {names.TABLE_REQUESTS}").fetchall())
    assert "SECRET" not in dump and USER not in dump
    logs = [Path(svc["log"]) for svc in local["services"].values() if svc.get("log")]
    for log in logs:
        if log.is_file():
            assert b"SECRET" not in log.read_bytes(), log
    proxy_metrics = requests.get(f"{local['urls']['proxy']}/metrics", timeout=5).text
    assert "SECRET" not in proxy_metrics


def test_prometheus_scrapes_the_proxys_own_metrics(local: dict[str, Any], sent: list[Scenario]) -> None:
    # The local Prometheus scrapes the proxy (job llm-proxy) every 15 s: its own count of the calls.
    query = f'sum({names.PROXY_REQUESTS}{{job="{names.JOB_PROXY}"}})'
    poll_until(
        lambda: list(_prometheus(local, query).values()) == [float(len(sent))],
        f"{names.PROXY_REQUESTS} = {len(sent)} scraped from the proxy",
        60,
    )
