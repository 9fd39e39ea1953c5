"""Shared test helpers: repository paths, real tools, free ports, waiting with a named timeout.

Tests are grouped by what they need, one folder each, and every test carries its folder's marker so a
group can be selected (`pytest -m unit`, `make test-unit`): unit (Python only), tools (command-line
tools CI installs: promtool, amtool, kustomize, actionlint, and Prometheus and Alertmanager started
with the compose flags), processes (real servers: PostgreSQL, the built collector, the ingester, the
local stack), faults (the same servers crashed and fed garbage on purpose; minutes, so they can be
run apart with `make test-faults`), containers (a Docker engine), servers (Tempo and Loki you bring, by
binary or URL: `make test-servers`). A test elsewhere that needs Docker says so with its own
`containers` marker, which then replaces its folder's; one that can also run against a server you
bring (TimescaleDB at $OBSERVATORY_TEST_TIMESCALEDB_DSN) carries `servers` too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from observatory.processes import ManagedProcess, free_port, poll_until

if TYPE_CHECKING:
    from observatory.local.postgres import LocalPostgres

__all__ = ["ManagedProcess", "free_port", "poll_until"]

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "specs"
GOLDEN = REPO / "tests" / "golden"
SCHEMAS = REPO / "tests" / "schemas"


GROUPS = ("unit", "tools", "processes", "faults", "containers", "servers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(group) for group in GROUPS):
            folder = item.path.parent.name
            assert folder in GROUPS, f"{item.nodeid}: tests live in one of tests/{{{','.join(GROUPS)}}}/"
            item.add_marker(folder)


def missing_tool(message: str) -> NoReturn:
    """Skip the test for want of something CI installs, or fail under REQUIRE_TOOLS=1 (CI)."""
    if os.environ.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}; REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


def require_server(message: str) -> NoReturn:
    """Skip a test for want of a server you bring (tests/servers) that no variable names. One that is
    named but does not answer fails the test: a typo in a URL is not a reason to skip."""
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of a command-line tool; skip without it, or fail under REQUIRE_TOOLS=1 (CI)."""
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not installed (make tools installs it from Debian packages)")
    return path


def go_command() -> str:
    """The go command, for a PATH without it where Go's installer puts it (the build scripts look
    there too); skip without it, or fail under REQUIRE_TOOLS=1 (CI)."""
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        missing_tool("Go is not installed (https://go.dev/dl/; the collector and proxy builds need it too)")
    return go


def go_tool(name: str) -> str:
    """A tool scripts/ensure-tools.sh builds with Go into .cache/tools (or one on PATH)."""
    built = REPO / ".cache/tools" / name
    if built.exists():
        return str(built)
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not built (make tools builds it into .cache/tools with Go)")
    return path


def docker_unavailable_reason() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no Docker engine is reachable ({last})"
    return None


def require_docker(instead: str = "") -> None:
    """Skip without a Docker engine (fail under REQUIRE_DOCKER=1); `instead`: the variable that names
    a server you bring in its place, said in the reason."""
    reason = docker_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason}; REQUIRE_DOCKER=1 forbids skipping")
    bring = f"; or set {instead} to run them against a server you bring" if instead else ""
    pytest.skip(f"{reason}: the container tests run in the GitHub Actions 'containers' job{bring}")


def start_prometheus(
    tmp_path: Path, extra_flags: tuple[str, ...] = (), rule_files: tuple[Path, ...] = ()
) -> tuple[ManagedProcess, str]:
    """A real Prometheus with the remote-write receiver on, on a free loopback port, ready; with
    `rule_files` it evaluates them every second, so recorded series follow the data at once."""
    import requests

    binary = require_tool("prometheus")
    config = tmp_path / "prometheus.yml"
    text = "global:\n  scrape_interval: 15s\n"
    if rule_files:
        text += "  evaluation_interval: 1s\nrule_files:\n" + "".join(f"  - {f}\n" for f in rule_files)
    config.write_text(text)
    port = free_port()
    proc = ManagedProcess(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            *extra_flags,
        ],
        tmp_path / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: requests.get(f"{url}/-/ready", timeout=2).ok, f"Prometheus ready at {url}")
    return proc, url


def collector_binary() -> Path:
    """The collector built from the committed manifest and the current sources of the project's own
    components (`make collector`); required in CI. The build script says what the stamp must be."""
    binary = REPO / ".cache/otelcol/build/otelcol-observatory"
    stamp = REPO / ".cache/otelcol/manifest.sha256"
    current = subprocess.run(
        [str(REPO / "scripts/build-collector.sh"), "--stamp"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not binary.exists() or not stamp.exists() or stamp.read_text().strip() != current:
        missing_tool("the collector is not built from the current manifest (make collector builds it)")
    return binary


def proxy_binary() -> Path:
    """The proxy built from the current sources under proxy/ (`make proxy`); required in CI."""
    binary = REPO / ".cache/proxy/observatory-proxy"
    stamp = REPO / ".cache/proxy/sources.sha256"
    current = subprocess.run(
        [str(REPO / "scripts/build-proxy.sh"), "--stamp"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not binary.exists() or not stamp.exists() or stamp.read_text().strip() != current:
        missing_tool("the proxy is not built from the current sources (make proxy builds it)")
    return binary


def loopback_collector(
    tmp: Path,
    config: dict[str, Any],
    *,
    prometheus_url: str,
    ingester_url: str,
    tempo_url: str,
    loki_url: str,
    hash_key: str,
) -> tuple[ManagedProcess, int, int]:
    """The built collector running `config` on loopback ports, its queue under `tmp` (not waited for);
    the process, its health port and its OTLP/HTTP port."""
    from observatory import names
    from observatory.render.artifact import to_yaml
    from observatory.render.collector import loopback_env

    health, otlp_http = free_port(), free_port()
    (tmp / "config.yaml").write_text(to_yaml(config))
    env = loopback_env(
        prometheus_write_url=f"{prometheus_url}/api/v1/write",
        storage_dir=str(tmp / "queue"),
        health_port=health,
        otlp_grpc_port=free_port(),
        otlp_http_port=otlp_http,
        metrics_port=free_port(),
        tempo_url=tempo_url,
        loki_url=f"{loki_url}/otlp",
        ingester_url=ingester_url,
    )
    env[names.ENV_USER_ID_HASH_KEY] = hash_key
    argv = [str(collector_binary()), f"--config={tmp / 'config.yaml'}"]
    return ManagedProcess(argv, tmp / "collector.log", env), health, otlp_http


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A real PostgreSQL server for the session (Debian's PostgreSQL 15 here), with a random password."""
    from observatory.local import postgres as local_pg

    if not local_pg.available():
        require_tool("initdb")  # skips, or fails under REQUIRE_TOOLS=1, naming the missing server
    server = local_pg.LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def database(postgres: LocalPostgres) -> Iterator[str]:
    """A fresh, empty database on the session's server; its DSN."""
    import secrets

    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def timescaledb_database(image: str) -> Iterator[str]:
    """An empty database on the TimescaleDB at $OBSERVATORY_TEST_TIMESCALEDB_DSN (a server you bring),
    or else on the pinned image (testcontainers)."""
    import secrets

    import psycopg

    brought = os.environ.get("OBSERVATORY_TEST_TIMESCALEDB_DSN")
    if brought:
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(brought, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield psycopg.conninfo.make_conninfo(brought, dbname=name)
        finally:
            with psycopg.connect(brought, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        return
    require_docker(instead="OBSERVATORY_TEST_TIMESCALEDB_DSN")
    from testcontainers.community.postgres import PostgresContainer

    from observatory import names

    container = PostgresContainer(
        image, username="postgres", password=secrets.token_urlsafe(18), dbname=names.DB_NAME
    )
    with container:
        yield container.get_connection_url(driver=None)
