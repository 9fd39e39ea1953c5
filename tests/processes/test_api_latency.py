"""The query API's latency percentiles, from a real Prometheus running the rendered recording rules.

A local /metrics endpoint serves request-duration histograms whose buckets grow in fixed proportions
(as if traffic had a steady latency distribution); Prometheus scrapes it and evaluates
alerts/observatory-recording.yml every second. Every rate sample then has the same bucket
proportions, so the API's percentile must equal `histogram_quantile`'s interpolation over those
proportions, computed here by hand. Model names carry regex metacharacters (`gemini-2.5-flash`):
a filter must match the name, not a pattern.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from observatory import names
from observatory.api import metrics
from observatory.api.store import Filter, QueryError
from tests.conftest import REPO, ManagedProcess, free_port, poll_until, require_tool

BOUNDS = names.DURATION_BUCKETS_SECONDS
# Requests per second landing in each bucket (not cumulative), per (application, model). No quantile
# asked for ranks exactly on a bucket's cumulative count: there the answer is either bucket's edge
# by float rounding (a rank of 18 on a count of 18 gave 3.0 where 2.0 was expected, once the counters
# had run for 20 minutes).
SHAPES = {
    ("chat", "gemini-2.5-flash"): {0.25: 1.0, 0.5: 3.0, 1: 6.0, 2: 8.0, 5: 3.0},
    ("search", "gpt-4o"): {1: 2.0, 3: 4.5, 10: 3.0, 30: 0.5, float("inf"): 0.5},
}
STARTED = time.monotonic()


def _series() -> str:
    seconds = time.monotonic() - STARTED + 60
    lines = ["# TYPE llm_request_duration_seconds histogram"]
    for (app, model), shape in SHAPES.items():
        labels = f'application="{app}",environment="prod",provider="p",model="{model}",operation="chat"'
        total = 0.0
        for le in (*BOUNDS, float("inf")):
            total += shape.get(le, 0.0)
            bound = "+Inf" if le == float("inf") else repr(float(le))
            lines.append(f'llm_request_duration_seconds_bucket{{{labels},le="{bound}"}} {total * seconds}')
        lines.append(f"llm_request_duration_seconds_count{{{labels}}} {total * seconds}")
    return "\n".join(lines) + "\n"


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _series().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_tool("prometheus")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp: Path = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {REPO / 'alerts' / 'observatory-recording.yml'}\n"
        "scrape_configs:\n  - job_name: synthetic\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.server_address[1]}']\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    proc = ManagedProcess(argv, tmp / "prometheus.log")
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"Prometheus at {url}", 30)
        yield url
    finally:
        proc.stop()
        server.shutdown()


def _quantile(q: float, shape: dict[float, float]) -> float:
    """histogram_quantile over these bucket rates: linear inside the bucket holding rank q."""
    bounds = (*BOUNDS, float("inf"))
    cumulative, total = [], 0.0
    for le in bounds:
        total += shape.get(le, 0.0)
        cumulative.append(total)
    rank = q * total
    i = next(i for i, c in enumerate(cumulative) if c >= rank)
    if bounds[i] == float("inf"):
        return float(bounds[i - 1])
    lower, below = (0.0, 0.0) if i == 0 else (float(bounds[i - 1]), cumulative[i - 1])
    return lower + (float(bounds[i]) - lower) * (rank - below) / (cumulative[i] - below)


def _latency(url: str, **kwargs: object) -> list[dict[str, object]]:
    end = datetime.now(UTC)
    return metrics.latency(url, end - timedelta(minutes=10), end, **kwargs)  # type: ignore[arg-type]


# Rule evaluations every bucket series must have in the window before percentiles are compared: the
# first ones, made while Prometheus had scraped only a sample or two, are not the steady state the
# test is about (a CI run once saw one bucket short of its share right after start-up).
STEADY_EVALUATIONS = 10


def _evaluations(url: str) -> float:
    """The fewest rule evaluations any recorded bucket series has in the last 10 minutes."""
    query = f"min(count_over_time({metrics.KINDS['duration']}[10m]))"
    result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_each_percentile_equals_histogram_quantile_over_the_bucket_rates(prometheus: str) -> None:
    quantiles = (0.5, 0.9, 0.95, 0.99)
    poll_until(
        lambda: _evaluations(prometheus) >= STEADY_EVALUATIONS, "the recording rule's steady state", 60
    )
    rows = poll_until(
        lambda: (
            len(got := _latency(prometheus, group=["application", "model"], quantiles=quantiles)) == 2 and got
        ),
        "latency rows for both synthetic applications",
        60,
    )
    for row in rows:
        shape = SHAPES[(row["application"], row["model"])]  # type: ignore[index]
        for q in quantiles:
            want = _quantile(q, shape)
            assert row["quantiles"][q] == pytest.approx(want, rel=1e-6), (row, q, want)  # type: ignore[index]


def test_a_filter_matches_a_dotted_model_name_exactly(prometheus: str) -> None:
    poll_until(lambda: _latency(prometheus, group=["model"], quantiles=[0.5]), "any latency row", 60)
    (row,) = _latency(prometheus, group=["model"], quantiles=[0.5], flt=Filter.of(model=["gemini-2.5-flash"]))
    assert row["model"] == "gemini-2.5-flash"
    assert row["quantiles"] == {0.5: pytest.approx(_quantile(0.5, SHAPES[("chat", "gemini-2.5-flash")]))}
    assert (
        _latency(prometheus, group=["model"], quantiles=[0.5], flt=Filter.of(model=["gemini-2x5-flash"]))
        == []
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group": ["user"], "quantiles": [0.5]}, "cannot be grouped or filtered by user"),
        ({"group": [], "quantiles": [1.5]}, "between 0 and 1"),
        ({"group": [], "quantiles": []}, "between 0 and 1"),
    ],
)
def test_bad_latency_arguments_are_refused_with_the_reason(
    prometheus: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        _latency(prometheus, **kwargs)


def test_without_prometheus_latency_says_so_and_a_dead_one_is_unavailable() -> None:
    end = datetime.now(UTC)
    with pytest.raises(QueryError, match="needs Prometheus"):
        metrics.latency(None, end - timedelta(hours=1), end, [], [0.5])
    with pytest.raises(metrics.Unavailable):
        metrics.latency(f"http://127.0.0.1:{free_port()}", end - timedelta(hours=1), end, [], [0.5])
