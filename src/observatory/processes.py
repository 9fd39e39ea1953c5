"""Real server processes on loopback: free ports, start with a log, wait until ready, stop cleanly.

Used by the tests, the benchmarks and the local stack. Waits go through `poll_until`, whose timeout
names what it waited for and the last error it saw.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


_given: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (Linux; elsewhere its usual default)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range: a port the kernel picked for a
    listener (bind to 0) is one it may give any outgoing connection before the server binds it, which
    once made a collector fail with "address already in use". Never the same one twice per process."""
    low, _ = _ephemeral_range()
    rng = random.Random()
    for _attempt in range(200):
        port = rng.randrange(10000, low) if low > 11000 else rng.randrange(low, 65536)
        if port not in _given and port_is_free(port):
            _given.add(port)
            return port
    with socket.socket() as sock:  # the old way, should every try be taken
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `host:port` can be listened on now (another process may still take it before we do)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def poll_until(
    check: Callable[[], T], description: str, timeout_seconds: float = 30.0, interval_seconds: float = 0.2
) -> T:
    """Call `check` until it returns something truthy; on timeout raise TimeoutError saying what and why."""
    deadline = time.monotonic() + timeout_seconds
    last = "it returned nothing truthy"
    while True:
        try:
            result = check()
            if result:
                return result
        except ProcessExited:
            raise
        except Exception as err:  # any error means "not yet"; the last one is reported
            last = f"{type(err).__name__}: {err}"
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout_seconds:.0f}s waiting for {description}; last error: {last}"
            )
        time.sleep(interval_seconds)


class ProcessExited(RuntimeError):
    """A managed process ended while something waited for it."""


class ManagedProcess:
    """A server process with its output in a log file."""

    def __init__(
        self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, detach: bool = False
    ) -> None:
        """`detach` starts it in a session of its own, so it outlives its starter and the terminal."""
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = None if env is None else {**os.environ, **env}
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if detach else None,
            env=full_env,
            start_new_session=detach,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], object], description: str, timeout_seconds: float = 60) -> None:
        def ready() -> object:
            if self.proc.poll() is not None:
                raise ProcessExited(
                    f"{Path(self.argv[0]).name} exited with {self.proc.returncode}; log:\n{self.log_tail()}"
                )
            return check()

        try:
            poll_until(ready, description, timeout_seconds)
        except BaseException:
            self.stop()  # a process that never became ready is not left running behind the error
            raise

    def stop(self, timeout_seconds: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL: the crash a fault test wants, with no chance to flush or clean up."""
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used, from /proc (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory (VmHWM), from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def tree_peak_rss_bytes(self) -> int:
        """Peak resident memory of the process and all its descendants, each at its own peak, summed
        (an upper bound of their peak together), from /proc (Linux)."""
        return sum(_peak_rss(pid) for pid in _descendants(self.pid))


def _peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:  # it exited meanwhile
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # it exited meanwhile
                todo += [int(child) for child in task.read_text().split()]
    return found
