"""The proxy's Go unit tests (proxy/*_test.go): SSE parsing, usage and error reading per API, the
hidden usage chunk, header rewriting, span encoding. `go test` runs them; this test runs `go test` so
`make test` and CI do too. Go is on CI's machine (it builds the collector and the proxy), so under
REQUIRE_TOOLS=1 a missing `go` fails instead of skipping.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO, go_command


def test_the_proxys_go_unit_tests_pass() -> None:
    # Go's own build cache (the default) keeps a rerun to seconds; the standard library is all it uses.
    result = subprocess.run(
        [go_command(), "test", "-count=1", "./..."],
        cwd=REPO / "proxy",
        env={**os.environ, "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"go test ./... in proxy/ exited {result.returncode}:\n{output[-6000:]}"
    assert "ok  \t" in output, output
