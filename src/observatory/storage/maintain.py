"""Maintenance of the plain-PostgreSQL storage flavour: partitions, incremental rollups and retention.

`maintain` is idempotent and safe beside running writers, so `observatory maintain` can run from cron
and the ingester can call it on a schedule. One run, in this order:
1. creates the day partitions of `llm_requests` for today and the next days (all days are UTC);
2. recomputes every rollup's store (`observatory.sql.rollups.ROLLUPS`) from a little before its
   watermark up to now, each in one transaction (delete the buckets, insert them again), so readers
   never see a half-done bucket; the rollup views add the buckets after the watermark from raw rows;
   then the month-to-date store (`observatory.sql.rollups.MTD`) from the per-user daily one, for the
   complete days;
3. drops raw partitions whose whole day is older than the warm tier (after step 2, so rows written
   before a long pause are rolled up before they go);
4. deletes hourly rollups older than the warm tier and daily rollups older than the cold tier (weekly
   and monthly ones, and month to date, when their whole week or month is).

Step 2 looks back `storage.late_data_days` before the watermark and recomputes only the buckets
whose count of raw rows changed, so a row that arrives that late is counted by the next run at the
cost of a count, not a recompute. A later row waits for `observatory maintain --backfill`
(`observatory.storage.backfill`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from observatory import names
from observatory.spec.types import RetentionTiers, Spec
from observatory.sql import feedback, rollups
from observatory.sql.rollups import UNITS, Rollup, refresh_insert, stale_buckets

T = names.TABLE_REQUESTS
log = logging.getLogger(__name__)
WATERMARKS = names.TABLE_ROLLUP_WATERMARKS
# Partitions made ahead of time, so a writer never meets a missing day at midnight.
DAYS_AHEAD = 2
# Any constant works if every maintainer uses it. It is above 2**31, so it can never equal the
# hashtext() keys that llm_requests_ensure_partition locks, nor migrate's LOCK_ID.
LOCK_ID = 0x4C4C4D4F_4D41494E  # "LLMOMAIN"
# A DROP of a partition waits for an exclusive lock on llm_requests, and every writer queues behind
# the waiting DROP; better to give up and drop it on the next run.
DROP_LOCK_TIMEOUT = "5s"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class MaintainReport:
    partitions_created: int
    partitions_dropped: int
    hourly_buckets_refreshed: int
    daily_buckets_refreshed: int
    rollup_rows_expired: int
    month_to_date_days_refreshed: int = 0
    feedback_rows_expired: int = 0
    feedback_days_refreshed: int = 0

    def summary(self) -> str:
        return (
            f"{self.partitions_created} partitions created, {self.partitions_dropped} dropped, "
            f"{self.hourly_buckets_refreshed} hourly and {self.daily_buckets_refreshed} daily buckets "
            f"refreshed, {self.month_to_date_days_refreshed} days of month to date, "
            f"{self.feedback_days_refreshed} days of ratings, "
            f"{self.rollup_rows_expired} expired rollup rows, {self.feedback_rows_expired} expired ratings"
        )


def maintain(conn: psycopg.Connection, spec: Spec, now: datetime | None = None) -> MaintainReport:
    """Run one maintenance pass on the database at `conn` (autocommit); returns what it did.

    TimescaleDB runs its own policies (compression, retention, continuous aggregate refresh), so for
    that engine this returns an all-zero report without touching the database. `now` (timezone-aware,
    default the current time) exists so that tests are deterministic.
    """
    if spec.storage.engine == "timescaledb":
        return MaintainReport(0, 0, 0, 0, 0)
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise ValueError("maintain: now must be timezone-aware")
    now = now.astimezone(UTC)
    tiers = spec.retention.requests
    warm = now - timedelta(days=tiers.warm_days)
    late = timedelta(days=spec.storage.late_data_days)
    created = _ensure_partitions(conn, now)
    # Every rollup of one bucket size recomputes the same window: the report counts it once.
    refreshed = {"hour": 0, "day": 0, "week": 0, "month": 0}
    for rollup in rollups.ROLLUPS:
        keep_from = now - timedelta(days=rollup.kept_days(tiers))
        refresh = _derive if rollup.derived else _refresh
        count = refresh(conn, rollup, now, late, keep_from)
        refreshed[rollup.field] = max(refreshed[rollup.field], count)
    days = _month_to_date(conn, late) if rollups.USERS_MTD in rollups.CUMULATIVE else 0
    _advance_views(conn)
    dropped = _drop_partitions(conn, before=warm)
    expired = _expire_rollups(conn, now, tiers)
    kept = now - timedelta(days=feedback.cold_days(spec))
    rated = refresh_ratings_rollup(conn, now, kept)
    ratings = _expire_feedback(conn, kept)
    return MaintainReport(
        created, dropped, refreshed["hour"], refreshed["day"], expired, days, ratings, rated
    )


@contextmanager
def _unit(conn: psycopg.Connection) -> Iterator[None]:
    """One transaction, under the maintenance lock, with the session time zone set to UTC."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        # Partition bounds are made from dates and read back as text; both follow the time zone.
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        yield


def _floor(t: datetime, unit: timedelta) -> datetime:
    return EPOCH + (t - EPOCH) // unit * unit


def _ceil(t: datetime, unit: timedelta) -> datetime:
    floor = _floor(t, unit)
    return floor if floor == t else floor + unit


def _ensure_partitions(conn: psycopg.Connection, now: datetime) -> int:
    created = 0
    with _unit(conn):
        for ahead in range(DAYS_AHEAD + 1):
            day = (now + timedelta(days=ahead)).date()
            row = conn.execute("SELECT to_regclass(%s) IS NULL", (f"{T}_{day:%Y%m%d}",)).fetchone()
            conn.execute(f"SELECT {T}_ensure_partition(%s)", (day,))
            created += bool(row and row[0])
    return created


# The day partitions attached to llm_requests, oldest first, with their bounds. The bounds are read
# from the catalogue, not the name: pg_get_expr gives "FOR VALUES FROM ('<ts>') TO ('<ts>')", and each
# regular expression captures the quoted timestamp after FROM or TO (MINVALUE, MAXVALUE and DEFAULT
# have none, so they come back NULL). The name pattern keeps hand-attached tables out of retention.
PARTITIONS = rf"""SELECT c.relname,
    substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz,
    substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = '{T}'::regclass AND c.relname ~ '^{T}_[0-9]{{8}}$'
ORDER BY 2"""


def _partitions(conn: psycopg.Connection) -> list[tuple[str, datetime | None, datetime | None]]:
    return [(name, lower, upper) for name, lower, upper in conn.execute(PARTITIONS)]


def _refresh(
    conn: psycopg.Connection, rollup: Rollup, now: datetime, late: timedelta, keep_from: datetime
) -> int:
    """Recompute the changed buckets of `rollup` from `late` before its watermark up to the one
    holding `now`; returns how many."""
    stale: list[datetime] = []
    with _unit(conn):
        start, end = _window(conn, rollup, now, late, keep_from)
        if start < end:
            bounds = {"start": start, "end": end}
            stale = [bucket for (bucket,) in conn.execute(stale_buckets(rollup), bounds)]
        if stale:
            listed = {**bounds, "buckets": stale}
            conn.execute(f"DELETE FROM {rollup.store} WHERE bucket = ANY(%(buckets)s)", listed)
            conn.execute(refresh_insert(rollup, listed=True), listed)
        conn.execute(
            f"INSERT INTO {WATERMARKS} (rollup, computed_until) VALUES (%s, %s)"
            " ON CONFLICT (rollup) DO UPDATE"
            f" SET computed_until = greatest({WATERMARKS}.computed_until, EXCLUDED.computed_until)",
            (rollup.name, now),
        )
    return len(stale)


MONDAY = datetime(2000, 1, 3, tzinfo=UTC)  # weeks start on Monday, as date_trunc and time_bucket have them


def _month(t: datetime, ahead: int = 0) -> datetime:
    """The start of the UTC month holding `t`, or of the `ahead`th month after it."""
    months = t.year * 12 + t.month - 1 + ahead
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


def calendar_start(field: str, t: datetime) -> datetime:
    """The start of the UTC week (from Monday) or month holding `t`."""
    if field == "week":
        return MONDAY + (t - MONDAY) // timedelta(days=7) * timedelta(days=7)
    assert field == "month", field
    return _month(t)


def calendar_ceil(field: str, t: datetime) -> datetime:
    """The start of the first UTC week or month at or after `t`."""
    start = calendar_start(field, t)
    if start == t:
        return start
    return start + timedelta(days=7) if field == "week" else _month(t, 1)


def calendar_count(field: str, start: datetime, end: datetime) -> int:
    """How many UTC weeks or months there are from `start` to `end`, both bucket starts."""
    if field == "week":
        return (end - start) // timedelta(days=7)
    return (end.year - start.year) * 12 + end.month - start.month


def rederive(conn: psycopg.Connection, rollup: Rollup, start: datetime, end: datetime) -> None:
    """Recompute a weekly or monthly rollup's buckets in [start, end) from its parent's store, in the
    caller's transaction."""
    bounds = {"start": start, "end": end}
    conn.execute(f"DELETE FROM {rollup.store} WHERE bucket >= %(start)s AND bucket < %(end)s", bounds)
    conn.execute(rollups.derive_insert(rollup), bounds)


def _derive(
    conn: psycopg.Connection, rollup: Rollup, now: datetime, late: timedelta, keep_from: datetime
) -> int:
    """Recompute a weekly or monthly rollup's buckets from `late` before its watermark on, from its
    parent's store as this run left it, and take the parent's watermark: the store then holds exactly
    the raw rows before it, as the parent's does. Returns how many buckets."""
    assert rollup.parent is not None
    with _unit(conn):
        row = conn.execute(
            f"SELECT (SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s),"
            f" (SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s)",
            (rollup.name, rollup.parent.name),
        ).fetchone()
        base, until = row if row else (None, None)
        if until is None:  # the parent has never been computed: nothing to derive
            return 0
        # Every bucket of the parent's on the first run, less those retention deletes at the end of
        # this run anyway. The parent keeps its days as long as this one keeps its buckets, so only
        # the oldest bucket can hold days the parent no longer has, and it is only recomputed if `late`
        # reaches it: then it counts the days the parent still holds, as the parent does.
        start = calendar_start(rollup.field, keep_from)
        if base is not None:
            start = max(start, calendar_start(rollup.field, min(base, until) - late))
        rederive(conn, rollup, start, datetime.max.replace(tzinfo=UTC))
        conn.execute(
            f"INSERT INTO {WATERMARKS} (rollup, computed_until) VALUES (%s, %s)"
            " ON CONFLICT (rollup) DO UPDATE SET computed_until = EXCLUDED.computed_until",
            (rollup.name, until),
        )
    return calendar_count(rollup.field, start, calendar_ceil(rollup.field, until))


def recompute_month_to_date(
    conn: psycopg.Connection, start: datetime, end: datetime, days: list[datetime]
) -> None:
    """Recompute the month-to-date store's `days`, all in [start, end), from its day before `start`
    and the per-user daily rollup's store, in the caller's transaction."""
    if days:
        conn.execute(f"DELETE FROM {rollups.MTD_STORE} WHERE bucket = ANY(%s)", (days,))
        conn.execute(rollups.mtd_refresh_insert(), {"start": start, "end": end, "days": days})


def _month_to_date(conn: psycopg.Connection, late: timedelta) -> int:
    """Bring the month-to-date store up to the per-user daily rollup's store as this run left it:
    the complete days (before the one holding the daily store's watermark) from `late` before its
    own watermark whose count of requests changed (every day from the daily store's first, on the
    first run), and take that watermark. Returns how many days."""
    day = UNITS["day"]
    with _unit(conn):
        row = conn.execute(
            f"SELECT (SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s),"
            f" (SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s),"
            f" (SELECT min(bucket) FROM {rollups.USERS_DAILY.store})",
            (rollups.MTD, rollups.USERS_DAILY.name),
        ).fetchone()
        base, until, oldest = row if row else (None, None, None)
        if until is None:  # the daily store has never been computed
            return 0
        end = _floor(until, day)
        stale: list[datetime] = []
        if base is not None:
            start = _floor(min(base, until) - late, day)
            if start < end:
                stale = [d for (d,) in conn.execute(rollups.mtd_stale_days(), {"start": start, "end": end})]
        elif oldest is not None and oldest < end:
            start = oldest
            stale = [start + i * day for i in range((end - start) // day)]
        if stale:
            recompute_month_to_date(conn, start, end, stale)
        conn.execute(
            f"INSERT INTO {WATERMARKS} (rollup, computed_until) VALUES (%s, %s)"
            " ON CONFLICT (rollup) DO UPDATE SET computed_until = EXCLUDED.computed_until",
            (rollups.MTD, until),
        )
    return len(stale)


def _window(
    conn: psycopg.Connection, rollup: Rollup, now: datetime, late: timedelta, keep_from: datetime
) -> tuple[datetime, datetime]:
    """The raw rows to recompute buckets from, [start, end): whole buckets from `start` (aligned to
    the rollup's unit in UTC), up to `now` in the bucket holding it, which the views complete from the
    raw rows after the watermark, `now`."""
    # COALESCE evaluates lazily: min(time) is only read on the first run.
    row = conn.execute(
        f"SELECT coalesce((SELECT computed_until FROM {WATERMARKS} WHERE rollup = %s),"
        f" (SELECT min(time) FROM {T}), %s)",
        (rollup.name, now),
    ).fetchone()
    base: datetime = row[0] if row else now
    # Never short of the watermark (another run's `now` may be later than this one's): the store holds
    # exactly the rows before it, the views the rest.
    end = max(now, base)
    lowers = [lower for _, lower, _ in _partitions(conn) if lower is not None]
    # A bucket whose raw rows are gone can only be erased by a recompute, never rebuilt: start at the
    # oldest raw day still there (no partition at all: recompute nothing). And skip what retention
    # deletes at the end of this run anyway.
    limits = (min(lowers, default=end), keep_from)
    start = max([_floor(base - late, rollup.unit), *(_ceil(t, rollup.unit) for t in limits)])
    return start, end


def _advance_views(conn: psycopg.Connection) -> None:
    """Move each rollup view's boundary up to its new watermark. Rewriting a view waits for the
    queries reading it; if one holds it longer than the lock timeout, the views keep their older
    boundary until the next run, which is correct (more is read from raw rows), only slower."""
    try:
        with _unit(conn):
            conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            conn.execute(f"SELECT {rollups.ADVANCE_VIEWS}()")
    except psycopg.errors.LockNotAvailable:
        log.warning("maintain: the rollup views were busy; their boundary moves on the next run")


def _drop_partitions(conn: psycopg.Connection, before: datetime) -> int:
    """Drop the day partitions that end at or before `before`; returns how many."""
    dropped = 0
    with _unit(conn):
        conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
        for name, _, upper in _partitions(conn):
            if upper is not None and upper <= before:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped += 1
    return dropped


def refresh_ratings_rollup(conn: psycopg.Connection, now: datetime, keep_from: datetime) -> int:
    """Recompute the complete days of the ratings' daily rollup whose count of counted ratings differs
    from the stored one, over every day kept, then move its view's boundary to the start of today.
    Ratings are few, so every run compares every day (scripts/bench_feedback.py times it at a
    million): a rating given days ago that arrives or is matched late is counted on the next run,
    with no window to miss it. Returns the days recomputed."""
    if feedback.DAILY not in feedback.TABLES:
        return 0
    day = timedelta(days=1)
    stale_sql, insert_sql = feedback.refresh_days()
    bounds = {"start": _floor(keep_from, day), "end": _floor(now, day)}
    with _unit(conn):
        days = [d for (d,) in conn.execute(stale_sql, bounds)]
        if days:
            conn.execute(f"DELETE FROM {feedback.STORE} WHERE bucket = ANY(%(days)s)", {"days": days})
            conn.execute(insert_sql, {"days": days})
    try:
        with _unit(conn):
            conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            boundary = sql.Literal(bounds["end"]).as_string(conn)
            conn.execute(feedback.daily_view(f"{boundary}::timestamptz").encode())
    except psycopg.errors.LockNotAvailable:
        log.warning("maintain: the ratings' daily view was busy; its boundary moves on the next run")
    return len(days)


def _expire_feedback(conn: psycopg.Connection, before: datetime) -> int:
    """Ratings and their daily rollup go with the request rollups' daily buckets (the cold tier): the
    ratings hold their request's figures."""
    if feedback.T not in feedback.TABLES:
        return 0
    first_kept = _floor(before, timedelta(days=1))  # whole days, as the rollup's buckets
    with _unit(conn):
        expired = conn.execute(f"DELETE FROM {feedback.T} WHERE time < %s", (first_kept,)).rowcount
        conn.execute(f"DELETE FROM {feedback.STORE} WHERE bucket < %s", (first_kept,))
        return expired


def _expire_rollups(conn: psycopg.Connection, now: datetime, tiers: RetentionTiers) -> int:
    expired = 0
    with _unit(conn):
        for rollup in rollups.ROLLUPS:
            before = now - timedelta(days=rollup.kept_days(tiers))
            if rollup.derived:  # a week or month goes when all of its days have
                before = calendar_start(rollup.field, before)
            expired += conn.execute(f"DELETE FROM {rollup.store} WHERE bucket < %s", (before,)).rowcount
        # Month to date as long as the month's bucket of the monthly rollup: a range starting in a
        # month whose first days are gone reads that month less the days before its start, which
        # the stored days still count.
        before = calendar_start("month", now - timedelta(days=tiers.cold_days))
        for _ in (r for r in rollups.CUMULATIVE if r is rollups.USERS_MTD):
            expired += conn.execute(f"DELETE FROM {rollups.MTD_STORE} WHERE bucket < %s", (before,)).rowcount
    return expired
