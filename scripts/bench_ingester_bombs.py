"""Resident memory of the ingester under gzip bombs: each a small body that inflates past the limit.

Starts the ingester (no database needed: a bomb is refused before any write), sends N bombs one at a
time and then N more, C at a time, and prints its resident memory (VmRSS) before and after each, and
its peak (VmHWM). `--before REV` runs the ingester's code at a git revision too, in the same run, for
a baseline on the same machine:

    .venv/bin/python scripts/bench_ingester_bombs.py --before HEAD~3
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import requests

from observatory.processes import ManagedProcess, free_port

REPO = Path(__file__).resolve().parent.parent


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def measure(label: str, src: Path, bomb: bytes, count: int, concurrency: int, tmp: Path) -> None:
    port = free_port()
    proc = ManagedProcess(
        [sys.executable, "-m", "observatory", "--spec", str(REPO / "observatory.yaml"), "ingest",
         f"--listen=127.0.0.1:{port}", "--dsn=postgresql://127.0.0.1:1/none"],
        tmp / f"ingester-{label.replace(' ', '-')}.log",
        {"PYTHONPATH": str(src)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/healthz", timeout=2).ok, "ingester up", 60)
        start = _status(proc.pid, "VmRSS")
        answers: list[int] = []
        for _ in range(count):
            answers.append(
                requests.post(f"{url}/v1/traces", data=bomb, headers=headers, timeout=120).status_code
            )
        sequential = _status(proc.pid, "VmRSS")

        def send() -> None:
            for _ in range(count // concurrency):
                answers.append(
                    requests.post(f"{url}/v1/traces", data=bomb, headers=headers, timeout=120).status_code
                )

        threads = [threading.Thread(target=send) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        concurrent = _status(proc.pid, "VmRSS")
        peak = _status(proc.pid, "VmHWM")
    finally:
        proc.stop()
    mib = 2**20
    codes = {code: answers.count(code) for code in sorted(set(answers))}
    print(
        f"{label:>24}: RSS {start / mib:6.1f} MiB at start, {sequential / mib:6.1f} after {count} bombs "
        f"one at a time, {concurrent / mib:6.1f} after {count} more {concurrency} at a time; "
        f"peak {peak / mib:6.1f} MiB; answers {codes}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bombs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--inflated-mib", type=int, default=1024, help="what one bomb inflates to")
    parser.add_argument("--before", help="a git revision whose ingester to measure too (baseline)")
    args = parser.parse_args()
    bomb = gzip.compress(bytes(args.inflated_mib * 2**20), 9)
    print(f"a bomb: {len(bomb)} bytes inflating to {args.inflated_mib} MiB")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.before:
            tree = tmp / "before"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.before], check=True, cwd=REPO
            )
            try:
                measure(f"at {args.before}", tree / "src", bomb, args.bombs, args.concurrency, tmp)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True, cwd=REPO)
        measure("this tree", REPO / "src", bomb, args.bombs, args.concurrency, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
