"""The GitHub Actions workflow, checked by actionlint: a workflow GitHub cannot parse runs no job at all."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO, go_tool


def test_actionlint_accepts_every_workflow() -> None:
    workflows = sorted((REPO / ".github/workflows").glob("*.yml"))
    assert workflows, "no workflow under .github/workflows"
    result = subprocess.run(
        [go_tool("actionlint"), "-no-color", *map(str, workflows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
