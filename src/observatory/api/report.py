"""`observatory report`: the first look at a window of LLM traffic, in a terminal.

Spend by application and model, latency percentiles per application, error ratio by normalised type,
unpriced models and budget state, from the same store queries as the API (run in process, so it
needs only a database URL). `--format json` prints the same figures as one JSON document.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from observatory import names
from observatory.api import store
from observatory.spec.types import Spec

# Latency percentiles are computed from raw rows: over at most this long a window.
LATENCY_MAX_WINDOW = timedelta(days=7)
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str) -> timedelta:
    """`30m`, `24h`, `7d` or `2w` as a duration; a ValueError naming the accepted forms otherwise."""
    number, unit = text[:-1], text[-1:]
    if unit not in UNITS or not number.isdigit() or int(number) < 1:
        raise ValueError(
            f"--since wants a positive whole number and a unit of m, h, d or w (e.g. 24h), got {text!r}"
        )
    return int(number) * UNITS[unit]


@dataclass
class Report:
    start: datetime
    end: datetime
    total: dict[str, float]
    spend: list[dict[str, Any]]  # by application and model, most expensive first
    latency: list[dict[str, Any]] | None  # by application; None when the window is too long
    errors: list[dict[str, Any]]  # by type, most first
    unpriced: list[dict[str, Any]]  # models without a price row, by provider and model
    budgets: list[dict[str, Any]]


def build(conn: psycopg.Connection, spec: Spec, end: datetime, since: timedelta) -> Report:
    start = end - since
    by_model = store.aggregate(conn, start, end, ["application", "provider", "model"], store.spend_measures())
    spend: list[dict[str, Any]] = sorted(
        (
            {
                **g.keys,
                "requests": int(g.measures["requests"]),
                "cost_usd": g.measures["cost_usd"],
                "input_tokens": int(g.measures["input_tokens"]),
                "output_tokens": int(g.measures["output_tokens"]),
            }
            for g in by_model
        ),
        key=lambda r: (-r["cost_usd"], -r["requests"], r["application"], r["model"]),
    )
    # The total and the unpriced models from the same groups: one query, summed here.
    unpriced_by: dict[tuple[str, str], int] = {}
    for g in by_model:
        key = (g.keys["provider"], g.keys["model"])
        unpriced_by[key] = unpriced_by.get(key, 0) + int(g.measures["unpriced_requests"])
    unpriced = [{"provider": p, "model": m, "requests": n} for (p, m), n in unpriced_by.items() if n]
    error_groups = store.aggregate(conn, start, end, [], store.error_measures(), detail=True)
    requests = sum(g.measures["requests"] for g in error_groups)
    errors: list[dict[str, Any]] = sorted(
        (
            {"type": t, "errors": int(n), "ratio": n / requests}
            for t in store.ERROR_TYPES
            if (n := sum(g.measures[f"errors_{t}"] for g in error_groups))
        ),
        key=lambda r: (-r["errors"], r["type"]),
    )
    return Report(
        start,
        end,
        store.total(by_model),
        spend,
        latency(conn, start, end) if since <= LATENCY_MAX_WINDOW else None,
        errors,
        sorted(unpriced, key=lambda r: (-r["requests"], r["provider"], r["model"])),
        [{**asdict(b), "state": b.state} for b in store.budgets(conn, spec.budgets, end)],
    )


def latency(conn: psycopg.Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """p50 and p95 of request duration, and of time to first token where streamed, per application."""
    query = sql.SQL(
        "SELECT application, count(*),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms)"
        " FROM {} WHERE time >= %s AND time < %s GROUP BY 1 ORDER BY 1"
    ).format(sql.Identifier(names.TABLE_REQUESTS))
    keys = ("application", "requests", "p50_ms", "p95_ms", "ttft_p50_ms", "ttft_p95_ms")
    return [dict(zip(keys, row, strict=True)) for row in conn.execute(query, (start, end))]


def to_json(report: Report) -> str:
    data = asdict(report)
    data["start"], data["end"] = report.start.isoformat(), report.end.isoformat()
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f"{title}: none\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    body = [
        "  ".join(
            c.rjust(w) if c[:1].isdigit() or c[:1] in "-$" else c.ljust(w)
            for c, w in zip(r, widths, strict=True)
        )
        for r in rows
    ]
    return "\n".join(row.rstrip() for row in [title, line, *body]) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def to_table(report: Report, top: int = 15) -> str:
    t = report.total
    out = [
        f"LLM traffic {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC: "
        f"{t['requests']:,.0f} requests, ${t['cost_usd']:,.4f}, {t['input_tokens']:,.0f} input and "
        f"{t['output_tokens']:,.0f} output tokens, {t['errors']:,.0f} errors, "
        f"{t['unpriced_requests']:,.0f} unpriced\n",
        _table(
            "Spend by application and model",
            ["application", "provider", "model", "requests", "cost_usd"],
            [
                [r["application"], r["provider"], r["model"], f"{r['requests']:,}", f"${r['cost_usd']:,.4f}"]
                for r in report.spend[:top]
            ],
        ),
    ]
    if len(report.spend) > top:
        out.append(f"  ... and {len(report.spend) - top} more (--format json has them all)\n")
    if report.latency is None:
        out.append(f"Latency: only over windows up to {LATENCY_MAX_WINDOW.days} days (raw rows)\n")
    else:
        out.append(
            _table(
                "Latency by application (ms)",
                ["application", "requests", "p50", "p95", "ttft p50", "ttft p95"],
                [
                    [
                        r["application"],
                        f"{r['requests']:,}",
                        _ms(r["p50_ms"]),
                        _ms(r["p95_ms"]),
                        _ms(r["ttft_p50_ms"]),
                        _ms(r["ttft_p95_ms"]),
                    ]
                    for r in report.latency
                ],
            )
        )
    out.append(
        _table(
            "Errors by type",
            ["type", "errors", "share of requests"],
            [[r["type"], f"{r['errors']:,}", f"{r['ratio']:.2%}"] for r in report.errors],
        )
    )
    out.append(
        _table(
            "Unpriced models (no row in the price table: cost unknown, not zero)",
            ["provider", "model", "requests"],
            [[r["provider"] or "-", r["model"] or "-", f"{r['requests']:,}"] for r in report.unpriced],
        )
    )
    out.append(
        _table(
            "Budgets",
            ["kind", "name", "today", "daily", "month", "monthly", "projected month", "state"],
            [
                [
                    b["kind"],
                    b["name"],
                    f"${b['spent_today_usd']:,.2f}",
                    _usd(b["daily_usd"]),
                    f"${b['spent_month_usd']:,.2f}",
                    _usd(b["monthly_usd"]),
                    f"${b['projected_month_usd']:,.2f}",
                    b["state"],
                ]
                for b in report.budgets
            ],
        )
    )
    return "\n".join(out)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"
