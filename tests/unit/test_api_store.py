"""How the query API splits a range into rollup tiers, and its schema's committed SDL."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from observatory.api import store, traces
from observatory.api.report import parse_since
from observatory.api.server import ApiConfigError, authorised, check_exposure, digest

pytestmark = pytest.mark.unit
DATA = Path(__file__).parents[1] / "data" / "tempo"
T0 = datetime(2026, 1, 30, 22, 47, 13, tzinfo=UTC)


def _aligned(t: datetime, field: str) -> bool:
    return store._floor(t, field) == t


@pytest.mark.parametrize(
    "fields", [("month", "day", "hour"), ("day", "hour"), ("month", "day"), ("day",), ()]
)
def test_pieces_cover_the_range_once_each_of_whole_buckets_of_its_tier(fields: tuple[str, ...]) -> None:
    rng = random.Random(5)
    for _ in range(300):
        start = T0 + timedelta(minutes=rng.randrange(-200_000, 200_000))
        end = start + timedelta(minutes=rng.choice((1, 59, 61, 1500, 50_000, 200_000)) + rng.randrange(100))
        parts = store.pieces(start, end, fields)
        assert parts[0][1] == start and parts[-1][2] == end
        assert all(a[2] == b[1] for a, b in itertools.pairwise(parts)), parts
        for field, a, b in parts:
            assert a < b
            if field is not None:
                assert _aligned(a, field) and _aligned(b, field), (field, a, b)
            elif fields:  # raw minutes only where no whole bucket of the finest tier fits
                assert (
                    b - a
                    < {"hour": timedelta(hours=2), "day": timedelta(days=2), "month": timedelta(days=62)}[
                        fields[-1]
                    ]
                )


def test_a_month_range_reads_the_month_whole_and_only_the_minutes_at_either_end_raw() -> None:
    start, end = datetime(2025, 12, 31, 23, 30, tzinfo=UTC), datetime(2026, 3, 1, 0, 10, tzinfo=UTC)
    assert store.pieces(start, end, ("month", "day", "hour")) == [
        (None, start, datetime(2026, 1, 1, tzinfo=UTC)),
        ("month", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (None, datetime(2026, 3, 1, tzinfo=UTC), end),
    ]


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    row = {"time": T0, "trace_id": "a" * 32, "span_id": "b" * 16}
    assert store.decode_cursor(store.encode_cursor(row)) == (T0, "a" * 32, "b" * 16)
    for bad in ("", "####", "bm90IGEgY3Vyc29y"):
        with pytest.raises(store.QueryError, match="not a cursor"):
            store.decode_cursor(bad)


def test_tokens_are_compared_by_digest_and_a_missing_token_only_serves_loopback() -> None:
    tokens = [digest("s3cret-token-0123456789")]
    assert authorised("Bearer s3cret-token-0123456789", tokens)
    assert authorised("bearer  s3cret-token-0123456789 ", tokens)
    for header in (None, "", "Bearer", "Basic s3cret-token-0123456789", "Bearer s3cret-token-012345678"):
        assert not authorised(header, tokens)
    check_exposure("127.0.0.1", [], insecure_loopback=True)
    check_exposure("::1", [], insecure_loopback=True)
    for host, insecure in (("127.0.0.1", False), ("0.0.0.0", True), ("api.example", True)):
        with pytest.raises(ApiConfigError):
            check_exposure(host, [], insecure)


@pytest.mark.parametrize(("text", "hours"), [("30m", 0.5), ("24h", 24), ("7d", 168), ("2w", 336)])
def test_since_reads_a_number_and_a_unit(text: str, hours: float) -> None:
    assert parse_since(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1d", "1.5h", "3y"])
def test_since_refuses_anything_else_saying_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="m, h, d or w"):
        parse_since(text)


@pytest.mark.parametrize("version", ["2.10.8", "3.0.3"])
def test_a_trace_as_real_tempo_answers_it_reads_with_hex_ids_and_its_attributes(version: str) -> None:
    # Captured from Tempo binaries of those versions (one-off, outside the repository) after a GenAI
    # trace of two spans was sent to their OTLP receivers: ids come back base64-encoded.
    found = json.loads((DATA / f"trace-{version}.json").read_text())
    root, chat = traces.spans(found)
    assert (root["span_id"], root["parent_span_id"], root["name"]) == (
        "00f067aa0ba902b7",
        None,
        "handle ticket",
    )
    assert (chat["span_id"], chat["parent_span_id"]) == ("a1b2c3d4e5f60718", "00f067aa0ba902b7")
    assert (root["service"], root["status"], chat["status"]) == ("support-bot", "error", "error")
    assert (root["duration_ms"], chat["duration_ms"]) == (3000.0, 2000.0)
    assert dict(chat["attributes"]) == {
        "error.type": "rate_limit",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": "812",
    }
