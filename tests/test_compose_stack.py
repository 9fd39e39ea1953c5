"""The container stack from the repository's own docker-compose.yml, with testcontainers.

Needs a Docker engine: without one these tests skip with the reason (and fail under
REQUIRE_DOCKER=1, as in the GitHub Actions 'containers' job, so they cannot silently stop running).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from observatory import names
from observatory.render import compose_env, prometheus
from observatory.spec import load
from tests.conftest import REPO, poll_until, require_docker

pytestmark = pytest.mark.docker


class Stack:
    def __init__(self, compose: object, credentials: tuple[str, str]) -> None:
        self.compose = compose
        self.credentials = credentials

    def url(self, service: str, port: int) -> str:
        host, mapped = self.compose.get_service_host_and_port(service, port)  # type: ignore[attr-defined]
        return f"http://{host}:{mapped}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_docker()
    from testcontainers.compose import DockerCompose

    password = secrets.token_urlsafe(18)
    secrets_env: Path = tmp_path_factory.mktemp("secrets") / "secrets.env"
    secrets_env.write_text(
        f"{names.ENV_GRAFANA_ADMIN_USER}=admin\n{names.ENV_GRAFANA_ADMIN_PASSWORD}={password}\n"
        f"{names.ENV_DB_PASSWORD}={secrets.token_urlsafe(18)}\n"
        f"{names.ENV_DB_READER_PASSWORD}={secrets.token_urlsafe(18)}\n"
        f"{names.ENV_USER_ID_HASH_KEY}={secrets.token_urlsafe(18)}\n"
    )
    compose = DockerCompose(
        context=str(REPO),
        compose_file_name="docker-compose.yml",
        env_file=[str(REPO / compose_env.IMAGES_ENV), str(REPO / compose_env.SETTINGS_ENV), str(secrets_env)],
        pull=True,
        build=True,
        wait=True,
    )
    compose.start()
    try:
        yield Stack(compose, ("admin", password))
    finally:
        compose.stop()


def test_tempo_and_loki_become_ready(stack: Stack) -> None:
    for service, port in ((names.SVC_TEMPO, names.PORT_TEMPO_HTTP), (names.SVC_LOKI, names.PORT_LOKI_HTTP)):
        url = f"{stack.url(service, port)}/ready"
        poll_until(lambda url=url: requests.get(url, timeout=5).ok, f"{service} /ready", timeout_seconds=180)


def test_grafana_has_every_provisioned_datasource_and_they_answer(stack: Stack) -> None:
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
    for uid in (names.DS_PROMETHEUS, names.DS_TEMPO, names.DS_ALERTMANAGER):
        url = f"{grafana}/api/datasources/uid/{uid}/health"
        health = poll_until(
            lambda url=url: (r := requests.get(url, auth=stack.credentials, timeout=10)).ok and r.json(),
            f"Grafana datasource {uid} healthy",
            120,
        )
        assert health["status"] == "OK", health


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
    stdout, stderr, code = stack.compose.exec_in_container(  # type: ignore[attr-defined]
        [
            "psql",
            "-U",
            names.DB_WRITER_USER,
            "-d",
            spec.storage.database,
            "-tAc",
            "SELECT extname FROM pg_extension WHERE extname = 'timescaledb'",
        ],
        names.SVC_TIMESCALEDB,
    )
    assert code == 0, stderr
    assert stdout.strip() == "timescaledb"
