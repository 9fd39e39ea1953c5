"""The ingester's own Prometheus metrics, in the text exposition format (no client library needed)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable

# Write latencies of a batch: milliseconds to a few seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._hist: dict[str, list[float]] = {}  # per bucket counts, then +Inf count and sum

    def inc(self, name: str, doc: str, value: float = 1, **labels: str) -> None:
        with self._lock:
            self._help.setdefault(name, ("counter", doc))
            key = (name, tuple(sorted(labels.items())))
            self._counters[key] = self._counters.get(key, 0) + value

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        self._help[name] = ("gauge", doc)
        self._gauges[name] = read

    def observe(self, name: str, doc: str, value: float) -> None:
        with self._lock:
            self._help.setdefault(name, ("histogram", doc))
            hist = self._hist.setdefault(name, [0.0] * (len(BUCKETS) + 2))
            hist[bisect_left(BUCKETS, value)] += 1
            hist[-1] += value

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get((name, tuple(sorted(labels.items()))), 0)

    def render(self) -> str:
        lines = []
        with self._lock:
            for name, (kind, doc) in sorted(self._help.items()):
                lines += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
                if kind == "counter":
                    for (metric, labels), value in sorted(self._counters.items()):
                        if metric == name:
                            label = ",".join(f'{k}="{v}"' for k, v in labels)
                            lines.append(f"{name}{{{label}}} {value:g}" if label else f"{name} {value:g}")
                elif kind == "gauge":
                    lines.append(f"{name} {self._gauges[name]():g}")
                else:
                    hist, running = self._hist[name], 0.0
                    for edge, count in zip((*BUCKETS, "+Inf"), hist[:-1], strict=True):
                        running += count
                        lines.append(f'{name}_bucket{{le="{edge}"}} {running:g}')
                    lines += [f"{name}_sum {hist[-1]:g}", f"{name}_count {running:g}"]
        return "\n".join(lines) + "\n"
