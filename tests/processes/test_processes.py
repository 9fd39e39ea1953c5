"""Process helpers: waits name what they waited for, and a process that never gets ready is stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observatory.processes import ManagedProcess, ProcessExited, poll_until


def test_a_timeout_names_what_was_awaited_and_the_last_error() -> None:
    def failing() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError, match=r"waiting for the thing; last error: ConnectionError: refused"):
        poll_until(failing, "the thing", timeout_seconds=0.3, interval_seconds=0.05)


def test_a_process_that_never_becomes_ready_is_stopped_not_left_running(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    proc = ManagedProcess([sleep, "60"], tmp_path / "sleep.log")
    with pytest.raises(TimeoutError, match="never ready"):
        proc.wait_ready(lambda: False, "never ready", timeout_seconds=0.5)
    assert proc.proc.poll() is not None


def test_a_process_that_exits_while_awaited_says_so_with_its_log(tmp_path: Path) -> None:
    sh = shutil.which("sh")
    assert sh is not None
    proc = ManagedProcess([sh, "-c", "echo broken config; exit 3"], tmp_path / "sh.log")
    with pytest.raises(ProcessExited, match=r"(?s)exited with 3.*broken config"):
        proc.wait_ready(lambda: False, "ready", timeout_seconds=10)
