"""The VS Code extension (editors/vscode/) built as a user builds it: `npm ci`, its Node tests against
this repository's CLI, and `vsce package`; the .vsix is then opened and checked.

Node and npm are on CI's machine, so under REQUIRE_TOOLS=1 a missing npm fails instead of skipping.
The integration test inside a real VS Code runs too where one is given (VSCODE_EXECUTABLE, or
OBSERVATORY_VSCODE_DOWNLOAD=1), and skips saying why elsewhere, which is every machine this project
runs on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from observatory.render import editor
from tests.conftest import REPO, require_tool

EXTENSION = REPO / "editors" / "vscode"
VSIX = EXTENSION / "llm-observatory.vsix"


def _npm(npm: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [npm, *args], cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm {' '.join(args)} exited {result.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """npm ci, npm test with the real CLI, npm run package; the output of the tests and of the integration."""
    npm = require_tool("npm")
    # The CLI of this checkout, whatever the venv's own install points at.
    cli = tmp_path_factory.mktemp("cli") / "observatory"
    cli.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO / "src"}" exec "{sys.executable}" -m observatory "$@"\n')
    cli.chmod(0o755)
    env = {**os.environ, "OBSERVATORY_TEST_CLI": str(cli), "NO_UPDATE_NOTIFIER": "1"}
    VSIX.unlink(missing_ok=True)
    _npm(npm, "ci", "--no-audit", "--no-fund", env=env)
    tests = _npm(npm, "test", env=env)
    _npm(npm, "run", "package", env=env)
    integration = _npm(npm, "run", "integration", env=env)
    return {"tests": tests, "integration": integration}


def test_the_extensions_node_tests_pass_with_none_skipped_against_this_repositorys_cli(
    built: dict[str, str],
) -> None:
    summary = {
        key: int(value)
        for key, value in (
            line.removeprefix("# ").split(" ", 1)
            for line in built["tests"].splitlines()
            if line.startswith(("# pass ", "# fail ", "# skipped "))
        )
    }
    assert summary["pass"] >= 30 and summary["fail"] == 0 and summary["skipped"] == 0, built["tests"]


def test_the_vsix_holds_the_manifest_the_compiled_extension_and_the_committed_schema(
    built: dict[str, str],
) -> None:
    with zipfile.ZipFile(VSIX) as vsix:
        names = set(vsix.namelist())
        assert {
            "extension.vsixmanifest",
            "extension/package.json",
            "extension/readme.md",
            "extension/out/src/extension.js",
            "extension/out/src/problems.js",
            "extension/schema/observatory.schema.json",
        } <= names
        schema = vsix.read("extension/schema/observatory.schema.json")
    assert schema == (REPO / editor.SCHEMA_PATH).read_bytes()
    sources = ("extension/src/", "extension/test/", "extension/out/test/")
    assert not [n for n in names if n.startswith(sources)]
    assert not [n for n in names if "node_modules" in n]


def test_the_integration_test_runs_in_vs_code_or_says_why_it_cannot(built: dict[str, str]) -> None:
    # npm exited 0: the suite passed in VS Code, or there was none to run in, and it said how to get one
    # (nothing is downloaded unless asked: this project's machines reach only package registries).
    output = built["integration"]
    if "skipped: no VS Code to run in" in output:
        assert "VSCODE_EXECUTABLE" in output and "OBSERVATORY_VSCODE_DOWNLOAD=1" in output, output
