"""Every LLM request the collector acknowledged reaches the database exactly once, whatever crashes
on the way: the collector SIGKILLed ten times, the ingester SIGKILLed ten times, PostgreSQL stopped
with `-m immediate` three times, each while a 20,000-trace demo is being sent; and a collector whose
disk is full refuses requests (the client keeps them) rather than acknowledging what it cannot keep.

The figures are in docs/RELIABILITY.md, with the command that produced them.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from observatory.spec import load
from observatory.traffic import Workload, generate
from tests.conftest import poll_until
from tests.faults.pipeline import (
    SPEC_PATH,
    Client,
    Pipeline,
    assert_exactly_once,
    run_with_faults,
    span_ids,
)

TRACES = 20_000


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    from observatory.local import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL server binaries are not installed")
    stack = Pipeline(tmp_path)
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


def _demo(seed: int) -> tuple[list[bytes], set[str]]:
    """A 20,000-trace demo as applications send it (every dialect), and its LLM requests' span ids."""
    traffic = generate(
        load(SPEC_PATH), Workload(seed=seed, traces=TRACES, start_unix_nano=time.time_ns()), batch_traces=50
    )
    bodies = [message.SerializeToString() for message in traffic.traces]
    llm = set(traffic.truth.span_cost)
    assert llm <= set().union(*map(span_ids, bodies))
    return bodies, llm


def test_collector_sigkill_x10_loses_nothing_acknowledged(pipeline: Pipeline) -> None:
    bodies, llm = _demo(seed=21)
    client = Client(pipeline.collector.url, bodies)

    def crash() -> None:
        pipeline.collector.kill()
        pipeline.collector.start()

    run_with_faults(client, crash, times=10)
    assert pipeline.collector.starts == 11
    assert_exactly_once(pipeline.wait_for_rows(len(llm)), llm)


def test_ingester_sigkill_x10_loses_nothing_acknowledged(pipeline: Pipeline) -> None:
    bodies, llm = _demo(seed=22)
    client = Client(pipeline.collector.url, bodies)

    def crash() -> None:
        pipeline.ingester.kill()
        time.sleep(0.5)  # the collector's exports fail meanwhile, and are retried from its disk queue
        pipeline.ingester.start()

    run_with_faults(client, crash, times=10)
    assert pipeline.ingester.starts == 11
    assert_exactly_once(pipeline.wait_for_rows(len(llm)), llm)


def test_postgres_immediate_stop_x3_loses_nothing_acknowledged(pipeline: Pipeline) -> None:
    bodies, llm = _demo(seed=23)
    client = Client(pipeline.collector.url, bodies)

    def crash() -> None:
        pipeline.postgres.stop("immediate")  # no checkpoint, no clean shutdown: crash recovery on start
        time.sleep(2)
        pipeline.postgres.start()

    run_with_faults(client, crash, times=3)
    assert_exactly_once(pipeline.wait_for_rows(len(llm)), llm)


def test_a_full_disk_refuses_requests_instead_of_losing_them(pipeline: Pipeline) -> None:
    """The disk is "full" when the collector may not grow its queue files (a file-size limit set on
    the running process: writes past it fail with EFBIG, as they would with ENOSPC). With the ingester
    down the queue grows until it hits the limit; from then on the collector must answer errors, which
    an SDK retries, and after the disk has room again and the ingester is back, everything it
    acknowledged lands exactly once."""
    bodies, llm = _demo(seed=24)
    collector = pipeline.collector
    assert collector.proc is not None
    pipeline.ingester.kill()
    queues = [p for p in (collector.tmp / "queue").iterdir() if p.is_file()]
    limit = max(p.stat().st_size for p in queues) + 2**20
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    resource.prlimit(collector.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    client = Client(collector.url, bodies)
    sending = threading.Thread(target=client.run, name="client", daemon=True)
    sending.start()
    poll_until(
        lambda: sum(client.refusals.values()) >= 20,
        "the collector refusing requests once its disk is full",
        120,
    )
    time.sleep(3)  # a while on a full disk (a small request may still fit in a freed page)
    assert collector.alive(), f"the collector died of a full disk:\n{collector.proc.log_tail()}"
    assert client.sent < len(bodies) // 2, "the queue never filled: the test proves nothing"
    resource.prlimit(collector.proc.pid, resource.RLIMIT_FSIZE, unlimited)  # room on the disk again
    pipeline.ingester.start()
    sending.join(300)
    assert client.sent == len(bodies)
    print(f"full disk: refusals {dict(client.refusals)}")  # shown with -s; docs/RELIABILITY.md
    assert set(client.refusals) <= {"500", "503", "ConnectionError"}, client.refusals
    assert_exactly_once(pipeline.wait_for_rows(len(llm)), llm)
