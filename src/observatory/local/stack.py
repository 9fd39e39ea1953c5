"""The local stack without Docker: PostgreSQL, Prometheus, Alertmanager, the ingester and the collector
as real processes on loopback, detached from the command that started them. Each takes the spec's port
(OTLP on 4317 and 4318, where OpenTelemetry SDKs send by default) when it is free, else a free one,
said when it starts.

What runs here differs from the container stack in three ways, each said when it starts:
- the database is plain PostgreSQL, so the ingester runs with `storage.engine: postgres` whatever the
  spec says (TimescaleDB needs Docker);
- Tempo and Loki do not run, so the collector runs its local variant (`render/target.py`), without
  the sampled-traces and logs pipelines: metrics and the per-request rows are complete, traces and logs
  are not kept;
- Grafana does not run.
`up` writes the ports, pids, URLs and log paths to `state.json` in the state directory; `down` reads it
and stops every process it names (SIGTERM, then SIGKILL), checking each pid is still the process it
started. Data is kept from one `up` to the next, as the container stack's volumes are: the database,
Prometheus's and Alertmanager's storage and the collector's disk queue (whose spans a restart must
still deliver). `up(fresh=True)` (`local up --fresh`) deletes them first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import requests
import yaml

from observatory import names, proxy
from observatory.ingest import server as ingest_server
from observatory.ingest.convert import native_missing
from observatory.local import env_file as secrets_file
from observatory.local import hash_key
from observatory.local.postgres import LocalPostgres
from observatory.processes import ManagedProcess, free_port, poll_until, port_is_free
from observatory.render import alertmanager, prometheus
from observatory.render import collector as collector_render
from observatory.render import target as targets
from observatory.render.artifact import to_yaml
from observatory.spec import parse
from observatory.spec.load import default_spec_text
from observatory.spec.types import Spec

DEFAULT_STATE_DIR = Path(".cache/local-stack")
STATE_FILE = "state.json"
COLLECTOR_BINARY = Path(".cache/otelcol/build/otelcol-observatory")
NEEDS_DOCKER = ("Grafana", "Tempo", "Loki", "TimescaleDB")
STOP_TIMEOUT_SECONDS = 15.0
DATA_DIRS = ("prometheus-data", "alertmanager-data", "collector-queue")  # in the state directory
DATABASE_FILE = "database.json"  # where the kept database is and its password (mode 0600)


class StackError(RuntimeError):
    """The local stack cannot start (a binary is missing) or one of its processes failed."""


def local_spec_text(spec_path: Path | None) -> str:
    """The spec as the local ingester runs it: `storage.engine` forced to postgres."""
    text = spec_path.read_text(encoding="utf-8") if spec_path else default_spec_text()
    data = yaml.safe_load(text)
    data["storage"] = {"engine": "postgres"}  # this database is the local one, not an external one
    return yaml.safe_dump(data, sort_keys=False)


def local_target(root: Path, ports: dict[str, int]) -> targets.Target:
    """The local stack as a render target: its processes' loopback ports, the checkout's rule files."""
    return targets.local(
        targets.LocalAddresses(
            prometheus=ports["prometheus"],
            alertmanager=ports["alertmanager"],
            collector_metrics=ports["collector_metrics"],
            ingester=ports["ingester"],
            rule_files=str(root / "alerts" / "*.yml"),
            proxy=ports.get("proxy"),
        )
    )


def choose_ports(spec: Spec, out: TextIO) -> dict[str, int]:
    """The spec's host port of each service where it is free, else a free one (said on `out`)."""
    wanted = {
        "prometheus": spec.ports.prometheus,
        "alertmanager": spec.ports.alertmanager,
        "ingester": spec.ports.ingester,
        "api": spec.ports.api,
        "otlp_grpc": spec.ports.otlp_grpc,
        "otlp_http": spec.ports.otlp_http,
    }
    if spec.proxy.enabled:
        wanted["proxy"] = spec.ports.proxy
    ports = {}
    for name, port in wanted.items():
        ports[name] = port if port_is_free(port) else free_port()
        if ports[name] != port:
            print(f"  port {port} ({name}) is taken; using {ports[name]} instead", file=out)
    # The collector's own metrics and health check have no spec port: nothing outside the stack uses them.
    return {**ports, "collector_metrics": free_port(), "collector_health": free_port()}


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), to tell it from a later one with its pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _alive(pid: int, ticks: int | None) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own child (the tests start it so)
    now = _start_ticks(pid)
    return now is not None and (ticks is None or now == ticks)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} is not installed (make tools installs it from Debian packages)")
    return path


class _Starter:
    """Starts the services one by one, recording each in state.json as soon as it runs."""

    def __init__(self, root: Path, state_dir: Path, out: TextIO) -> None:
        self.root, self.dir, self.out = root, state_dir, out
        self.state: dict[str, Any] = {"root": str(root), "services": {}, "urls": {}}

    def save(self) -> None:
        path = self.dir / STATE_FILE
        path.write_text(json.dumps(self.state, indent=2) + "\n")  # in start order: down reverses it
        path.chmod(0o600)  # it holds the throwaway database's password

    def record(self, name: str, pid: int, url: str, log: Path) -> None:
        ticks = _start_ticks(pid)
        self.state["services"][name] = {"pid": pid, "start_ticks": ticks, "url": url, "log": str(log)}
        self.state["urls"][name] = url
        self.save()
        print(f"  {name:13} {url}  (pid {pid}, log {log})", file=self.out)

    def process(
        self, name: str, argv: list[str], url: str, ready: str, env: dict[str, str] | None = None
    ) -> None:
        log = self.dir / f"{name}.log"
        proc = ManagedProcess(argv, log, env, detach=True)
        self.record(name, proc.pid, url, log)
        proc.wait_ready(lambda: requests.get(ready, timeout=2).ok, f"{name} ready at {ready}", 90)


def up(
    root: Path,
    spec: Spec,
    state_dir: Path,
    out: TextIO = sys.stdout,
    *,
    env_file: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Start the local stack for `spec`; returns its state. On a failure, stops what it started, raises.

    `env_file` is where the user-id hash key is kept (default: the checkout's git-ignored .env);
    `fresh` deletes the data of earlier runs (database, Prometheus, Alertmanager, collector queue)."""
    spec_path = Path(spec.source) if Path(spec.source).is_file() else None  # else the built-in default
    if running_state(state_dir) is not None:
        raise StackError(f"a local stack is already running ({state_dir / STATE_FILE}); stop it first")
    collector_bin = root / COLLECTOR_BINARY
    if not collector_bin.exists():
        raise StackError(f"{collector_bin} does not exist (make collector builds it)")
    bins = {"prometheus": _binary("prometheus"), "alertmanager": _binary("prometheus-alertmanager")}
    local_spec = parse(local_spec_text(spec_path), "local spec")  # fails here, not in the ingester
    key_env = _hash_key_env(spec, env_file or root / ".env", out)
    api_secrets = _api_secrets(spec, env_file or root / ".env")
    state_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        reset(state_dir, out)
    start = _Starter(root, state_dir, out)
    try:
        print("Starting the local stack (no Docker):", file=out)
        ports = choose_ports(spec, out)
        pg = _database(state_dir)
        start.state["postgres_root"] = str(pg.root)
        start.save()
        try:
            pg.start()
        except BaseException:
            pg.stop("immediate")  # its data stays: the next `up` (or `up --fresh`) decides
            raise
        pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        start.state["database_url"] = pg.dsn
        start.record("postgres", pid, f"postgresql://127.0.0.1:{pg.port}/{names.DB_NAME}", pg.log)
        _alertmanager(start, spec, bins["alertmanager"], ports["alertmanager"])
        _prometheus(start, spec, bins["prometheus"], ports, local_target(root, ports))
        (state_dir / "spec.yaml").write_text(local_spec_text(spec_path))
        ingester_url = f"http://127.0.0.1:{ports['ingester']}"
        decoder = []
        if why := native_missing():  # a machine without Rust: the slower reference decoder still works
            print(f"local stack: {why}; the ingester uses --decoder=python", file=out)
            decoder = ["--decoder=python", "--decode-workers=2"]
        start.process(
            "ingester",
            ingest_server.command(state_dir / "spec.yaml", f"127.0.0.1:{ports['ingester']}", *decoder),
            ingester_url,
            f"{ingester_url}/readyz",
            # The ingester migrates, which gives the query API's role this password.
            {"OBSERVATORY_DATABASE_URL": pg.dsn, **api_secrets},
        )
        _api(start, state_dir / "spec.yaml", ports["api"], pg, api_secrets)
        _collector(start, spec, collector_bin, ports, local_target(root, ports), key_env)
        if spec.proxy.enabled:
            _proxy(start, spec, root, ports["proxy"])
    except BaseException:
        down(state_dir)
        raise
    start.state["spec"] = str(spec_path) if spec_path else None
    start.state["storage_engine"] = local_spec.storage.engine
    start.save()
    return start.state


def _database_root(state_dir: Path) -> Path:
    """Where the kept database lives: in the state directory, except as root, where PostgreSQL runs as
    the `postgres` user, who may not reach it; then /var/tmp, which survives a reboot (FHS), named
    after the state directory so two stacks do not share one."""
    if os.geteuid() != 0:
        return state_dir / "postgres"
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    return Path("/var/tmp") / f"observatory-pg-{digest}"


def _database(state_dir: Path) -> LocalPostgres:
    """The stack's database: the one an earlier `up` made (same files, same password), else a new one."""
    record = state_dir / DATABASE_FILE
    if record.exists():
        kept = json.loads(record.read_text())
        if Path(kept["root"], "data").exists():
            return LocalPostgres(database=names.DB_NAME, root=Path(kept["root"]), password=kept["password"])
    pg = LocalPostgres(database=names.DB_NAME, root=_database_root(state_dir))
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the password
    with os.fdopen(fd, "w") as f:
        json.dump({"root": str(pg.root), "password": pg.password}, f)
    return pg


def reset(state_dir: Path, out: TextIO | None = None) -> None:
    """Delete what earlier runs kept: the database, Prometheus's and Alertmanager's storage, the
    collector's queue. Refused while the stack runs. The user-id hash key is not data: it stays."""
    if any(status(state_dir).values()):
        raise StackError(f"the local stack is running ({state_dir / STATE_FILE}); stop it before a reset")
    record = state_dir / DATABASE_FILE
    if record.exists():
        shutil.rmtree(json.loads(record.read_text())["root"], ignore_errors=True)
        record.unlink()
    for name in DATA_DIRS:
        shutil.rmtree(state_dir / name, ignore_errors=True)
    if out is not None:
        print(
            f"  --fresh: deleted the database, Prometheus, Alertmanager and collector data in {state_dir}",
            file=out,
        )


def _hash_key_env(spec: Spec, env_file: Path, out: TextIO) -> dict[str, str]:
    """The collector's environment for the user-id hash key, checked before anything starts: the
    collector itself would hash with an empty key when the variable is unset."""
    if not spec.pii.hash_user_ids:
        return {}
    try:
        return hash_key.resolve(spec.pii.user_id_hash_key, env_file, out=out)
    except hash_key.HashKeyError as err:
        raise StackError(str(err)) from None


def _api_secrets(spec: Spec, path: Path) -> dict[str, str]:
    """The query API's token and its database role's password, from the secrets file (made there, mode
    0600, the first time), like the compose stack's."""
    ref = spec.pii.user_id_hash_key
    secrets_file.ensure(path, ref.env if ref.env else names.ENV_USER_ID_HASH_KEY)
    kept = secrets_file.read(path)
    return {name: kept[name] for name in (names.ENV_API_TOKEN, names.ENV_DB_API_PASSWORD)}


def _api(start: _Starter, spec_path: Path, port: int, pg: LocalPostgres, api_secrets: dict[str, str]) -> None:
    """`observatory api` on loopback, reading through its own role; its token is in the secrets file."""
    url = f"http://127.0.0.1:{port}"
    password = api_secrets[names.ENV_DB_API_PASSWORD]
    dsn = f"postgresql://{names.DB_API_USER}:{password}@127.0.0.1:{pg.port}/{names.DB_NAME}"
    argv = [
        sys.executable,
        "-m",
        "observatory",
        "--spec",
        str(spec_path),
        "api",
        f"--listen=127.0.0.1:{port}",
    ]
    env = {
        names.ENV_API_TOKEN: api_secrets[names.ENV_API_TOKEN],
        names.ENV_API_DATABASE_URL: dsn,
        names.ENV_API_PROMETHEUS_URL: start.state["urls"]["prometheus"],
    }
    start.process("api", argv, f"{url}/graphql", f"{url}/readyz", env)


def _alertmanager(start: _Starter, spec: Spec, binary: str, port: int) -> None:
    config = start.dir / "alertmanager.yml"
    config.write_text(to_yaml(alertmanager.config(spec)))
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={start.dir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single Alertmanager
    ]
    start.process("alertmanager", argv, url, f"{url}/-/ready")


def _prometheus(
    start: _Starter, spec: Spec, binary: str, ports: dict[str, int], target: targets.Target
) -> None:
    config = start.dir / "prometheus.yml"
    config.write_text(to_yaml(prometheus.config(spec, target)))
    url = f"http://127.0.0.1:{ports['prometheus']}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={start.dir / 'prometheus-data'}",
        f"--storage.tsdb.retention.time={prometheus.retention_flag_value(spec)}",
        f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        "--web.enable-remote-write-receiver",
        "--web.enable-lifecycle",
        "--enable-feature=exemplar-storage",
    ]
    start.process("prometheus", argv, url, f"{url}/-/ready")


def _collector(
    start: _Starter,
    spec: Spec,
    binary: Path,
    ports: dict[str, int],
    target: targets.Target,
    key_env: dict[str, str],
) -> None:
    config = start.dir / "collector.yaml"
    config.write_text(to_yaml(collector_render.config(spec, target)))
    health, otlp_http, otlp_grpc = ports["collector_health"], ports["otlp_http"], ports["otlp_grpc"]
    env = collector_render.loopback_env(
        prometheus_write_url=f"http://127.0.0.1:{ports['prometheus']}/api/v1/write",
        storage_dir=str(start.dir / "collector-queue"),
        health_port=health,
        otlp_grpc_port=otlp_grpc,
        otlp_http_port=otlp_http,
        metrics_port=ports["collector_metrics"],
        ingester_url=f"http://127.0.0.1:{ports['ingester']}",
    )
    env.update(key_env)
    url = f"http://127.0.0.1:{otlp_http}"
    start.state["urls"]["otlp_grpc"] = f"127.0.0.1:{otlp_grpc}"
    start.state["urls"]["collector_metrics"] = f"http://127.0.0.1:{ports['collector_metrics']}/metrics"
    start.process("collector", [str(binary), f"--config={config}"], url, f"http://127.0.0.1:{health}", env)
    start.state["urls"]["otlp_http"] = url


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def status(state_dir: Path) -> dict[str, bool]:
    """Each recorded service and whether it still runs; empty when no stack was started."""
    state = read_state(state_dir) or {"services": {}}
    return {n: _alive(s["pid"], s["start_ticks"]) for n, s in state["services"].items()}


def running_state(state_dir: Path) -> dict[str, Any] | None:
    """The state of a local stack whose collector runs (so it takes traffic), else None."""
    state = read_state(state_dir)
    return state if state and status(state_dir).get("collector") else None


def _stop(name: str, pid: int, ticks: int | None) -> bool:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS; False when it was not running."""
    if not _alive(pid, ticks):
        return False
    os.kill(pid, signal.SIGTERM)  # postgres: a smart shutdown, and its clients are gone already
    try:
        poll_until(lambda: not _alive(pid, ticks), f"{name} (pid {pid}) to exit", STOP_TIMEOUT_SECONDS, 0.1)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        poll_until(lambda: not _alive(pid, ticks), f"{name} (pid {pid}) to die", 5, 0.1)
    return True


def down(state_dir: Path, out: TextIO | None = None) -> list[str]:
    """Stop every recorded service, newest first (SIGTERM, then SIGKILL); returns the names stopped."""
    state = read_state(state_dir)
    if state is None:
        return []
    stopped = []
    for name, svc in reversed(list(state["services"].items())):
        if _stop(name, svc["pid"], svc["start_ticks"]):
            stopped.append(name)
            if out:
                print(f"stopped {name} (pid {svc['pid']})", file=out)
    (state_dir / STATE_FILE).unlink()  # the data stays for the next `up`
    return stopped


def _proxy(start: _Starter, spec: Spec, root: Path, port: int) -> None:
    """The LLM proxy on loopback, sending its spans to the local collector."""
    try:
        path = proxy.binary(root)
    except proxy.ProxyNotBuilt as err:
        raise StackError(str(err)) from None
    url = f"http://127.0.0.1:{port}"
    argv = [path, *proxy.flags(spec, f"127.0.0.1:{port}", start.state["urls"]["otlp_http"])]
    start.process("proxy", argv, url, f"{url}/readyz")


def describe(state: dict[str, Any]) -> str:
    """What runs, where, and what needs Docker: printed by `observatory local up` and scripts/up.sh."""
    urls = state["urls"]
    return "\n".join(
        [
            "The local stack is up (no Docker):",
            f"  OTLP/HTTP     {urls['otlp_http']}   (send traces here: make demo)",
            f"  OTLP/gRPC     {urls['otlp_grpc']}",
            f"  Prometheus    {urls['prometheus']}",
            f"  Alertmanager  {urls['alertmanager']}",
            f"  Ingester      {urls['ingester']}",
            f"  Query API     {urls['api']}   (GraphQL; bearer token: {names.ENV_API_TOKEN} in .env;"
            " or run: observatory report)",
            f"  PostgreSQL    {urls['postgres']}   (storage.engine forced to postgres; URL with password "
            "in state.json)",
            *(
                [f"  LLM proxy     {urls['proxy']}/openai/v1 and {urls['proxy']}/anthropic   (base URLs)"]
                if "proxy" in urls
                else []
            ),
            f"Needs Docker and does not run here: {', '.join(NEEDS_DOCKER)}. The collector keeps metrics "
            "and per-request rows; traces (Tempo) and logs (Loki) need Docker.",
            "Point an application's OpenTelemetry SDK at it with:",
            f"  export OTEL_EXPORTER_OTLP_ENDPOINT={urls['otlp_http']}",
            "Stop it with 'make down' (or: observatory local down).",
        ]
    )
