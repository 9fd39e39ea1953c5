"""What a running Tempo and Loki must show after demo traffic went through the collector: the same
checks for the container stack (tests/containers) and for servers you bring (tests/servers).

Each takes the store's HTTP base URL and the traffic's ground truth, and polls until the data is there
(a trace is searchable once its block is cut, a log line once its chunk is flushed or queried from the
ingester) or the time is up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from observatory.render import dashboards
from observatory.spec.types import Spec
from observatory.traffic import Traffic
from tests.conftest import poll_until

WAIT_SECONDS = 180


def ready(url: str, what: str) -> None:
    poll_until(lambda: requests.get(f"{url}/ready", timeout=5).ok, f"{what} /ready at {url}", WAIT_SECONDS)


def trace_spans(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of Tempo's answer for a trace: `batches` in 2.x, `resourceSpans` in 3.x."""
    batches = found.get("batches") or found.get("resourceSpans") or []
    scopes = [ss for b in batches for ss in b.get("scopeSpans") or b.get("instrumentationLibrarySpans") or []]
    return [span for ss in scopes for span in ss.get("spans", [])]


def trace_by_id(tempo: str, trace_id: str, traffic: Traffic) -> dict[str, Any]:
    """The trace from Tempo by its id, with its GenAI spans and no PII; Tempo's answer."""
    found: dict[str, Any] = poll_until(
        lambda: (r := requests.get(f"{tempo}/api/traces/{trace_id}", timeout=10)).ok and r.json(),
        f"trace {trace_id} in Tempo",
        WAIT_SECONDS,
    )
    spans = trace_spans(found)
    genai = [s["name"] for s in spans if any(a["key"].startswith("gen_ai.") for a in s.get("attributes", []))]
    assert genai, [s["name"] for s in spans]  # an LLM call (chat, embeddings, a tool) with its attributes
    text = json.dumps(found)
    assert not [secret for secret in traffic.truth.pii if secret in text]
    return found


def logs_by_trace_id(loki: str, trace_id: str, traffic: Traffic) -> list[str]:
    """The trace's log lines from Loki, found by the `trace_id` structured metadata, without PII."""
    now = time.time_ns()
    params: dict[str, str | int] = {
        "query": f'{{service_name=~".+"}} | trace_id="{trace_id}"',
        "start": now - 3 * 3600 * 10**9,
        "end": now + 60 * 10**9,
        "limit": 50,
    }

    def lines() -> list[str]:
        result = requests.get(f"{loki}/loki/api/v1/query_range", params=params, timeout=10).json()["data"][
            "result"
        ]
        return [line for stream in result for _ts, line, *_ in stream["values"]]

    found = poll_until(lines, f"log lines with trace_id {trace_id} in Loki", WAIT_SECONDS)
    assert not [secret for line in found for secret in traffic.truth.pii if secret in line]
    return found


def every_panel_query_answers(spec: Spec, tempo: str, loki: str, traffic: Traffic) -> int:
    """Each TraceQL and LogQL panel query of the rendered dashboards, interpolated as Grafana does
    (`:regex` escapes `.` in gemini-2.5-flash), is accepted by the real Tempo and Loki; at All and with
    every application and model sent selected, each finds data (the demo's failed calls, slow calls and
    error logs among them). The number of queries sent."""
    from tests.unit.test_trace_and_log_queries import _interpolate, _queries

    boards = [a.content for a in dashboards.render(spec)]
    applications = sorted({key[0] for key in traffic.truth.requests})
    models = sorted({key[1] for key in traffic.truth.requests})
    everything = {"application": [".*"], "environment": [".*"], "model": [".*"], "search": ["."]}
    selections = {
        "all": everything,
        "every model sent": {**everything, "model": models, "application": applications},
        "one dotted value": {**everything, "model": ["gemini-2.5-flash"], "search": [r"timeout\s+after"]},
    }
    now, sent = int(time.time()), 0
    for name, picked in selections.items():
        must_find = name != "one dotted value"
        for board in boards:
            for query in _queries(board, "tempo"):
                if "${trace_id}" in query:
                    continue
                text = _interpolate(_all_unescaped(query, picked), picked)
                params: dict[str, str | int] = {
                    "q": text,
                    "start": now - 3 * 3600,
                    "end": now + 60,
                    "limit": 20,
                }
                _answers(f"{tempo}/api/search", params, lambda body: body["traces"], must_find, name)
                sent += 1
            for query in _queries(board, "loki"):
                text = _interpolate(_all_unescaped(query.replace("$__auto", "1m"), picked), picked)
                params = {
                    "query": text,
                    "start": (now - 3 * 3600) * 10**9,
                    "end": (now + 60) * 10**9,
                    "limit": 20,
                }
                url = f"{loki}/loki/api/v1/query_range"
                _answers(url, params, lambda body: body["data"]["result"], must_find, name)
                sent += 1
    return sent


def _all_unescaped(query: str, picked: dict[str, list[str]]) -> str:
    """A variable at All is written as its custom all value, `.*`, unescaped whatever the format."""
    for name, values in picked.items():
        if values == [".*"]:
            query = query.replace(f"${{{name}:regex}}", f"${{{name}}}")
    return query


def _answers(
    url: str,
    params: dict[str, str | int],
    data: Callable[[dict[str, Any]], list[Any]],
    must_find: bool,
    selection: str,
) -> None:
    """The query is accepted; with `must_find`, it finds data before the time is up."""
    answer = requests.get(url, params=params, timeout=20)
    assert answer.ok, (selection, params, answer.text)
    if must_find:
        poll_until(
            lambda: data(requests.get(url, params=params, timeout=20).json()),
            f"data for {params} ({selection})",
            WAIT_SECONDS,
        )
