"""Generated output checked by the real tools, and the compose file checked against the renders.

promtool and amtool (Prometheus 2.42, Alertmanager 0.25 from Debian) validate every golden tree; real
Prometheus and Alertmanager processes then start with the compose file's own flags and the rendered
configs. Under REQUIRE_TOOLS=1 (CI) a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from observatory import names
from observatory.local import env_file
from observatory.render import compose_env, grafana, loki, prometheus, render_files, tempo
from observatory.spec import load
from tests.conftest import GOLDEN, REPO, SCHEMAS, ManagedProcess, free_port, require_tool

GOLDEN_TREES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return dict(pairs)  # type: ignore[arg-type]


def _interpolate(text: str, env: dict[str, str]) -> str:
    # ${VAR}, ${VAR:?message} and ${VAR:-default}: what compose does, for the variables we define.
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?::[?-][^}]*)?\}", lambda m: env[m.group(1)], text)


@pytest.mark.parametrize("tree", GOLDEN_TREES, ids=[p.name for p in GOLDEN_TREES])
def test_promtool_accepts_the_rendered_prometheus_config(tree: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(tree / prometheus.PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tree", GOLDEN_TREES, ids=[p.name for p in GOLDEN_TREES])
def test_amtool_accepts_the_rendered_alertmanager_config(tree: Path) -> None:
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(tree / "stack/alertmanager/alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_full_spec_renders_every_receiver_kind_with_secrets_from_files() -> None:
    config = yaml.safe_load((GOLDEN / "full/stack/alertmanager/alertmanager.yml").read_text())
    kinds = {key for receiver in config["receivers"] for key in receiver if key.endswith("_configs")}
    assert kinds == {"webhook_configs", "slack_configs", "pagerduty_configs", "email_configs"}
    text = (GOLDEN / "full/stack/alertmanager/alertmanager.yml").read_text()
    assert "api_url_file: /run/secrets/slack_search_webhook" in text
    assert 'category="spend \\"budget\\""' in text  # quotes inside matcher values stay escaped


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Prometheus started with the compose file's command line and the repository's rendered config."""
    binary = require_tool("prometheus")
    settings = _env_file(REPO / compose_env.SETTINGS_ENV)
    port = free_port()
    paths = {
        "/etc/prometheus/prometheus.yml": str(REPO / prometheus.PROMETHEUS_CONFIG),
        "/prometheus": str(tmp_path / "data"),
    }
    args = []
    for arg in COMPOSE["services"]["prometheus"]["command"]:
        flag, _, value = _interpolate(arg, settings).partition("=")
        args.append(f"{flag}={paths.get(value, value)}" if value else flag)
    proc = ManagedProcess(
        [binary, *args, f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"Prometheus ready at {url}")
        yield url, settings
    finally:
        proc.stop()


def test_prometheus_starts_with_the_compose_flags_and_the_spec_retention(
    prometheus_server: tuple[str, dict[str, str]],
) -> None:
    url, settings = prometheus_server
    flags = requests.get(f"{url}/api/v1/status/flags", timeout=5).json()["data"]
    assert flags["storage.tsdb.retention.time"] == settings["PROMETHEUS_RETENTION"] == "30d"
    loaded = requests.get(f"{url}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    jobs = {job["job_name"] for job in yaml.safe_load(loaded)["scrape_configs"]}
    assert jobs == {job for job, _, _ in prometheus.scrape_targets(load(REPO / "observatory.yaml"))}
    # The remote-write receiver is on: an empty write is a bad request (400), not a missing route (404).
    assert requests.post(f"{url}/api/v1/write", data=b"", timeout=5).status_code == 400


@pytest.mark.parametrize("tree", ["minimal", "full"])
def test_alertmanager_starts_with_the_compose_flags_and_the_rendered_config(
    tree: str, tmp_path: Path
) -> None:
    binary = require_tool("prometheus-alertmanager")
    config = GOLDEN / tree / "stack/alertmanager/alertmanager.yml"
    paths = {"/etc/alertmanager/alertmanager.yml": str(config), "/alertmanager": str(tmp_path / "data")}
    args = []
    for arg in COMPOSE["services"]["alertmanager"]["command"]:
        flag, _, value = arg.partition("=")
        args.append(f"{flag}={paths.get(value, value)}")
    port = free_port()
    proc = ManagedProcess(
        [binary, *args, f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        tmp_path / "alertmanager.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"Alertmanager ready at {url}")
        status = requests.get(f"{url}/api/v2/status", timeout=5).json()
        loaded = yaml.safe_load(status["config"]["original"])
        assert [r["name"] for r in loaded["receivers"]] == [
            r["name"] for r in yaml.safe_load(config.read_text())["receivers"]
        ]
    finally:
        proc.stop()


def test_the_compose_file_validates_against_the_compose_spec_schema() -> None:
    validator = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose/compose-spec.json").read_text()))
    assert [e.message for e in validator.iter_errors(COMPOSE)] == []
    # The schema is strict enough to notice a misspelt key, so passing it means something.
    broken = {
        **COMPOSE,
        "services": {**COMPOSE["services"], "loki": {**COMPOSE["services"]["loki"], "mem_limt": 1}},
    }
    assert not validator.is_valid(broken)


def test_every_compose_variable_is_rendered_or_is_a_documented_secret() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    rendered = set(_env_file(REPO / compose_env.IMAGES_ENV)) | set(_env_file(REPO / compose_env.SETTINGS_ENV))
    secrets = set(env_file.SECRETS)  # what make up writes to .env (scripts/secrets-env.sh)
    assert names.ENV_API_TOKEN in secrets and names.ENV_DB_PASSWORD in secrets
    assert used - rendered == secrets
    for secret in secrets:  # compose refuses to start without them: no default password can sneak in
        assert re.search(rf"\$\{{{secret}:\?", text), secret


def test_every_image_comes_from_images_env_and_every_port_is_published_on_the_bind_address() -> None:
    images = {f"${{{k}" for k in _env_file(REPO / compose_env.IMAGES_ENV)}
    for name, service in COMPOSE["services"].items():
        built = "build" in service  # the project's own image (the ingester), built from this repository
        assert built or any(service["image"].startswith(i) for i in images), name
        assert "mem_limit" in service, f"{name} has no memory limit"
        for port in service.get("ports", []):
            assert port.startswith("${BIND_ADDRESS}:"), f"{name} publishes {port} beyond the bind address"


def test_every_bind_mount_is_a_generated_file_or_folder_mounted_read_only() -> None:
    generated = set(render_files(load(REPO / "observatory.yaml")))
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source, _target, *mode = volume.split(":")
            if not source.startswith("./"):
                continue  # a named volume
            path = source[2:]
            if path == "observatory.yaml":  # the spec itself: the one hand-written input
                assert mode == ["ro"], f"{name} mounts the spec writable"
                continue
            assert mode == ["ro"], f"{name} mounts {source} writable"
            assert path.split("/")[0] in names.GENERATED_DIRS, f"{name} mounts hand-written {source}"
            assert path in generated or any(g.startswith(f"{path}/") for g in generated), (
                f"{source} is not rendered"
            )


def test_generated_paths_inside_containers_match_the_names_module() -> None:
    mounts = {v.split(":")[1] for s in COMPOSE["services"].values() for v in s.get("volumes", [])}
    assert names.GRAFANA_DASHBOARDS_DIR in mounts
    assert names.PROMETHEUS_RULES_DIR in mounts
    environment = COMPOSE["services"][names.SVC_TIMESCALEDB]["environment"]
    assert environment["POSTGRES_USER"] == names.DB_WRITER_USER
    for service in (
        names.SVC_GRAFANA,
        names.SVC_PROMETHEUS,
        names.SVC_ALERTMANAGER,
        names.SVC_TEMPO,
        names.SVC_LOKI,
        names.SVC_TIMESCALEDB,
        names.SVC_COLLECTOR,
        names.SVC_INGESTER,
    ):
        assert service in COMPOSE["services"]


def test_grafana_settings_take_credentials_from_the_environment_and_refuse_anonymous_users() -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((REPO / grafana.GRAFANA_INI).read_text())
    assert ini["security"]["admin_user"] == f"$__env{{{names.ENV_GRAFANA_ADMIN_USER}}}"
    assert ini["security"]["admin_password"] == f"$__env{{{names.ENV_GRAFANA_ADMIN_PASSWORD}}}"
    assert ini["auth.anonymous"]["enabled"] == "false"


def test_tempo_and_loki_listen_on_all_interfaces_and_enforce_retention() -> None:
    spec = load(REPO / "observatory.yaml")
    tempo_cfg = yaml.safe_load((REPO / tempo.TEMPO_CONFIG).read_text())
    protocols = tempo_cfg["distributor"]["receivers"]["otlp"]["protocols"]
    assert {p["endpoint"].split(":")[0] for p in protocols.values()} == {"0.0.0.0"}
    assert (
        tempo_cfg["backend_worker"]["compaction"]["block_retention"]
        == f"{spec.retention.traces.warm_days * 24}h"
    )
    loki_cfg = yaml.safe_load((REPO / loki.LOKI_CONFIG).read_text())
    assert loki_cfg["compactor"]["retention_enabled"] is True
    assert loki_cfg["compactor"]["delete_request_store"] == "filesystem"
    assert loki_cfg["schema_config"]["configs"][0]["index"]["period"] == "24h"  # retention needs 24h
