"""Benchmark: the ingester's decoding step alone, in rows per CPU-second, for each decoder.

`convert()` on what the collector's store pipeline sends (LLM spans only, requests of the batch
processor's size, gzipped protobuf), in this process, without HTTP or the database: a change to the
decoders shows here long before the noise of an end-to-end run (scripts/bench_ingester.py) lets it.
CPU time, not wall time, so other work on a shared machine weighs less; the best of --rounds.
To compare with an earlier revision, run it with that revision's sources and native build first on
PYTHONPATH, alternating with this tree's (docs/BENCHMARKS.md):

    .venv/bin/python scripts/bench_decode.py --traces 20000
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

from bench_ingester import SPEC_PATH, store_pipeline_requests

from observatory.ingest.convert import DECODERS, convert
from observatory.ingest.rows import Window
from observatory.spec import load
from observatory.traffic import Workload, generate


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    now = time.time_ns()
    workload = Workload(
        seed=1, traces=args.traces, start_unix_nano=now - 3600 * 10**9, as_collector_output=True
    )
    traffic = generate(load(Path(SPEC_PATH)), workload, batch_traces=40)
    bodies = [gzip.compress(request.SerializeToString()) for request in store_pipeline_requests(traffic)]
    window = Window(now - 30 * 86_400 * 10**9, now + 600 * 10**9)
    for decoder in DECODERS:
        best, rows = 0.0, 0
        for _ in range(args.rounds):
            started, rows = time.process_time(), 0
            for body in bodies:
                rows += convert(body, "application/x-protobuf", "gzip", 64 * 2**20, decoder, window).rows
            best = max(best, rows / (time.process_time() - started))
        print(f"{decoder}: {len(bodies)} requests, {rows} rows, {best:,.0f} rows per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
