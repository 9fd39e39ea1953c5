"""The redact processor's Go unit tests (collector/redactprocessor/), run with the Go toolchain that
builds the collector: the walker over every text of spans, logs and metrics, key collisions, pattern
order and config errors. CI has Go, so under REQUIRE_TOOLS=1 a missing Go fails instead of skipping."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.conftest import REPO, missing_tool

MODULE = REPO / "collector" / "redactprocessor"


def _go() -> str:
    # Where Go's installer puts it, for a PATH without it (scripts/build-collector.sh looks there too).
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        missing_tool("Go is not installed (https://go.dev/dl/; the collector build needs it too)")
    return go


def test_the_redact_processors_go_tests_pass() -> None:
    result = subprocess.run(
        [_go(), "test", "-count=1", "./..."],
        cwd=MODULE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "ok" in result.stdout, result.stdout


def test_the_redact_processors_go_sources_are_formatted_and_vetted() -> None:
    go = _go()
    unformatted = subprocess.run(
        [str(os.path.join(os.path.dirname(go), "gofmt")), "-l", "."],
        cwd=MODULE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert unformatted == "", f"gofmt -w these: {unformatted}"
    vet = subprocess.run(
        [go, "vet", "./..."], cwd=MODULE, capture_output=True, text=True, timeout=600, check=False
    )
    assert vet.returncode == 0, vet.stderr[-4000:]
