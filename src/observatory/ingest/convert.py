"""Request body to COPY data, in a worker process: decompress, decode, keep LLM spans, encode rows.

Converting spans is the ingester's costliest step (Python reads every attribute through protobuf's
objects), so it runs in a pool of processes; each returns the rows already in COPY's text format,
and the process that owns the database connection only streams those bytes (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from observatory.ingest import decode
from observatory.ingest.rows import Row, rows

# COPY text format: tab between columns, newline between rows, \N for NULL, and these escaped. NUL
# cannot be stored in a PostgreSQL text value at all: it becomes U+FFFD instead of failing the batch.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\ufffd"})


@dataclass(frozen=True, slots=True)
class Converted:
    data: bytes  # rows in COPY text format
    rows: int
    spans: int
    days: tuple[date, ...]  # the UTC days the rows fall on (partitions to ensure)


def _field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def copy_line(row: Row) -> str:
    return "\t".join(map(_field, row)) + "\n"


def convert(body: bytes, media: str, encoding: str, max_decompressed_bytes: int) -> Converted:
    """Everything between the HTTP body and the database; raises decode.BadRequest for bad input."""
    if encoding == "gzip":
        body = decode.gunzip(body, max_decompressed_bytes)
    elif encoding != "identity":
        raise decode.BadRequest(415, f"unsupported content encoding {encoding!r}: use gzip or none")
    lines, days, spans = [], set(), 0
    for row in rows(decode.traces(body, media)):
        spans += 1
        if row is not None:
            lines.append(copy_line(row))
            days.add(row[0].date())
    return Converted("".join(lines).encode(), len(lines), spans, tuple(sorted(days)))
