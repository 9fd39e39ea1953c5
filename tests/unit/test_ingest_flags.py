"""The ingest command's limits: values that cannot work are refused at start, all at once, by flag."""

from __future__ import annotations

import pytest

from observatory.cli import main
from tests.conftest import SPECS

SPEC = str(SPECS / "valid" / "postgres.yaml")


def test_every_impossible_limit_is_named_at_once_and_nothing_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = [
        "--socket-timeout-seconds=0",
        "--max-age-days=-1",
        "--max-future-seconds=-5",
        "--batch-rows=0",
        "--max-inflight-bytes=-1",
    ]
    status = main(["--spec", SPEC, "ingest", "--decoder=python", "--dsn=postgresql://127.0.0.1:1/x", *flags])
    assert status == 2
    assert capsys.readouterr().err == (
        "observatory ingest: --max-inflight-bytes must be >= 1, got -1; --batch-rows must be >= 1, got 0; "
        "--max-future-seconds must be >= 0, got -5; --max-age-days must be >= 1, got -1; "
        "--socket-timeout-seconds must be > 0 and finite, got 0\n"
    )


def test_nan_is_refused_as_a_timeout_and_as_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    # NaN compares false with everything: a check written as `value < low` would let it through.
    status = main(
        ["--spec", SPEC, "ingest", "--decoder=python", "--dsn=postgresql://127.0.0.1:1/x",
         "--socket-timeout-seconds=nan", "--max-future-seconds=nan"]
    )  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err == (
        "observatory ingest: --max-future-seconds must be >= 0, got nan; "
        "--socket-timeout-seconds must be > 0 and finite, got nan\n"
    )


def test_an_infinite_socket_timeout_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # A socket cannot wait for ever by a timeout: settimeout(inf) raises in the request's thread.
    status = main(
        ["--spec", SPEC, "ingest", "--decoder=python", "--dsn=postgresql://127.0.0.1:1/x",
         "--socket-timeout-seconds=inf"]
    )  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err == (
        "observatory ingest: --socket-timeout-seconds must be > 0 and finite, got inf\n"
    )
