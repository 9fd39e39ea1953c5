"""`observatory push`: error handling over real sockets here, and a real Grafana in the container suite."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from observatory import names, push
from observatory.cli import main
from observatory.spec import Spec, load
from tests.conftest import REPO, free_port, poll_until, require_docker

ENV = {names.ENV_DB_READER_PASSWORD: "reader-secret"}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load(REPO / "observatory.yaml")


@pytest.mark.parametrize("url", ["grafana.example.com", "ftp://grafana.example.com", "http://", "http:///x"])
def test_an_invalid_url_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(push.PushError, match="invalid Grafana URL"):
        push.target_from(url, "token", None, None)


def test_a_missing_url_names_the_flag_and_the_variable() -> None:
    with pytest.raises(push.PushError, match="--url or set GRAFANA_URL"):
        push.target_from(None, "token", None, None)


@pytest.mark.parametrize(("user", "password"), [(None, None), ("admin", None), (None, "pw")])
def test_missing_credentials_are_refused(user: str | None, password: str | None) -> None:
    with pytest.raises(push.PushError, match="no credentials"):
        push.target_from("http://127.0.0.1:3000", None, user, password)


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(push.PushError, match="not in the URL"):
        push.target_from("http://admin:admin@127.0.0.1:3000", None, None, None)


def test_an_unreachable_grafana_is_reported_with_its_url(spec: Spec) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    target = push.target_from(url, "token", None, None)
    with pytest.raises(push.PushError, match=f"cannot reach Grafana at {url}"):
        push.push(spec, target, ENV)


def test_the_cli_exits_1_with_the_reason_when_grafana_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(names.ENV_DB_READER_PASSWORD, "reader-secret")
    monkeypatch.setenv(push.ENV_TOKEN, "a-token")
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--spec", str(REPO / "observatory.yaml"), "push", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"observatory push: cannot reach Grafana at {url}")
    assert "a-token" not in err


def test_datasource_secrets_missing_from_the_environment_are_named(spec: Spec) -> None:
    target = push.target_from("http://127.0.0.1:1", "token", None, None)
    with pytest.raises(push.PushError, match=names.ENV_DB_READER_PASSWORD):
        push.push(spec, target, {})


def test_provisioning_variables_are_expanded_as_grafana_reads_them() -> None:
    missing: set[str] = set()
    value = {"a": ["$${__value.raw}", "${PW}", "${NOPE}"], "b": 3}
    assert push.expand(value, {"PW": "s3cret"}, missing) == {"a": ["${__value.raw}", "s3cret", ""], "b": 3}
    assert missing == {"NOPE"}


def test_datasource_urls_can_point_at_backends_the_target_grafana_reaches(spec: Spec) -> None:
    sources = push.datasources(spec, ENV, {names.DS_PROMETHEUS: "https://prom.example.com"})
    by_uid = {ds["uid"]: ds for ds in sources}
    assert by_uid[names.DS_PROMETHEUS]["url"] == "https://prom.example.com"
    assert by_uid[names.DS_LOKI]["url"] == f"http://{names.SVC_LOKI}:{names.PORT_LOKI_HTTP}"
    assert by_uid[names.DS_SQL]["secureJsonData"] == {"password": "reader-secret"}


def test_an_unknown_datasource_url_override_is_refused(spec: Spec) -> None:
    with pytest.raises(push.PushError, match="unknown datasources \\['promethus'\\]"):
        push.datasources(spec, ENV, {"promethus": "https://prom.example.com"})


def test_a_datasource_url_override_without_a_url_is_refused(spec: Spec) -> None:
    with pytest.raises(push.PushError, match="needs UID=URL"):
        push.datasources(spec, ENV, {"prometheus": ""})


# --- Against a real Grafana (the container suite; skips without a Docker engine).


@pytest.fixture(scope="module")
def grafana(spec: Spec) -> Iterator[tuple[str, str]]:
    require_docker()
    from testcontainers.core.container import DockerContainer

    password = secrets.token_urlsafe(18)
    container = (
        DockerContainer(spec.images.grafana)
        .with_env("GF_SECURITY_ADMIN_PASSWORD", password)
        .with_env("GF_ANALYTICS_REPORTING_ENABLED", "false")
        .with_exposed_ports(names.PORT_GRAFANA)
    )
    container.start()
    try:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(names.PORT_GRAFANA)}"
        poll_until(lambda: requests.get(f"{url}/api/health", timeout=2).ok, f"Grafana ready at {url}", 120)
        yield url, password
    finally:
        container.stop()


@pytest.mark.docker
def test_push_adds_everything_then_finds_it_unchanged(spec: Spec, grafana: tuple[str, str]) -> None:
    url, password = grafana
    target = push.target_from(url, None, "admin", password)
    first = push.push(spec, target, ENV)
    assert {status for status, _, _ in first.lines} <= {"added", "unchanged"}
    assert ("added", "folder", names.DASHBOARD_FOLDER_UID) in first.lines
    second = push.push(spec, target, ENV)
    assert {status for status, _, _ in second.lines} == {"unchanged"}
    assert len(second.lines) == len(first.lines)


@pytest.mark.docker
def test_push_reports_bad_credentials(spec: Spec, grafana: tuple[str, str]) -> None:
    url, _ = grafana
    target = push.target_from(url, None, "admin", "wrong-password")
    with pytest.raises(push.PushError, match=r"refused the credentials .*\(401\)"):
        push.push(spec, target, ENV)


@pytest.mark.docker
def test_push_reports_missing_permissions(spec: Spec, grafana: tuple[str, str], tmp_path: Path) -> None:
    url, password = grafana
    viewer = {"name": "viewer", "login": "viewer", "password": secrets.token_urlsafe(18)}
    created = requests.post(f"{url}/api/admin/users", json=viewer, auth=("admin", password), timeout=10)
    assert created.ok, created.text
    target = push.target_from(url, None, "viewer", viewer["password"])
    with pytest.raises(push.PushError, match=r"\(403\)"):
        push.push(spec, target, ENV)


@pytest.mark.docker
def test_push_reports_a_conflict_instead_of_replacing_someone_elses_dashboard(
    spec: Spec, grafana: tuple[str, str]
) -> None:
    url, password = grafana
    auth = ("admin", password)
    target = push.target_from(url, None, "admin", password)
    push.push(spec, target, ENV)
    uid = names.DASHBOARD_UIDS["overview"]
    title = requests.get(f"{url}/api/dashboards/uid/{uid}", auth=auth, timeout=10).json()["dashboard"][
        "title"
    ]
    # Someone replaced the overview in Grafana with their own dashboard of the same title.
    assert requests.delete(f"{url}/api/dashboards/uid/{uid}", auth=auth, timeout=10).ok
    theirs = {"dashboard": {"uid": "theirs", "title": title}, "folderUid": names.DASHBOARD_FOLDER_UID}
    assert requests.post(f"{url}/api/dashboards/db", json=theirs, auth=auth, timeout=10).ok
    try:
        with pytest.raises(push.PushError, match=r"412 version conflict"):
            push.push(spec, target, ENV)
    finally:
        requests.delete(f"{url}/api/dashboards/uid/theirs", auth=auth, timeout=10)
