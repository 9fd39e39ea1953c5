"""`observatory push` against a real Grafana: the pinned image (needs a Docker engine), or a Grafana you
bring at $OBSERVATORY_TEST_GRAFANA_URL with an admin's $OBSERVATORY_TEST_GRAFANA_USER and
$OBSERVATORY_TEST_GRAFANA_PASSWORD (the tests push the dashboards to it and add, then delete, a viewer
user and a dashboard of their own). Error handling without a Grafana is in unit/test_push.py."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from observatory import names, push
from observatory.spec import Spec, load
from tests.conftest import REPO, poll_until, require_docker

pytestmark = [pytest.mark.containers, pytest.mark.servers]

ENV = {names.ENV_DB_READER_PASSWORD: "reader-secret"}
GRAFANA_URL = "OBSERVATORY_TEST_GRAFANA_URL"


class Grafana(NamedTuple):
    url: str
    user: str
    password: str


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load(REPO / "observatory.yaml")


# --- Against a real Grafana (the container suite; skips without a Docker engine).


@pytest.fixture(scope="module")
def grafana(spec: Spec) -> Iterator[Grafana]:
    brought = os.environ.get(GRAFANA_URL)
    if brought:
        user, password = (
            os.environ.get("OBSERVATORY_TEST_GRAFANA_USER", "admin"),
            os.environ.get("OBSERVATORY_TEST_GRAFANA_PASSWORD", ""),
        )
        if not password:
            pytest.fail(f"{GRAFANA_URL} is set without OBSERVATORY_TEST_GRAFANA_PASSWORD (an admin's)")
        url = brought.rstrip("/")
        poll_until(lambda: requests.get(f"{url}/api/health", timeout=2).ok, f"Grafana ready at {url}", 60)
        yield Grafana(url, user, password)
        return
    require_docker(instead=f"{GRAFANA_URL} (and an admin's credentials)")
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
        yield Grafana(url, "admin", password)
    finally:
        container.stop()


def test_push_adds_everything_then_finds_it_unchanged(spec: Spec, grafana: Grafana) -> None:
    url, user, password = grafana
    target = push.target_from(url, None, user, password)
    folder = requests.get(
        f"{url}/api/folders/{names.DASHBOARD_FOLDER_UID}", auth=(user, password), timeout=10
    )
    first = push.push(spec, target, ENV)
    assert {status for status, _, _ in first.lines} <= {"added", "unchanged", "updated"}
    if folder.status_code == 404:  # a Grafana the stack was never pushed to (always the container)
        assert ("added", "folder", names.DASHBOARD_FOLDER_UID) in first.lines
    second = push.push(spec, target, ENV)
    assert {status for status, _, _ in second.lines} == {"unchanged"}
    assert len(second.lines) == len(first.lines)
    # Every enabled dashboard is in Grafana, in the folder, with the pushed title.
    found = requests.get(
        f"{url}/api/search",
        params={"type": "dash-db", "folderUIDs": names.DASHBOARD_FOLDER_UID},
        auth=(user, password),
        timeout=10,
    ).json()
    pushed = {uid for status, kind, uid in first.lines if kind == "dashboard"}
    assert pushed and pushed <= {d["uid"] for d in found}


def test_push_reports_bad_credentials(spec: Spec, grafana: Grafana) -> None:
    target = push.target_from(grafana.url, None, grafana.user, "wrong-password")
    with pytest.raises(push.PushError, match=r"refused the credentials .*\(401\)"):
        push.push(spec, target, ENV)


def test_push_reports_missing_permissions(spec: Spec, grafana: Grafana, tmp_path: Path) -> None:
    url, user, password = grafana
    login = f"viewer-{secrets.token_hex(4)}"
    viewer = {"name": login, "login": login, "password": secrets.token_urlsafe(18)}
    created = requests.post(f"{url}/api/admin/users", json=viewer, auth=(user, password), timeout=10)
    assert created.ok, created.text
    try:
        target = push.target_from(url, None, login, viewer["password"])
        with pytest.raises(push.PushError, match=r"\(403\)"):
            push.push(spec, target, ENV)
    finally:
        requests.delete(f"{url}/api/admin/users/{created.json()['id']}", auth=(user, password), timeout=10)


def test_push_reports_a_conflict_instead_of_replacing_someone_elses_dashboard(
    spec: Spec, grafana: Grafana
) -> None:
    url, user, password = grafana
    auth = (user, password)
    target = push.target_from(url, None, user, password)
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
        push.push(spec, target, ENV)  # the overview back, on a Grafana you brought
