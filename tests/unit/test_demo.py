"""`observatory demo` against a real HTTP endpoint: retries on 503 with backoff, progress lines, manifest."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from observatory import demo
from observatory.spec import load
from tests.conftest import REPO


class Endpoint:
    """Answers 503 to the first `refuse` POSTs, then 200; counts the bodies it accepted."""

    def __init__(self, refuse: int) -> None:
        self.refuse, self.accepted, self.paths = refuse, 0, []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if endpoint.refuse > 0:
                    endpoint.refuse -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                else:
                    endpoint.accepted += 1
                    endpoint.paths.append(self.path)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint(refuse=3)
    yield server
    server.server.shutdown()


def test_send_retries_refusals_and_delivers_every_request_once(endpoint: Endpoint) -> None:
    spec = load(REPO / "observatory.yaml")
    stderr = io.StringIO()
    traffic, report = demo.send(spec, demo.Options(endpoint=endpoint.url, traces=300), progress=stderr)
    assert report.retries == 3
    assert endpoint.accepted == report.requests == len(traffic.traces) + len(traffic.logs)
    assert endpoint.paths.count("/v1/logs") == len(traffic.logs)
    lines = stderr.getvalue().splitlines()
    assert "\r" not in stderr.getvalue() and 2 <= len(lines) <= 11, lines  # not a TTY: one per 10%
    assert lines[-1].startswith(f"demo: {report.spans}/{report.spans} spans (100%)")


def test_a_final_refusal_is_an_error_naming_the_status() -> None:
    server = Endpoint(refuse=100)
    try:
        spec = load(REPO / "observatory.yaml")
        with pytest.raises(demo.DemoError, match="gave up after 2 attempts; last: HTTP 503"):
            demo.send(spec, demo.Options(endpoint=server.url, traces=10, max_attempts=2), progress=None)
    finally:
        server.server.shutdown()


def test_the_manifest_holds_the_truth_per_application_and_model(endpoint: Endpoint, tmp_path: Path) -> None:
    spec = load(REPO / "observatory.yaml")
    options = demo.Options(endpoint=endpoint.url, traces=200, seed=3)
    traffic, report = demo.send(spec, options, progress=None)
    demo.write_manifest(tmp_path / "m.json", traffic, options, report)
    data = json.loads((tmp_path / "m.json").read_text())
    truth = traffic.truth
    assert data["totals"]["requests"] == sum(truth.requests.values())
    assert sum(m["requests"] for app in data["applications"].values() for m in app.values()) == len(
        truth.span_cost
    )
    assert data["error_trace_ids"] == sorted(truth.error_traces) and data["error_trace_ids"]
    assert data["dialect_spans"] == dict(truth.dialect_spans)
    assert data["totals"]["unpriced_requests"] > 0
