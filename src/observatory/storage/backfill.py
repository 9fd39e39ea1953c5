"""`observatory maintain --backfill FROM TO`: recompute the rollups over a range of UTC days, in both
flavours, but only where that cannot lose anything.

A rollup bucket is recomputed from raw rows, so over a day whose raw rows retention has dropped a
recompute would replace the cold tier's daily rollups with nothing. A backfill therefore starts at
the oldest raw day still kept (the oldest partition, or TimescaleDB's oldest chunk), and ends at the
last complete bucket: the current hour and today are left to maintenance and the rollup views
(postgres) or real-time aggregation (TimescaleDB, whose watermark never moves past them). The weekly
and monthly rollups are then recomputed from the daily ones, which keep the cold tier. What was
recomputed and what was skipped, and why, comes back as lines for the operator.

TimescaleDB: `CALL refresh_continuous_aggregate(view, NULL, NULL)` has neither bound, so it can do
both kinds of harm; use this instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

from observatory import names
from observatory.spec.types import Spec
from observatory.sql.rollups import CALENDAR, MTD, ROLLUPS, UNITS, Rollup, refresh_insert
from observatory.storage.maintain import (
    WATERMARKS,
    _ceil,
    _floor,
    _partitions,
    _unit,
    calendar_ceil,
    calendar_count,
    calendar_start,
    recompute_month_to_date,
    rederive,
)
from observatory.storage.migrate import execute_waiting

T = names.TABLE_REQUESTS
# TimescaleDB's chunks of the request table; dropped ones are gone from this view.
OLDEST_CHUNK = (
    "SELECT min(range_start) FROM timescaledb_information.chunks"
    " WHERE hypertable_schema = current_schema() AND hypertable_name = %s"
)
ADJECTIVE = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}


@dataclass
class BackfillReport:
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "\n".join(self.lines)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def backfill(
    conn: psycopg.Connection, spec: Spec, first: date, end: date, now: datetime | None = None
) -> BackfillReport:
    """Recompute every rollup over the UTC days [first, end) where raw rows are kept and buckets are
    complete; `conn` in autocommit. `now` (timezone-aware) exists for tests."""
    if first >= end:
        raise ValueError(f"backfill: FROM ({first}) must be before TO ({end})")
    now = (datetime.now(UTC) if now is None else now).astimezone(UTC)
    timescale = spec.storage.engine == "timescaledb"
    oldest = _oldest_chunk(conn) if timescale else _oldest_partition(conn)
    report = BackfillReport()
    for field_, unit in UNITS.items():
        rollups = [r for r in ROLLUPS if r.field == field_]
        lo, hi = _at(first), min(_at(end), _floor(now, unit))
        kept = hi if oldest is None else max(lo, _ceil(oldest, unit))
        label = f"{ADJECTIVE[field_]} rollups ({', '.join(r.name for r in rollups)})"
        if kept < hi:
            for rollup in rollups:
                if timescale:
                    _refresh_aggregate(conn, rollup.name, kept, hi)
                else:
                    _recompute(conn, rollup, kept, hi)
            report.lines.append(f"{label}: recomputed {_span(kept, hi)} ({(hi - kept) // unit} buckets)")
        else:
            report.lines.append(f"{label}: nothing recomputed")
        if lo < min(kept, hi):
            why = (
                "the request table holds no rows at all"
                if oldest is None
                else f"raw rows dropped by retention (the oldest raw day kept is {oldest:%Y-%m-%d})"
            )
            report.lines.append(
                f"  skipped {_span(lo, min(kept, hi))}: {why}; the rollup rows there are left as they are"
            )
        if hi < _at(end):
            current = (
                "real-time aggregation adds its raw rows"
                if timescale
                else "maintenance computes it, the rollup views add the raw rows since"
            )
            report.lines.append(
                f"  skipped {_span(max(lo, hi), _at(end))}: the current {field_} or later, not complete;"
                f" {current}"
            )
    for field_ in CALENDAR:
        report.lines += _calendar(conn, spec, first, end, now, field_)
    if not timescale:
        report.lines += _month_to_date(conn, first, end, oldest)
    return report


def _month_to_date(conn: psycopg.Connection, first: date, end: date, oldest: datetime | None) -> list[str]:
    """Postgres: the month-to-date store's days from the first daily bucket recomputed to the end of
    the month holding the last (each counts the days before it in its month), as far as it is kept:
    up to the day holding its watermark. (TimescaleDB computes it when read.)"""
    day = UNITS["day"]
    label = f"month to date ({MTD})"
    with _unit(conn):
        row = conn.execute(f"SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s", (MTD,)).fetchone()
        lo = _at(first) if oldest is None else max(_at(first), _ceil(oldest, day))
        hi = calendar_ceil("month", _at(end))
        if row is not None:
            hi = min(hi, _floor(row[0], day))
        days = [lo + i * day for i in range(max(0, (hi - lo) // day))] if row is not None else []
        recompute_month_to_date(conn, lo, hi, days)
    if not days:
        return [f"{label}: nothing recomputed (maintenance computes it from the per-user daily rollup)"]
    return [f"{label}: recomputed {_span(lo, hi)} ({len(days)} days, to the end of the last month)"]


def _calendar(
    conn: psycopg.Connection, spec: Spec, first: date, end: date, now: datetime, field_: str
) -> list[str]:
    """The weekly or monthly rollups over the whole weeks or months holding [first, end), from the
    daily rollups just recomputed (which keep the cold tier): every bucket of theirs, the oldest with
    the days they still hold. On TimescaleDB only up to the last complete one (the refresh policy
    covers the current one); on postgres the current one too, from the daily stores as far as
    maintenance computed them."""
    derived = [r for r in ROLLUPS if r.field == field_]
    cold = now - timedelta(days=spec.retention.requests.cold_days)
    lo, hi = calendar_start(field_, _at(first)), calendar_ceil(field_, _at(end))
    if spec.storage.engine == "timescaledb":
        hi = min(hi, calendar_start(field_, now))
    kept = max(lo, calendar_start(field_, cold))
    label = f"{ADJECTIVE[field_]} rollups ({', '.join(r.name for r in derived)})"
    lines = []
    if kept < hi:
        for rollup in derived:
            if spec.storage.engine == "timescaledb":
                _refresh_aggregate(conn, rollup.name, kept, hi)
            else:
                with _unit(conn):
                    rederive(conn, rollup, kept, hi)
        count, bucket = calendar_count(field_, kept, hi), field_
        lines.append(f"{label}: recomputed {_span(kept, hi)} ({count} {bucket}{'s' if count != 1 else ''})")
    else:
        lines.append(f"{label}: nothing recomputed")
    if lo < min(kept, hi):
        lines.append(
            f"  skipped {_span(lo, min(kept, hi))}: older than the cold tier"
            f" ({spec.retention.requests.cold_days} days); retention deletes these {field_}s"
        )
    if hi < calendar_ceil(field_, _at(end)):
        lines.append(
            f"  skipped {_span(max(lo, hi), calendar_ceil(field_, _at(end)))}: the current {field_} or"
            " later, not complete; the refresh policy keeps it current"
        )
    return lines


def _oldest_partition(conn: psycopg.Connection) -> datetime | None:
    return min((lower for _, lower, _ in _partitions(conn) if lower is not None), default=None)


def _oldest_chunk(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute(OLDEST_CHUNK, (T,)).fetchone()
    return row[0] if row else None


def _recompute(conn: psycopg.Connection, rollup: Rollup, start: datetime, end: datetime) -> None:
    """Delete and insert again, in one transaction under the maintenance lock (readers never see a
    half-done range, and a maintenance run waits)."""
    with _unit(conn):
        bounds = {"start": start, "end": end}
        conn.execute(f"DELETE FROM {rollup.store} WHERE bucket >= %(start)s AND bucket < %(end)s", bounds)
        conn.execute(refresh_insert(rollup), bounds)


def _refresh_aggregate(conn: psycopg.Connection, view: str, start: datetime, end: datetime) -> None:
    # force: recompute every bucket in the window, not only those TimescaleDB logged as invalid
    # (a backfill is also how an operator repairs rows changed by hand). CALL refuses a transaction.
    call = sql.SQL("CALL refresh_continuous_aggregate({}, {}, {}, force => TRUE)").format(
        sql.Literal(view), sql.Literal(start), sql.Literal(end)
    )
    execute_waiting(conn, call)  # a policy's refresh of the same aggregate may be running
