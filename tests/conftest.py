"""Shared test helpers: repository paths, real tools, free ports, waiting with a named timeout."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "specs"
GOLDEN = REPO / "tests" / "golden"
SCHEMAS = REPO / "tests" / "schemas"

T = TypeVar("T")


def require_tool(name: str) -> str:
    """The path of a command-line tool; skip without it, or fail under REQUIRE_TOOLS=1 (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make tools installs it from Debian packages)"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(f"{message}; REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(message)
    return path


def docker_unavailable_reason() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no Docker engine is reachable ({last})"
    return None


def require_docker() -> None:
    reason = docker_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason}; REQUIRE_DOCKER=1 forbids skipping")
    pytest.skip(f"{reason}: the container tests run in the GitHub Actions 'containers' job")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll_until(
    check: Callable[[], T], description: str, timeout_seconds: float = 30.0, interval_seconds: float = 0.2
) -> T:
    """Call `check` until it returns a truthy value; on timeout, fail naming what and the last error."""
    deadline = time.monotonic() + timeout_seconds
    last: str = "it returned nothing truthy"
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as err:  # any error is "not yet"; the last one is reported
            last = f"{type(err).__name__}: {err}"
        time.sleep(interval_seconds)
    pytest.fail(f"timed out after {timeout_seconds:.0f}s waiting for {description}; last error: {last}")


class RunningProcess:
    """A real server process for a test: started, waited for, and stopped, with its log kept."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = None if env is None else {**os.environ, **env}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], object], description: str, timeout_seconds: float = 60) -> None:
        def ready() -> object:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.argv[0]} exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            return check()

        poll_until(ready, description, timeout_seconds)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def start_prometheus(tmp_path: Path, extra_flags: tuple[str, ...] = ()) -> tuple[RunningProcess, str]:
    """A real Prometheus with the remote-write receiver on, on a free loopback port, ready."""
    import requests

    binary = require_tool("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    proc = RunningProcess(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            *extra_flags,
        ],
        tmp_path / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"Prometheus ready at {url}")
    except BaseException:
        proc.stop()
        raise
    return proc, url


def collector_binary() -> Path:
    """The collector built from the committed manifest (`make collector`); required in CI."""
    binary = REPO / ".cache/otelcol/build/otelcol-observatory"
    stamp = REPO / ".cache/otelcol/manifest.sha256"
    import hashlib

    current = hashlib.sha256((REPO / "stack/otel-collector/manifest.yaml").read_bytes()).hexdigest()
    if not binary.exists() or stamp.read_text().strip() != current:
        message = "the collector is not built from the current manifest (make collector builds it)"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(f"{message}; REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(message)
    return binary
