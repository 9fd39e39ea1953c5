"""Process helpers: waits name what they waited for, and a process that never gets ready is stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observatory.processes import ManagedProcess, ProcessExited, free_port, poll_until, port_is_free


def test_free_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    """A port the kernel may give an outgoing connection can be taken between choosing and binding."""
    low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(not low <= p <= high and port_is_free(p) for p in ports), (low, high, ports)


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
