"""TraceQL and LogQL panels stay valid for every value a variable can take.

Grafana's `:regex` format escapes regex metacharacters with a backslash, and the search box passes
what is typed; inside a double-quoted TraceQL or LogQL string those backslashes are read as escapes
and refused (`invalid char escape`, seen on real Tempo 2.10.8 with the model gemini-2.5-flash). Here
each query is interpolated as Grafana would, with dotted, slashed and multi-valued selections, and
every string literal is read with the languages' rules: a raw (backtick) string takes its text as is,
a double-quoted one only the escapes Go's strconv.Unquote accepts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from observatory.render import dashboards
from observatory.spec import load
from tests.conftest import SPECS

# Grafana's regex escaping (public/app/features/templating: escapeRegex).
_META = re.compile(r"[\\^$.*+?()[\]{}|/-]")
VALUES = {
    "model": ["gemini-2.5-flash", "claude-3.5/sonnet", "gpt-4o"],
    "application": ["support.bot", "search"],
    "environment": ["prod"],
    "search": [r"timeout\s+after", "a.b"],
    "trace_id": ["4bf92f3577b34da6a3ce929d0e0e4736"],
}
_GO_ESCAPES = re.compile(r'\\(?:[abfnrtv\\"]|[0-7]{3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})')


def _regex(values: list[str]) -> str:
    escaped = [_META.sub(lambda m: "\\" + m.group(0), v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _interpolate(query: str, selection: dict[str, list[str]]) -> str:
    for name, values in selection.items():
        query = query.replace(f"${{{name}:regex}}", _regex(values))
        query = query.replace(f"${{{name}}}", values[0]).replace(f"${name}", values[0])
    return query


def _strings(query: str) -> list[tuple[str, str]]:
    """(quote, body) of every string literal, raising on one that TraceQL or LogQL would refuse."""
    out, i = [], 0
    while i < len(query):
        quote = query[i]
        if quote == "`":
            end = query.index("`", i + 1)
            out.append((quote, query[i + 1 : end]))
            i = end + 1
        elif quote == '"':
            j = i + 1
            while query[j] != '"':
                j += 2 if query[j] == "\\" else 1
            body = query[i + 1 : j]
            stray = _GO_ESCAPES.sub("", body)
            assert "\\" not in stray, f"invalid escape in {body!r}"
            out.append((quote, body))
            i = j + 1
        else:
            i += 1
    return out


def _queries(dashboard: dict[str, Any], kind: str) -> list[str]:
    return [
        target["query" if kind == "tempo" else "expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type") == kind
    ]


@pytest.mark.parametrize("selection", ["one", "several"])
def test_every_trace_and_log_query_survives_every_selection(selection: str) -> None:
    picked = {k: (v if selection == "several" else v[:1]) for k, v in VALUES.items()}
    boards = [a.content for a in dashboards.render(load(SPECS / "valid" / "full.yaml"))]
    queries = [(kind, q) for board in boards for kind in ("tempo", "loki") for q in _queries(board, kind)]
    assert {kind for kind, _ in queries} == {"tempo", "loki"}
    for kind, query in queries:
        text = _interpolate(query, picked)
        for quote, body in _strings(text):
            if quote == "`":  # a regex holding the selection: it must match each value selected
                pattern = body.removeprefix("(?i)")
                for name, values in picked.items():
                    if _regex(values) in body and name != "search":
                        assert all(re.fullmatch(pattern, v) for v in values), (kind, body)
