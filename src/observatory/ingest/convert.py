"""Request body to COPY data: decompress, decode, keep LLM spans, encode rows.

Converting spans is the ingester's costliest step. Two decoders do it and write the same bytes:
- "native" (the default): `observatory_native`, a Rust port of `rows` that reads the protobuf wire
  format directly, without a Python object per span or attribute, and releases the GIL;
- "python": `rows` + `copy_line`, the reference, kept for the tests that compare the two and for
  a machine where the extension cannot be built.
Either way protobuf parses the body first, so both accept and refuse exactly the same bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any

from observatory.ingest import decode
from observatory.ingest.rows import LLM_OPERATIONS, Row, rows

native: ModuleType | None
try:
    import observatory_native as native
except ImportError:  # pragma: no cover - CI installs it; see DECODERS
    native = None

DECODERS = ("native", "python")
_OPERATIONS = list(LLM_OPERATIONS)
_EPOCH_DAY = date(1970, 1, 1)
# COPY text format: tab between columns, newline between rows, \N for NULL, and these escaped. NUL
# cannot be stored in a PostgreSQL text value at all: it becomes U+FFFD instead of failing the batch.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\ufffd"})


@dataclass(frozen=True, slots=True)
class Converted:
    data: bytes  # rows in COPY text format
    rows: int
    spans: int
    days: tuple[date, ...]  # the UTC days the rows fall on (partitions to ensure)


def native_missing() -> str | None:
    """Why the native decoder cannot run here, or None when it can."""
    if native is not None:
        return None
    return (
        "the native decoder is not installed (package observatory-native, built from native/ with "
        "cargo by scripts/install.sh); install it, or run with --decoder=python, which is slower"
    )


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


def convert(
    body: bytes, media: str, encoding: str, max_decompressed_bytes: int, decoder: str = "native"
) -> Converted:
    """Everything between the HTTP body and the database; raises decode.BadRequest for bad input."""
    if encoding == "gzip":
        body = decode.gunzip(body, max_decompressed_bytes)
    elif encoding != "identity":
        raise decode.BadRequest(415, f"unsupported content encoding {encoding!r}: use gzip or none")
    request = decode.traces(body, media)  # protobuf decides what is malformed, for both decoders
    if decoder == "python" or native is None:
        lines, days, spans = [], set(), 0
        for row in rows(request):
            spans += 1
            if row is not None:
                lines.append(copy_line(row))
                days.add(row[0].date())
        return Converted("".join(lines).encode(), len(lines), spans, tuple(sorted(days)))
    wire = body if media == decode.PROTOBUF else request.SerializeToString()
    try:
        data, count, spans, day_numbers = native.copy_rows(wire, _OPERATIONS)
    except ValueError as err:  # protobuf accepted it, so this would be a bug in the port: say so
        raise decode.BadRequest(400, str(err)) from err
    return Converted(data, count, spans, tuple(_EPOCH_DAY + timedelta(days=d) for d in day_numbers))
