"""The database writer: a bounded queue of pending requests, written in groups with COPY.

A request is acknowledged only after its rows are committed (group commit: the writer takes every
request waiting, up to a batch size, and commits them together), so a crash loses only requests
that were never acknowledged, which the sender retries. Rows go through a temporary staging table
into `INSERT ... ON CONFLICT DO NOTHING` on the table's unique key, so a retried request never
creates duplicates. When the queue is full or the database is down, `submit` refuses at once and
the HTTP layer answers 503 with Retry-After: the queue never grows without bound. When the database
refuses a group's rows themselves (a data or constraint error, not a lost connection), each request
is written alone, and a request it refuses is split in halves until the rows it refuses are alone:
those are reported (OTLP partial success), and the request's other rows are stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from observatory import names
from observatory.ingest.convert import Converted
from observatory.ingest.metrics import Metrics
from observatory.sql.columns import NAMES

log = logging.getLogger("observatory.ingest")
STAGING = f"{names.TABLE_REQUESTS}_staging"
_COLS = sql.SQL(", ").join(map(sql.Identifier, NAMES))


@dataclass
class Pending:
    batch: Converted
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    # Rows the database refused themselves (a value or constraint it will never take): retrying
    # cannot help, so they are reported as refused and the request's other rows are stored.
    refused_rows: int = 0
    refused_detail: str = ""


# SQLSTATEs that mean "these rows", not "this connection" or "this schema": class 22 data
# exception, class 23 integrity constraint violation, and 54000 program limit exceeded, which a COPY
# into this table raises for a row alone: a text value too long for a btree index (a request model or
# application over ~2.7 kB once compressed). psycopg files 54000 under OperationalError, which would
# make the row a lost connection: 503, retried for ever, and its neighbours never stored.
_ROW_ERRORS = (
    psycopg.errors.DataError,
    psycopg.errors.IntegrityError,
    psycopg.errors.ProgramLimitExceeded,
)


class Writer:
    def __init__(
        self,
        dsn: str,
        partitioned: bool,
        metrics: Metrics,
        max_queue_rows: int,
        batch_rows: int,
    ) -> None:
        self.dsn, self.partitioned, self.metrics = dsn, partitioned, metrics
        self.max_queue_rows, self.batch_rows = max_queue_rows, batch_rows
        self._queue: deque[Pending] = deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._conn: psycopg.Connection | None = None
        self.healthy = False
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        metrics.gauge(names.INGESTER_QUEUE_ROWS, "Rows waiting to be written", lambda: self._queued_rows)
        metrics.gauge(
            names.INGESTER_QUEUE_CAPACITY, "Rows the queue holds before refusing", lambda: self.max_queue_rows
        )
        metrics.gauge(
            "ingester_database_up", "1 when the last write or connect succeeded", lambda: int(self.healthy)
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: Converted) -> Pending | None:
        """Queue rows for writing; None when they cannot be taken now (full, database down, stopping)."""
        with self._cond:
            full = self._queued_rows > 0 and self._queued_rows + batch.rows > self.max_queue_rows
            if self._stopping or not self.healthy or full:
                return None
            pending = Pending(batch)
            self._queue.append(pending)
            self._queued_rows += batch.rows
            self._cond.notify()
            return pending

    def stop(self, timeout_seconds: float = 30) -> None:
        """Refuse new rows, write what is queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout_seconds)

    def _take(self) -> list[Pending]:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait(1.0)
            group: list[Pending] = []
            count = 0
            while self._queue and (not group or count + self._queue[0].batch.rows <= self.batch_rows):
                pending = self._queue.popleft()
                group.append(pending)
                count += pending.batch.rows
            self._queued_rows -= count
            return group

    def _run(self) -> None:
        backoff = 0.5
        while True:
            if self._conn is None and not self._connect():
                if self._stopping and not self._queue:
                    return
                self._fail_all("database unavailable")
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            backoff = 0.5
            group = self._take()
            if not group:
                if self._stopping:
                    self._close()
                    return
                continue
            self._write_group(group)

    def _connect(self) -> bool:
        try:
            self._conn = psycopg.connect(self.dsn, connect_timeout=5)
            with self._conn.transaction():
                self._conn.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
                        " ON COMMIT DELETE ROWS"
                    ).format(sql.Identifier(STAGING), sql.Identifier(names.TABLE_REQUESTS))
                )
        except psycopg.Error as err:
            log.warning("cannot connect to the database: %s", err)
            self._close()
            return False
        self.healthy = True
        return True

    def _write_group(self, group: list[Pending]) -> None:
        data = b"".join(pending.batch.data for pending in group)
        count = sum(pending.batch.rows for pending in group)
        days = sorted({day for pending in group for day in pending.batch.days})
        started = time.monotonic()
        try:
            inserted = self._write(data, count, days)
        except _ROW_ERRORS as err:
            # One request's rows must not fail the others grouped with it, forever (the sender
            # retries): write each alone, and split the one the database refuses.
            if len(group) > 1:
                for pending in group:
                    self._write_group([pending])
                return
            try:
                self._write_bisecting(group[0], group[0].batch.data.splitlines(keepends=True), days, err)
            except psycopg.Error as lost:  # the connection went while splitting: retried as a whole
                log.warning("writing %d rows failed: %s", count, lost)
                self._close()
                group[0].error = f"database write failed: {type(lost).__name__}"
                self.metrics.inc("ingester_write_failures_total", "Batches whose write failed")
            group[0].done.set()
            return
        except psycopg.Error as err:
            log.warning("writing %d rows failed: %s", count, err)
            self._close()
            for pending in group:
                pending.error = f"database write failed: {type(err).__name__}"
                pending.done.set()
            self.metrics.inc("ingester_write_failures_total", "Batches whose write failed")
            return
        self.metrics.observe("ingester_write_seconds", "Time to write one batch", time.monotonic() - started)
        self.metrics.inc("ingester_batches_written_total", "Batches committed")
        self.metrics.inc(
            "ingester_rows_written_total", "Rows inserted (retried duplicates excluded)", inserted
        )
        self.metrics.inc("ingester_rows_duplicate_total", "Rows already present (retries)", count - inserted)
        for pending in group:
            pending.done.set()

    def _write_bisecting(
        self, pending: Pending, lines: list[bytes], days: list[date], err: Exception
    ) -> None:
        """Store the rows in `lines` the database takes, splitting around the ones it refuses (COPY
        text has a row per line: newlines inside values are escaped)."""
        if len(lines) == 1:
            log.warning("the database refused a row: %s", err)
            pending.refused_rows += 1
            pending.refused_detail = pending.refused_detail or str(err).splitlines()[0][:200]
            self.metrics.inc("ingester_rows_refused_total", "Rows the database refused (not retried)")
            return
        middle = len(lines) // 2
        for half in (lines[:middle], lines[middle:]):
            try:
                inserted = self._write(b"".join(half), len(half), days)
            except _ROW_ERRORS as refused:
                self._write_bisecting(pending, half, days, refused)
                continue
            self.metrics.inc(
                "ingester_rows_written_total", "Rows inserted (retried duplicates excluded)", inserted
            )

    def _write(self, data: bytes, count: int, days: list[date]) -> int:
        """Insert the rows in `data` (COPY text), skipping those already present; the number inserted.

        Fast path: COPY straight into the table. A unique violation means the batch is (partly) a
        retry: roll back to the savepoint and take the slow path, COPY into the staging table and
        INSERT ... ON CONFLICT DO NOTHING. Either way it is one transaction.
        """
        assert self._conn is not None
        with self._conn.transaction(), self._conn.cursor() as cur:
            if self.partitioned:
                cur.execute(
                    sql.SQL("SELECT {}(d) FROM unnest(%s::date[]) AS d").format(
                        sql.Identifier(f"{names.TABLE_REQUESTS}_ensure_partition")
                    ),
                    (days,),
                )
            try:
                with self._conn.transaction():
                    self._copy(cur, names.TABLE_REQUESTS, data)
                return count
            except psycopg.errors.UniqueViolation:
                self.metrics.inc("ingester_retried_batches_total", "Batches that held rows already written")
            self._copy(cur, STAGING, data)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier(names.TABLE_REQUESTS), _COLS, _COLS, sql.Identifier(STAGING)
                )
            )
            return cur.rowcount

    @staticmethod
    def _copy(cur: psycopg.Cursor[Any], table: str, data: bytes) -> None:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), _COLS)) as copy:
            copy.write(data)

    def _fail_all(self, reason: str) -> None:
        with self._cond:
            failed, self._queue = list(self._queue), deque()
            self._queued_rows = 0
        for pending in failed:
            pending.error = reason
            pending.done.set()

    def _close(self) -> None:
        self.healthy = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
