"""`observatory push`: errors before and without a Grafana (with one: containers/test_push_grafana.py)."""

from __future__ import annotations

import pytest

from observatory import names, push
from observatory.cli import main
from observatory.spec import Spec, load
from tests.conftest import REPO, free_port

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
