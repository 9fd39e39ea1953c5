"""The redact processor's Go unit tests (collector/redactprocessor/), run with the Go toolchain that
builds the collector: the walker over every text of spans, logs and metrics, key collisions, pattern
order and config errors. CI has Go, so under REQUIRE_TOOLS=1 a missing Go fails instead of skipping."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO, go_command

MODULE = REPO / "collector" / "redactprocessor"


def test_the_redact_processors_go_tests_pass() -> None:
    result = subprocess.run(
        [go_command(), "test", "-count=1", "./..."],
        cwd=MODULE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "ok" in result.stdout, result.stdout


def test_the_redact_processors_go_sources_are_formatted_and_vetted() -> None:
    go = go_command()
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


def test_the_collector_build_is_redone_when_the_processors_sources_change(tmp_path: Path) -> None:
    """The build script's stamp covers the manifest's `path:` modules, not only the manifest."""
    for part in ("scripts/build-collector.sh", "stack/otel-collector/manifest.yaml", "collector"):
        source, copy = REPO / part, tmp_path / part
        copy.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, copy)

    def stamp() -> str:
        script = tmp_path / "scripts/build-collector.sh"
        return subprocess.run([str(script), "--stamp"], capture_output=True, text=True, check=True).stdout

    first = stamp()
    assert stamp() == first
    source = tmp_path / "collector/redactprocessor/redactor.go"
    source.write_text(source.read_text() + "\n// changed\n")
    assert stamp() != first
