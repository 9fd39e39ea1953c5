"""OTLP logs in, ratings out: the ingester's side of user feedback (`observatory.sql.feedback`).

POST /v1/logs takes what the collector's feedback pipeline sends: log records named
`gen_ai.evaluation.result` (in `event_name`, or the older `event.name` attribute). Each becomes one
row of the feedback table; records with another name are skipped (counted, not refused), and a rating
that cannot be stored is refused with its reason and place in OTLP's partial success:

- `no_trace`: no trace id (or all zeros): nothing to join it to;
- `no_name`: no `gen_ai.evaluation.name`;
- `no_score`: neither a finite `gen_ai.evaluation.score.value` nor a `gen_ai.evaluation.score.label`;
- `bad_time`: given more than `max_future_seconds` from now, or before the cold tier.

Ratings are few (one per rated answer at most), so they are inserted and committed in the request's
thread before the answer, and a database that is down gets 503 and Retry-After: the collector keeps
the batch in its queue and sends it again (a retried rating is ignored by the table's key).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from observatory.ingest import decode
from observatory.sql import feedback as sql

log = logging.getLogger("observatory.ingest")

REFUSALS = ("no_trace", "no_name", "no_score", "bad_time")
MAX_TEXT = 4096  # characters of a comment or label kept (the rest is cut, not refused)
MATCH_SECONDS = 5.0  # how often the ingester looks for the requests of unmatched ratings
STATEMENT_MS = 10_000  # the longest an insert or a match may take
_ZERO_TRACE = bytes(16)


@dataclass
class Ratings:
    rows: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0  # log records received
    refused: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)  # reason -> where its first record was

    @property
    def skipped(self) -> int:
        return self.records - len(self.rows) - sum(self.refused.values())

    def refuse(self, reason: str, where: str) -> None:
        self.refused[reason] += 1
        self.first.setdefault(reason, where)


def parse(body: bytes, media: str) -> ExportLogsServiceRequest:
    """The logs export request in `body`; BadRequest 400 when it does not parse (a whole body: ratings
    are few and small, so there is no salvage record by record as there is for spans)."""
    request = ExportLogsServiceRequest()
    if media == decode.PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as err:
            raise decode.BadRequest(400, f"malformed OTLP logs protobuf: {err}") from None
        return request
    data = decode.load_json(body)
    if not isinstance(data, dict):
        raise decode.BadRequest(400, "OTLP JSON must be an object with resourceLogs")
    try:
        decode.hex_ids_to_base64(data)
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except decode.JSON_ERRORS as err:
        if isinstance(err, decode.BadRequest):
            raise
        raise decode.BadRequest(400, f"malformed OTLP logs JSON: {str(err)[:200]}") from None
    return request


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:MAX_TEXT].replace("\0", "\ufffd")


def ratings(request: ExportLogsServiceRequest, now_ns: int, oldest_ns: int, future_ns: int) -> Ratings:
    """The rows of the ratings in `request`, given at or after `oldest_ns` and at most `future_ns`
    after `now_ns`."""
    out = Ratings()
    for r, resource_logs in enumerate(request.resource_logs):
        resource = _attributes(resource_logs.resource.attributes)
        source = _text(resource.get("service.name")) or "unknown_service"
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for i, record in enumerate(scope_logs.log_records):
                out.records += 1
                attributes = _attributes(record.attributes)
                name = record.event_name or attributes.get("event.name")
                if name != sql.EVENT_NAME:
                    continue
                where = f"resource {r} scope {s} log record {i}"
                row = _rating(record, attributes, source, now_ns, oldest_ns, future_ns)
                if isinstance(row, str):
                    out.refuse(row, where)
                else:
                    out.rows.append(row)
    return out


def _rating(
    record: Any, attributes: dict[str, Any], source: str, now_ns: int, oldest_ns: int, future_ns: int
) -> dict[str, Any] | str:
    """A rating's row, or the reason it is refused."""
    trace = bytes(record.trace_id)
    if len(trace) != 16 or trace == _ZERO_TRACE:
        return "no_trace"
    name = _text(attributes.get("gen_ai.evaluation.name"))
    if name is None:
        return "no_name"
    score = attributes.get("gen_ai.evaluation.score.value")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        score = None
    label = _text(attributes.get("gen_ai.evaluation.score.label"))
    if score is None and label is None:
        return "no_score"
    given = record.time_unix_nano or record.observed_time_unix_nano or now_ns
    if given > now_ns + future_ns or given < oldest_ns:
        return "bad_time"
    span = bytes(record.span_id)
    return {
        "time": datetime.fromtimestamp(given // 10**9, UTC).replace(microsecond=given % 10**9 // 1000),
        "trace_id": trace.hex(),
        "span_id": span.hex() if len(span) == 8 and any(span) else "",
        "name": name,
        "score": float(score) if score is not None else None,
        "label": label,
        "comment": _text(attributes.get("gen_ai.evaluation.explanation")),
        "rater_id": _text(attributes.get("user.id")),
        "source": source,
        "response_id": _text(attributes.get("gen_ai.response.id")),
    }


def response(media: str, refused: int, message: str) -> bytes:
    answer = ExportLogsServiceResponse()
    if refused:
        answer.partial_success.rejected_log_records = refused
        answer.partial_success.error_message = message
    if media == decode.JSON:
        return json_format.MessageToJson(answer, indent=None).encode()
    return answer.SerializeToString()


class Store:
    """Inserts ratings and matches them to their requests, on a connection of its own (opened when
    first needed, and again after it fails)."""

    def __init__(self, dsn: str, on_matched: Callable[[int], None] | None = None) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self._on_matched = on_matched

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            # A database that hangs fails the request (503, the collector retries) instead of holding
            # every ratings request behind this connection's lock.
            self._conn = psycopg.connect(
                self.dsn, connect_timeout=5, autocommit=False, options=f"-c statement_timeout={STATEMENT_MS}"
            )
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """The connection in a transaction, under the lock; closed (to be opened again) on a failure."""
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error:
                conn.close()
                raise

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Insert `rows` and match what can be matched, in one transaction; returns the rows that
        were new. Raises psycopg.Error when the database cannot take them (nothing is stored then)."""
        with self._transaction() as conn, conn.cursor() as cur:
            new = 0
            for row in rows:
                cur.execute(sql.insert(), row)
                new += cur.rowcount
            matched = cur.execute(sql.match()).rowcount
        if self._on_matched and matched:
            self._on_matched(matched)
        return new

    def match(self) -> int:
        """Match the ratings still waiting for their request; returns how many were matched."""
        with self._transaction() as conn:
            matched = conn.execute(sql.match()).rowcount
        if self._on_matched and matched:
            self._on_matched(matched)
        return matched

    def match_forever(self, stopping: threading.Event, every: float = MATCH_SECONDS) -> None:
        """Until `stopping`: a rating whose request was not written yet when it arrived finds it
        within `every` seconds of the request's arrival."""
        while not stopping.wait(every):
            try:
                self.match()
            except psycopg.Error as err:
                log.warning("matching ratings to requests failed, will retry: %s", err)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
