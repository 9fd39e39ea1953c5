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
from observatory.ingest.decode import Position
from observatory.ingest.rows import LLM_OPERATIONS, REFUSALS, Row, Window, rows

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
    spans: int  # received, refused ones included
    days: tuple[date, ...]  # the UTC days the rows fall on (partitions to ensure)
    # (reason, spans) for spans left out: decode.MALFORMED reasons, then rows.REFUSALS, in that order
    refused: tuple[tuple[str, int], ...] = ()
    repaired: int = 0  # text values whose NUL characters became U+FFFD
    # (reason, where) of the first span refused for each reason: its place in the body as sent, and
    # for the MALFORMED reasons why it does not parse ("resource 0 scope 1 span 7: ...").
    first: tuple[tuple[str, str], ...] = ()

    @property
    def rejected(self) -> int:
        return sum(n for _, n in self.refused)

    @property
    def detail(self) -> str:
        """Where the first span that does not parse is and why ("" when every span parses)."""
        return next((note for reason, note in self.first if reason in decode.MALFORMED), "")


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


def _repaired(row: Row) -> int:
    """Text values of `row` holding NUL, which PostgreSQL text cannot store (it becomes U+FFFD)."""
    return sum(1 for value in row if isinstance(value, str) and "\0" in value)


def _refused(decoded: decode.Decoded, counts: list[int]) -> tuple[tuple[str, int], ...]:
    pairs = zip(REFUSALS, counts, strict=True)
    return decoded.refused + tuple((reason, n) for reason, n in pairs if n)


def _first(decoded: decode.Decoded, firsts: list[Position | None]) -> tuple[tuple[str, str], ...]:
    return decoded.first + tuple(
        (reason, decode.where(decoded.position(at)))
        for reason, at in zip(REFUSALS, firsts, strict=True)
        if at is not None
    )


def _position(request: Any, n: int) -> Position:
    """(resource, scope, span) of the `n`th span (from 0) `rows` visits: found when a span is refused,
    so that the loop over every span does not pay for it."""
    for r, rs in enumerate(request.resource_spans):
        for s, ss in enumerate(rs.scope_spans):
            if n < len(ss.spans):
                return r, s, n
            n -= len(ss.spans)
    raise IndexError(n)


def convert(
    body: bytes,
    media: str,
    encoding: str,
    max_decompressed_bytes: int,
    decoder: str = "native",
    window: Window | None = None,
) -> Converted:
    """Everything between the HTTP body and the database; raises decode.BadRequest for a body that
    cannot be read at all. Spans that cannot be stored are counted in `refused`, by reason."""
    body = decode.inflate(body, encoding, max_decompressed_bytes)
    decoded = decode.traces(body, media)  # protobuf decides what is malformed, for both decoders
    request, malformed = decoded.request, decoded.malformed
    if decoder == "python" or native is None:
        lines, days, spans, repaired = [], set(), 0, 0
        counts = [0] * len(REFUSALS)
        firsts: list[Position | None] = [None] * len(REFUSALS)
        for row in rows(request, window):
            spans += 1
            if isinstance(row, str):
                reason = REFUSALS.index(row)
                counts[reason] += 1
                firsts[reason] = firsts[reason] or _position(request, spans - 1)
            elif row is not None:
                lines.append(copy_line(row))
                days.add(row[0].date())
                repaired += _repaired(row)
        return Converted(
            "".join(lines).encode(),
            len(lines),
            spans + malformed,
            tuple(sorted(days)),
            _refused(decoded, counts),
            repaired,
            _first(decoded, firsts),
        )
    wire = body if media == decode.PROTOBUF and not malformed else request.SerializeToString()
    earliest, latest = (window.earliest, window.latest) if window else (0, 2**64 - 1)
    try:
        data, count, spans, day_numbers, counts, firsts, repaired = native.copy_rows(
            wire, _OPERATIONS, earliest, latest
        )
    except ValueError as err:  # protobuf accepted it, so this would be a bug in the port: say so
        raise decode.BadRequest(400, str(err)) from err
    return Converted(
        data,
        count,
        spans + malformed,
        tuple(_EPOCH_DAY + timedelta(days=d) for d in day_numbers),
        _refused(decoded, counts),
        repaired,
        _first(decoded, firsts),
    )
