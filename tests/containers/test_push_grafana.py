"""`observatory push` against a real Grafana (needs a Docker engine; error handling without one is in
unit/test_push.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from observatory import names, push
from observatory.spec import Spec, load
from tests.conftest import REPO, poll_until, require_docker

ENV = {names.ENV_DB_READER_PASSWORD: "reader-secret"}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load(REPO / "observatory.yaml")


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


def test_push_adds_everything_then_finds_it_unchanged(spec: Spec, grafana: tuple[str, str]) -> None:
    url, password = grafana
    target = push.target_from(url, None, "admin", password)
    first = push.push(spec, target, ENV)
    assert {status for status, _, _ in first.lines} <= {"added", "unchanged"}
    assert ("added", "folder", names.DASHBOARD_FOLDER_UID) in first.lines
    second = push.push(spec, target, ENV)
    assert {status for status, _, _ in second.lines} == {"unchanged"}
    assert len(second.lines) == len(first.lines)


def test_push_reports_bad_credentials(spec: Spec, grafana: tuple[str, str]) -> None:
    url, _ = grafana
    target = push.target_from(url, None, "admin", "wrong-password")
    with pytest.raises(push.PushError, match=r"refused the credentials .*\(401\)"):
        push.push(spec, target, ENV)


def test_push_reports_missing_permissions(spec: Spec, grafana: tuple[str, str], tmp_path: Path) -> None:
    url, password = grafana
    viewer = {"name": "viewer", "login": "viewer", "password": secrets.token_urlsafe(18)}
    created = requests.post(f"{url}/api/admin/users", json=viewer, auth=("admin", password), timeout=10)
    assert created.ok, created.text
    target = push.target_from(url, None, "viewer", viewer["password"])
    with pytest.raises(push.PushError, match=r"\(403\)"):
        push.push(spec, target, ENV)


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
