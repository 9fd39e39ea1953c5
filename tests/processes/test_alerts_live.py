"""The rendered rules and Alertmanager config end to end: a real Prometheus scrapes synthetic LLM
metrics that break the error objective, evaluates the rules, and a real Alertmanager delivers the
burn-rate page and the Watchdog, with labels, annotations and runbook link, to a webhook here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from observatory.render import alertmanager, alerts
from observatory.render.artifact import serialize
from observatory.spec import parse
from tests.conftest import ManagedProcess, free_port, poll_until, require_tool

STARTED = time.monotonic()
REQUESTS_PER_SECOND = 100.0  # far above the burn-rate alerts' minimum request rate
ERROR_SHARE = 0.5  # 50 times the 1% budget: every burn-rate window breaks


def _metrics() -> str:
    """Counters in the text exposition format, growing with time since the module was loaded."""
    seconds = time.monotonic() - STARTED + 60  # as if traffic had run for a minute already
    ok = REQUESTS_PER_SECOND * (1 - ERROR_SHARE) * seconds
    failed = REQUESTS_PER_SECOND * ERROR_SHARE * seconds
    return (
        "# TYPE llm_requests_total counter\n"
        f'llm_requests_total{{application="live-app"}} {ok}\n'
        f'llm_requests_total{{application="live-app",error_type="timeout"}} {failed}\n'
    )


class _Handler(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_GET(self) -> None:
        body = _metrics().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """One local server: GET serves the synthetic /metrics, POST is the Alertmanager webhook."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    received: list[dict[str, Any]] = []
    server.received = received  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


def _render(tmp_path: Path, webhook: str) -> None:
    spec = parse(
        "version: v1\nalerting:\n  default_receiver: hook\n  group_wait_seconds: 1\n"
        f"  group_interval_seconds: 1\n  receivers:\n    - {{name: hook, webhook: {{url: '{webhook}'}}}}\n",
        "live.yaml",
    )
    for artifact in [*alerts.render(spec), *alertmanager.render(spec)]:
        if artifact.path.startswith(alerts.TESTS_DIR):
            continue
        content = artifact.content
        if artifact.path in (alerts.ALERTING_RULES,):
            # Only in this temporary copy: every `for` becomes 1 s, so alerts that hold for minutes
            # in production fire within seconds here. The expressions and thresholds are untouched.
            for group in content["groups"]:
                for rule in group["rules"]:
                    rule["for"] = "1s"
        path = tmp_path / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize(artifact, "live.yaml"))


def _start(argv: list[str], log: Path, url: str, what: str) -> ManagedProcess:
    proc = ManagedProcess(argv, log)
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"{what} ready at {url}", 30)
    except BaseException:
        proc.stop()
        raise
    return proc


def _alerts(received: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        a["labels"]["alertname"]: a for body in received for a in body["alerts"] if a["status"] == "firing"
    }


def test_a_broken_error_objective_and_the_watchdog_reach_the_webhook(
    tmp_path: Path, http_server: tuple[int, list[dict[str, Any]]]
) -> None:
    prometheus = require_tool("prometheus")
    am_binary = require_tool("prometheus-alertmanager")
    port, received = http_server
    _render(tmp_path, f"http://127.0.0.1:{port}/hook")
    am_port, prom_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "alerts/*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "llm", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    am = _start(
        [
            am_binary,
            f"--config.file={tmp_path / alertmanager.ALERTMANAGER_CONFIG}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
        f"http://127.0.0.1:{am_port}",
        "Alertmanager",
    )
    try:
        prom = _start(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp_path / "prometheus.log",
            f"http://127.0.0.1:{prom_port}",
            "Prometheus",
        )
        try:
            got = poll_until(
                lambda: {"LLMErrorBudgetBurn", "Watchdog"} <= set(_alerts(received)) and _alerts(received),
                "the burn-rate page and the Watchdog at the webhook",
                timeout_seconds=75,
                interval_seconds=0.5,
            )
        finally:
            prom.stop()
    finally:
        am.stop()
    burn = got["LLMErrorBudgetBurn"]
    assert burn["labels"]["application"] == "live-app"
    assert burn["labels"]["severity"] == "critical"
    assert burn["annotations"]["summary"].startswith("live-app is burning its error budget")
    assert burn["annotations"]["runbook_url"].endswith("/docs/runbooks/LLMErrorBudgetBurn.md")
    assert "live-app's LLM requests failed" in burn["annotations"]["description"]
    assert got["Watchdog"]["labels"]["severity"] == "none"
    assert got["Watchdog"]["annotations"]["runbook_url"].endswith("/Watchdog.md")
