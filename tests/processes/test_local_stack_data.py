"""The local stack across restarts: what `observatory local up` refuses before it starts anything, and
what it keeps from one `up` to the next (the database, Prometheus, the collector's queue, the hash key)
unless `--fresh` asks it to start empty."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import requests

from observatory import demo, names
from observatory.local import env_file as dotenv
from observatory.local import stack
from observatory.spec import Spec, load
from observatory.traffic import Traffic
from tests.conftest import REPO, poll_until
from tests.processes.test_e2e_local import _require_local_stack


def _observatory(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatory", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_local_up_refuses_a_short_hash_key_before_starting_anything_and_says_how_to_set_one(
    tmp_path: Path,
) -> None:
    _require_local_stack()  # else it stops earlier, at the missing binary
    result = _observatory(
        "local", "up", "--state-dir", str(tmp_path), env={names.ENV_USER_ID_HASH_KEY: "too-short"}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"observatory local up: the user-id hash key, the environment variable {names.ENV_USER_ID_HASH_KEY}, "
        "is 9 bytes; a key needs at least 16: make up writes a random one to .env; or set it yourself, e.g. "
        f"{names.ENV_USER_ID_HASH_KEY}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') "
        "(docs/user-id-hash-key.md)\n"
    )
    assert not (tmp_path / "state.json").exists()  # nothing was started, so nothing to stop


def _rows(dsn: str) -> tuple[int, set[str]]:
    with psycopg.connect(dsn) as conn:
        count = conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone()
        users = {r[0] for r in conn.execute(f"SELECT DISTINCT user_id FROM {names.TABLE_REQUESTS}")}
    return (count[0] if count else 0), users - {None}


def _series(state: dict[str, Any]) -> int:
    url = f"{state['urls']['prometheus']}/api/v1/series"
    data = requests.get(url, params={"match[]": names.METRIC_REQUESTS}, timeout=5).json()["data"]
    return len(data)


def _send(spec: Spec, state: dict[str, Any], seed: int) -> Traffic:
    options = demo.Options(endpoint=state["urls"]["otlp_http"], traces=40, seed=seed, logs=False)
    traffic, _ = demo.send(spec, options, progress=None)
    return traffic


def test_data_written_before_down_is_there_after_up_and_gone_after_up_fresh(tmp_path: Path) -> None:
    _require_local_stack()
    spec, state_dir, env_file = load(REPO / "observatory.yaml"), tmp_path / "state", tmp_path / ".env"

    def up(fresh: bool = False) -> dict[str, Any]:
        return stack.up(REPO, spec, state_dir, out=io.StringIO(), env_file=env_file, fresh=fresh)

    state = up()
    try:
        first = _send(spec, state, seed=5)
        want = len(first.truth.span_cost)
        poll_until(lambda: _rows(state["database_url"])[0] == want, f"{want} rows after the first up", 60)
        poll_until(lambda: _series(state) > 0, f"{names.METRIC_REQUESTS} series in Prometheus", 60)
    finally:
        stack.down(state_dir)

    state = up()
    try:
        count, _ = _rows(state["database_url"])
        assert count == want, "the database did not survive down and up"
        assert _series(state) > 0, "Prometheus's series did not survive down and up"
        # The key made on the first up hashes the users of the second: one user, one hash, across restarts.
        key = dotenv.read(env_file)[names.ENV_USER_ID_HASH_KEY]
        second = _send(spec, state, seed=6)
        hashed = {hashlib.sha256(f"{key}:{u}".encode()).hexdigest() for u in second.truth.user_ids}
        assert hashed, "the traffic must carry user ids"
        more = want + len(second.truth.span_cost)
        poll_until(lambda: _rows(state["database_url"])[0] == more, f"{more} rows after the second up", 60)
        assert hashed <= _rows(state["database_url"])[1]
    finally:
        stack.down(state_dir)

    state = up(fresh=True)
    try:
        assert _rows(state["database_url"]) == (0, set()), "--fresh kept the rows"
        assert _series(state) == 0, "--fresh kept Prometheus's series"
        assert dotenv.read(env_file)[names.ENV_USER_ID_HASH_KEY] == key  # not data: kept
    finally:
        stack.down(state_dir)


def _queued_for_the_ingester(state: dict[str, Any]) -> float:
    """Spans in the collector's disk queue for the ingester, from its own metrics."""
    text = requests.get(state["urls"]["collector_metrics"], timeout=5).text
    prefix, exporter = names.OTELCOL_EXPORTER_QUEUE_SIZE + "{", 'exporter="otlp_http/ingester"'
    lines = text.splitlines()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith(prefix) and exporter in ln)


def test_spans_the_collector_accepted_while_the_ingester_was_down_are_stored_after_down_and_up(
    tmp_path: Path,
) -> None:
    _require_local_stack()
    spec, state_dir, env_file = load(REPO / "observatory.yaml"), tmp_path / "state", tmp_path / ".env"
    state = stack.up(REPO, spec, state_dir, out=io.StringIO(), env_file=env_file)
    try:
        ingester = state["services"]["ingester"]
        os.kill(ingester["pid"], signal.SIGTERM)  # only the ingester: the collector must queue to disk
        poll_until(lambda: not stack.status(state_dir)["ingester"], "the ingester to exit", 30)
        traffic = _send(spec, state, seed=7)  # every request answered 200 by the collector
        want = len(traffic.truth.span_cost)
        poll_until(lambda: _queued_for_the_ingester(state) > 0, "spans in the collector's queue", 30)
        assert _rows(state["database_url"])[0] == 0  # none reached the database yet
    finally:
        stack.down(state_dir)  # the collector stops with the spans still on disk

    state = stack.up(REPO, spec, state_dir, out=io.StringIO(), env_file=env_file)
    try:
        poll_until(
            lambda: _rows(state["database_url"])[0] == want,
            f"the {want} rows the collector queued before down, delivered after up",
            90,
        )
    finally:
        stack.down(state_dir)


def test_the_cli_keeps_the_database_across_down_and_up_and_up_fresh_empties_it(tmp_path: Path) -> None:
    _require_local_stack()
    state_dir, env = tmp_path / "state", {names.ENV_USER_ID_HASH_KEY: "a-test-key-of-32-characters-0123"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = _observatory("local", *args, "--state-dir", str(state_dir), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def marker_kept() -> bool:
        dsn = stack.read_state(state_dir)["database_url"]  # type: ignore[index]
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT to_regclass('public.kept_marker') IS NOT NULL").fetchone() == (True,)

    cli("up")
    try:
        with psycopg.connect(stack.read_state(state_dir)["database_url"]) as conn:  # type: ignore[index]
            conn.execute("CREATE TABLE kept_marker (x int)")
    finally:
        down = cli("down")
    assert "its data stays in" in down.stdout and "--fresh" in down.stdout
    cli("up")
    try:
        assert marker_kept(), "the table made before `local down` is gone after `local up`"
    finally:
        cli("down")
    cli("up", "--fresh")
    try:
        assert not marker_kept(), "`local up --fresh` kept the database"
    finally:
        cli("down")
