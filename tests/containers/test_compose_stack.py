"""The container stack from the repository's own docker-compose.yml, with testcontainers.

Demo traffic goes in through the collector's published OTLP port; out must come exact totals in
Prometheus, a kept error trace in Tempo by its id, that trace's logs in Loki, every dashboard and
every datasource healthy in Grafana, and a dashboard panel's query answered through Grafana's API.

Needs a Docker engine: without one these tests skip with the reason (and fail under
REQUIRE_DOCKER=1, as in the GitHub Actions 'containers' job, so they cannot silently stop running).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from observatory import demo, names
from observatory.local import env_file
from observatory.render import compose_env, prometheus
from observatory.spec import load
from observatory.traffic import Traffic
from tests import trace_and_log_checks as checks
from tests.conftest import REPO, poll_until, require_docker

LOGS = REPO / ".cache/compose-stack.log"  # the stack's logs, kept for CI after the containers go

pytestmark = pytest.mark.containers


class Stack:
    def __init__(self, compose: object, credentials: tuple[str, str], secrets: dict[str, str]) -> None:
        self.compose = compose
        self.credentials = credentials
        self.secrets = secrets

    def url(self, service: str, port: int) -> str:
        host, mapped = self.compose.get_service_host_and_port(service, port)  # type: ignore[attr-defined]
        return f"http://{host}:{mapped}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_docker()
    from testcontainers.compose import DockerCompose

    secrets_env: Path = tmp_path_factory.mktemp("secrets") / "secrets.env"
    env_file.ensure(secrets_env)  # what make up writes: every secret the compose file needs
    kept = env_file.read(secrets_env)
    compose = DockerCompose(
        context=str(REPO),
        compose_file_name="docker-compose.yml",
        env_file=[str(REPO / compose_env.IMAGES_ENV), str(REPO / compose_env.SETTINGS_ENV), str(secrets_env)],
        pull=False,  # `up` pulls what it lacks; `pull` would also look for the ingester image it builds
        build=True,
        wait=True,
    )
    try:
        compose.start()
        yield Stack(compose, ("admin", kept[names.ENV_GRAFANA_ADMIN_PASSWORD]), kept)
    finally:
        # For CI's "stack logs on failure" step: the containers are gone once stop() has run.
        with contextlib.suppress(subprocess.CalledProcessError):  # never hide the failure itself
            stdout, stderr = compose.get_logs()
            LOGS.parent.mkdir(parents=True, exist_ok=True)
            LOGS.write_text(stdout + stderr)
        compose.stop()


@pytest.fixture(scope="module")
def traffic(stack: Stack) -> Traffic:
    """Demo traffic sent to the collector once the stack is up; its ground truth."""
    endpoint = stack.url(names.SVC_COLLECTOR, names.PORT_OTLP_HTTP)
    poll_until(
        lambda: (
            requests.post(
                f"{endpoint}/v1/traces",
                data=b"",
                timeout=5,
                headers={"Content-Type": "application/x-protobuf"},
            ).ok
        ),
        "the collector's OTLP/HTTP receiver",
        180,
    )
    sent, _report = demo.send(
        load(REPO / "observatory.yaml"), demo.Options(endpoint=endpoint, traces=300, seed=31), progress=None
    )
    return sent


def test_tempo_and_loki_become_ready(stack: Stack) -> None:
    checks.ready(stack.url(names.SVC_TEMPO, names.PORT_TEMPO_HTTP), "Tempo")
    checks.ready(stack.url(names.SVC_LOKI, names.PORT_LOKI_HTTP), "Loki")


def test_grafana_has_every_provisioned_datasource_and_they_answer(stack: Stack, traffic: Traffic) -> None:
    grafana = stack.url(names.SVC_GRAFANA, names.PORT_GRAFANA)
    poll_until(lambda: requests.get(f"{grafana}/api/health", timeout=5).ok, "Grafana /api/health", 180)
    anonymous = requests.get(f"{grafana}/api/datasources", timeout=5)
    assert anonymous.status_code == 401  # anonymous access is off
    listed = requests.get(f"{grafana}/api/datasources", auth=stack.credentials, timeout=10).json()
    assert {ds["uid"] for ds in listed} == {
        names.DS_PROMETHEUS,
        names.DS_TEMPO,
        names.DS_LOKI,
        names.DS_SQL,
        names.DS_ALERTMANAGER,
    }
    # Datasources with a backend health check answer /health; Tempo's and Alertmanager's are tested by
    # Grafana's frontend through the datasource proxy, as here.
    for uid in (names.DS_PROMETHEUS, names.DS_LOKI, names.DS_SQL):
        url = f"{grafana}/api/datasources/uid/{uid}/health"
        health = poll_until(
            lambda url=url: (r := requests.get(url, auth=stack.credentials, timeout=10)).ok and r.json(),
            f"Grafana datasource {uid} healthy",
            120,
        )
        assert health["status"] == "OK", health
    proxied = {names.DS_TEMPO: "api/echo", names.DS_ALERTMANAGER: "api/v2/status"}
    for uid, path in proxied.items():
        url = f"{grafana}/api/datasources/proxy/uid/{uid}/{path}"
        poll_until(
            lambda url=url: requests.get(url, auth=stack.credentials, timeout=10).ok,
            f"Grafana datasource {uid} answering through the proxy ({path})",
            120,
        )


def test_prometheus_scrapes_every_component_with_the_spec_retention(stack: Stack) -> None:
    url = stack.url(names.SVC_PROMETHEUS, names.PORT_PROMETHEUS)
    spec = load(REPO / "observatory.yaml")
    jobs = {job for job, _, _ in prometheus.scrape_targets(spec)}

    def all_up() -> bool:
        targets = requests.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"} == jobs

    poll_until(all_up, f"every scrape job up: {sorted(jobs)}", timeout_seconds=180)
    flags = requests.get(f"{url}/api/v1/status/flags", timeout=5).json()["data"]
    assert flags["storage.tsdb.retention.time"] == prometheus.retention_flag_value(spec)


def test_timescaledb_runs_with_the_extension_installed(stack: Stack) -> None:
    spec = load(REPO / "observatory.yaml")
    query = "SELECT extname FROM pg_extension WHERE extname = 'timescaledb'"
    try:  # testcontainers raises on a non-zero exit rather than returning the code
        stdout, _stderr, _code = stack.compose.exec_in_container(  # type: ignore[attr-defined]
            ["psql", "-U", names.DB_WRITER_USER, "-d", spec.storage.database, "-tAc", query],
            names.SVC_TIMESCALEDB,
        )
    except subprocess.CalledProcessError as err:
        pytest.fail(f"psql in the timescaledb container failed: {err.stderr.decode(errors='replace')}")
    assert stdout.strip() == "timescaledb"


def test_exact_request_totals_reach_prometheus(stack: Stack, traffic: Traffic) -> None:
    url = stack.url(names.SVC_PROMETHEUS, names.PORT_PROMETHEUS)
    want = {k: float(v) for k, v in traffic.truth.requests.items()}

    def totals() -> dict[tuple[str, str], float]:
        query = f"sum by (application, model) ({names.METRIC_REQUESTS})"
        result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"][
            "result"
        ]
        return {(r["metric"]["application"], r["metric"]["model"]): float(r["value"][1]) for r in result}

    poll_until(lambda: totals() == want, "request totals per application and model equal to the truth", 180)


def test_the_query_api_answers_spend_with_the_token_and_refuses_without(
    stack: Stack, traffic: Traffic
) -> None:
    url = stack.url("api", 8090) + "/graphql"
    query = '{ spend(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { total { requests } } }'
    assert requests.post(url, json={"query": query}, timeout=10).status_code == 401
    want = sum(traffic.truth.requests.values())
    headers = {"Authorization": f"Bearer {stack.secrets[names.ENV_API_TOKEN]}"}

    def total() -> int:
        answer = requests.post(url, json={"query": query}, headers=headers, timeout=30).json()
        return int(answer["data"]["spend"]["total"]["requests"])

    poll_until(lambda: total() == want, f"{want} requests in the query API's spend total", 180)


def test_a_kept_error_trace_is_found_in_tempo_by_id(stack: Stack, traffic: Traffic) -> None:
    url = stack.url(names.SVC_TEMPO, names.PORT_TEMPO_HTTP)
    checks.trace_by_id(url, sorted(traffic.truth.error_traces)[0], traffic)


def test_the_traces_logs_are_found_in_loki_by_trace_id(stack: Stack, traffic: Traffic) -> None:
    url = stack.url(names.SVC_LOKI, names.PORT_LOKI_HTTP)
    checks.logs_by_trace_id(url, sorted(traffic.truth.error_traces)[0], traffic)


def test_grafana_has_every_dashboard_and_answers_a_panel_query(stack: Stack, traffic: Traffic) -> None:
    grafana = stack.url(names.SVC_GRAFANA, names.PORT_GRAFANA)
    spec = load(REPO / "observatory.yaml")
    search = requests.get(
        f"{grafana}/api/search", params={"type": "dash-db"}, auth=stack.credentials, timeout=10
    )
    enabled = {names.DASHBOARD_UIDS[d.name] for d in spec.dashboards.dashboards if d.enabled}
    assert enabled <= {d["uid"] for d in search.json()}
    # The overview's first Prometheus panel query, its variables set to "everything".
    overview = json.loads((REPO / "dashboards" / f"{names.DASHBOARD_UIDS['overview']}.json").read_text())
    target = next(
        t
        for p in overview["panels"]
        for t in p.get("targets", [])
        if t.get("datasource", {}).get("uid") == names.DS_PROMETHEUS and t.get("expr")
    )
    expr = re.sub(
        r"\$\{?[a-z_]+(?::[a-z]+)?\}?",
        ".*",
        target["expr"]
        .replace("$__rate_interval", "5m")
        .replace("$__range", "1h")
        .replace("$__interval", "1m"),
    )
    body = {
        "from": "now-1h",
        "to": "now",
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "prometheus", "uid": names.DS_PROMETHEUS},
                "expr": expr,
                "instant": True,
                "range": False,
            }
        ],
    }

    def values() -> list[object]:
        answer = requests.post(
            f"{grafana}/api/ds/query", json=body, auth=stack.credentials, timeout=20
        ).json()
        frames = answer["results"]["A"].get("frames", [])
        return [v for f in frames for column in f["data"]["values"][1:] for v in column]

    poll_until(values, f"data for the overview panel query {expr!r} through Grafana", 180)


def test_every_trace_and_log_panel_query_answers_for_dotted_and_multi_valued_selections(
    stack: Stack, traffic: Traffic
) -> None:
    tempo = stack.url(names.SVC_TEMPO, names.PORT_TEMPO_HTTP)
    loki = stack.url(names.SVC_LOKI, names.PORT_LOKI_HTTP)
    checks.every_panel_query_answers(load(REPO / "observatory.yaml"), tempo, loki, traffic)
