"""The ingester's listening socket as the kernel holds it: a backlog for bursts of connections."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_tool
from tests.processes.test_ingester import Ingester, ingester

__all__ = ["ingester"]  # the fixture, shared with test_ingester.py


def test_the_listen_backlog_holds_a_burst_of_1024_connections(ingester: Ingester) -> None:
    # socketserver listens with a backlog of 5: a burst of collector connections past the first few
    # was refused by the kernel before the ingester could accept them. For a listening socket `ss`
    # shows the backlog in its Send-Q column; the kernel caps it at net.core.somaxconn.
    ss = require_tool("ss")
    cap = int(Path("/proc/sys/net/core/somaxconn").read_text())
    out = subprocess.run(
        [ss, "-Hltn", f"sport = :{ingester.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    state, _queued, backlog = out[:3]
    assert (state, int(backlog)) == ("LISTEN", min(1024, cap)), out
