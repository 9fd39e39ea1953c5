"""The render pipeline: golden trees, determinism, freshness of the committed tree, policy passes."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
import yaml

from observatory import names
from observatory.render import (
    RenderError,
    check_datasource_links,
    check_unique_paths,
    grafana,
    loki,
    render_artifacts,
    render_files,
    target,
    tempo,
    text,
)
from observatory.render.artifact import Artifact, serialize
from observatory.spec import load, parse
from tests.conftest import GOLDEN, REPO, SPECS

VALID = sorted((SPECS / "valid").glob("*.yaml"))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _explain(expected: dict[str, bytes], got: dict[str, bytes], fix: str) -> str:
    lines = [f"missing: {p}" for p in sorted(set(expected) - set(got))]
    lines += [f"unexpected: {p}" for p in sorted(set(got) - set(expected))]
    for path in sorted(set(expected) & set(got)):
        if expected[path] != got[path]:
            lines += difflib.unified_diff(
                expected[path].decode().splitlines(), got[path].decode().splitlines(), path, path, lineterm=""
            )
    return "\n".join([*lines, fix])


@pytest.mark.parametrize("spec_path", VALID, ids=[p.stem for p in VALID])
def test_a_valid_spec_renders_exactly_its_golden_tree(
    spec_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # load the spec by its path from the repository root, as `make golden` does
    got = render_files(load(spec_path.relative_to(REPO)))
    expected = _tree(GOLDEN / spec_path.stem)
    assert got == expected, _explain(expected, got, "if intended, run `make golden`")


def test_the_committed_generated_folders_equal_a_fresh_render() -> None:
    got = render_files(load(REPO / "observatory.yaml"))
    committed = {
        path: data
        for top in names.GENERATED_DIRS
        for path, data in ((f"{top}/{k}", v) for k, v in _tree(REPO / top).items())
    }
    assert got == committed, _explain(committed, got, "stale: run `make render` and commit")


# Renders each spec given on the command line into <out>/<spec stem>/, in a process of its own.
_RENDER_INTO = """
import sys
from pathlib import Path

from observatory.render import render_files
from observatory.spec import load

out = Path(sys.argv[1])
for spec in map(Path, sys.argv[2:]):
    for path, data in render_files(load(spec)).items():
        target = out / spec.stem / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
"""


def test_two_processes_with_different_hash_seeds_render_identical_bytes(tmp_path: Path) -> None:
    """Iterating a set or a dict built from a set follows the string hash seed, which differs per
    process; one process rendering twice would never see it."""
    specs = [Path("observatory.yaml"), *(p.relative_to(REPO) for p in VALID)]
    seeds = ("1", "2")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RENDER_INTO, str(tmp_path / seed), *map(str, specs)],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for seed in seeds
    ]
    for seed, proc in zip(seeds, procs, strict=True):
        output = proc.communicate(timeout=300)[0].decode()
        assert proc.returncode == 0, f"rendering with PYTHONHASHSEED={seed} failed:\n{output}"
    first, second = (_tree(tmp_path / seed) for seed in seeds)
    assert {path.split("/", 1)[0] for path in first} == {p.stem for p in specs}
    assert first == second, _explain(first, second, "rendering depends on PYTHONHASHSEED")
    repository = {k.split("/", 1)[1]: v for k, v in first.items() if k.startswith("observatory/")}
    assert repository == render_files(load(REPO / "observatory.yaml"))


def test_rendering_reads_no_environment_so_secret_values_never_reach_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sentinel = "s3cr3t-value-that-must-not-leak"
    for var in (
        names.ENV_GRAFANA_ADMIN_PASSWORD,
        names.ENV_DB_PASSWORD,
        names.ENV_DB_READER_PASSWORD,
        "S3_ACCESS_KEY_ID",
        "OBSERVATORY_USER_ID_HASH_KEY",
    ):
        monkeypatch.setenv(var, sentinel)
    files = render_files(load(SPECS / "valid" / "full.yaml"))
    assert all(sentinel.encode() not in data for data in files.values())
    assert b"${OBSERVATORY_DB_READER_PASSWORD}" in files[grafana.PROVISIONING_DATASOURCES]


def test_every_file_that_allows_comments_starts_with_the_generated_header() -> None:
    files = render_files(parse("version: v1\n", "observatory.yaml"))
    for path, data in files.items():
        if path.endswith((".yaml", ".yml", ".env")):
            assert data.startswith(
                b"# Generated from observatory.yaml by observatory render. Do not edit.\n"
            ), path
        if path.endswith(".ini"):
            assert data.startswith(b"; Generated from observatory.yaml"), path
        assert data.endswith(b"\n"), path


def test_each_generated_folder_gets_an_index_of_its_files() -> None:
    files = render_files(parse("version: v1\n", "observatory.yaml"))
    for top in names.GENERATED_DIRS:
        assert f"{top}/README.md" in files
    assert b"- `prometheus/prometheus.yml`" in files["stack/README.md"]


def test_a_text_template_refuses_a_value_its_caller_did_not_pass() -> None:
    with pytest.raises(jinja2.UndefinedError, match="'files' is undefined"):
        text.render("folder-readme.md.j2", folder="alerts")


def test_retention_tiers_reach_tempo_loki_and_prometheus() -> None:
    spec = load(SPECS / "valid" / "full.yaml")
    assert tempo.config(spec)["backend_worker"]["compaction"]["block_retention"] == "240h"  # traces warm 10 d
    assert loki.config(spec)["limits_config"]["retention_period"] == "504h"  # logs warm 21 d
    env = render_files(spec)["stack/settings.env"].decode()
    assert "PROMETHEUS_RETENTION=45d\n" in env  # metrics warm 45 d


def test_tempo_3_gets_its_own_config_with_the_same_retention_and_receivers() -> None:
    """Tempo 3 has no ingester or compactor section (it refuses keys it does not know): retention moves
    to the backend worker's compaction; the image's tag decides the release line."""
    spec = load(SPECS / "valid" / "full.yaml")
    three = replace(spec, images=replace(spec.images, tempo="grafana/tempo:3.0.3"))
    two = replace(spec, images=replace(spec.images, tempo="grafana/tempo:2.10.8"))
    new, old = tempo.config(three), tempo.config(two)
    assert new["backend_worker"]["compaction"]["block_retention"] == "240h"
    assert old["compactor"]["compaction"]["block_retention"] == "240h"
    assert not {"ingester", "compactor"} & set(new) and "backend_worker" not in old
    assert new["distributor"] == old["distributor"] and new["storage"] == old["storage"]


def test_a_store_run_from_its_binary_listens_on_loopback_and_keeps_data_where_told() -> None:
    spec = load(SPECS / "valid" / "full.yaml")
    ports = target.StoreProcess("/tmp/x", 1001, 1002, otlp_grpc_port=1003, otlp_http_port=1004)
    t = tempo.config(spec, target.process(ports))
    assert t["server"] == {
        "http_listen_address": "127.0.0.1",
        "http_listen_port": 1001,
        "grpc_listen_address": "127.0.0.1",
        "grpc_listen_port": 1002,
        "log_level": "info",
    }
    protocols = t["distributor"]["receivers"]["otlp"]["protocols"]
    assert (protocols["grpc"]["endpoint"], protocols["http"]["endpoint"]) == (
        "127.0.0.1:1003",
        "127.0.0.1:1004",
    )
    assert t["storage"]["trace"]["local"]["path"] == "/tmp/x/blocks"
    assert t["live_store"]["wal"]["path"] == "/tmp/x/live-store/traces"  # the spec's Tempo is 3.x
    assert t["backend_scheduler"]["local_work_path"] == "/tmp/x/backend-scheduler"
    compose = tempo.config(spec)
    assert set(t) == set(compose) and t["backend_worker"] == compose["backend_worker"]
    lk = loki.config(spec, target.process(ports))
    assert (lk["server"]["http_listen_port"], lk["common"]["path_prefix"]) == (1001, "/tmp/x")
    assert lk["compactor"]["working_directory"] == "/tmp/x/compactor"


def test_the_sql_datasource_follows_the_storage_engine() -> None:
    ts = grafana.sql_datasource(parse("version: v1\n", "s"))
    pg = grafana.sql_datasource(load(SPECS / "valid" / "postgres.yaml"))
    assert (ts["url"], ts["jsonData"]["timescaledb"], ts["jsonData"]["postgresVersion"]) == (
        "timescaledb:5432",
        True,
        1700,
    )
    assert (pg["url"], pg["jsonData"]["timescaledb"], pg["jsonData"]["sslmode"]) == (
        "llm-db.example.internal:6432",
        False,
        "verify-full",
    )
    assert pg["jsonData"]["database"] == "llm_usage"


def test_every_datasource_cross_link_points_at_a_provisioned_uid() -> None:
    data = yaml.safe_load(render_files(parse("version: v1\n", "s"))[grafana.PROVISIONING_DATASOURCES])
    uids = {ds["uid"] for ds in data["datasources"]}
    assert uids == {names.DS_PROMETHEUS, names.DS_TEMPO, names.DS_LOKI, names.DS_SQL, names.DS_ALERTMANAGER}
    by_uid = {ds["uid"]: ds["jsonData"] for ds in data["datasources"]}
    links = {
        "prometheus exemplars": by_uid["prometheus"]["exemplarTraceIdDestinations"][0]["datasourceUid"],
        "tempo to logs": by_uid["tempo"]["tracesToLogsV2"]["datasourceUid"],
        "tempo to metrics": by_uid["tempo"]["tracesToMetrics"]["datasourceUid"],
        "loki trace_id": by_uid["loki"]["derivedFields"][0]["datasourceUid"],
    }
    assert links == {
        "prometheus exemplars": "tempo",
        "tempo to logs": "loki",
        "tempo to metrics": "prometheus",
        "loki trace_id": "tempo",
    }
    assert all(uid in uids for uid in links.values())


def test_the_link_check_rejects_a_link_to_a_missing_datasource() -> None:
    spec = parse("version: v1\n", "s")
    artifacts = render_artifacts(spec)
    datasources = next(a for a in artifacts if a.path == grafana.PROVISIONING_DATASOURCES)
    without_loki = [ds for ds in datasources.content["datasources"] if ds["uid"] != names.DS_LOKI]
    broken = Artifact(datasources.path, {**datasources.content, "datasources": without_loki}, "yaml")
    with pytest.raises(RenderError, match=r"not provisioned: \['loki'\]"):
        check_datasource_links([broken])


def test_two_renderers_writing_one_path_is_an_error() -> None:
    twice = [Artifact("stack/a.yaml", {}, "yaml"), Artifact("stack/a.yaml", {}, "yaml")]
    with pytest.raises(RenderError, match=r"two renderers produce stack/a\.yaml"):
        check_unique_paths(twice)


def test_grafana_variables_are_escaped_from_provisioning_env_expansion() -> None:
    text = render_files(parse("version: v1\n", "s"))[grafana.PROVISIONING_DATASOURCES].decode()
    # Grafana expands $VAR in provisioning files; its own ${__...} variables must be written $${__...}.
    for line in text.splitlines():
        for start in range(len(line)):
            if line.startswith("${__", start) or line.startswith("$__", start):
                assert line[start - 1] == "$", line


def test_an_artifact_path_must_stay_inside_the_repository() -> None:
    with pytest.raises(ValueError, match="inside the repository"):
        Artifact("../etc/passwd", "", "text")


def test_env_values_that_need_quoting_are_refused() -> None:
    with pytest.raises(ValueError, match="needs quoting"):
        serialize(Artifact("stack/x.env", {"A": "two words"}, "env"), "s")


def test_json_output_is_sorted_and_indented() -> None:
    data = serialize(Artifact("dashboards/x.json", {"b": 1, "a": [1.5, "é"]}, "json"), "s")
    assert data == b'{\n  "a": [\n    1.5,\n    "\xc3\xa9"\n  ],\n  "b": 1\n}\n'


def test_grafanas_ini_carries_the_specs_root_url_and_cookie_flags() -> None:
    local = render_files(parse("version: v1\n", "s"))[grafana.GRAFANA_INI].decode()
    assert "cookie_secure = false\ncookie_samesite = lax\n" in local
    assert "root_url" not in local  # Grafana derives it from the request
    tls = "version: v1\ngrafana: {root_url: 'https://grafana.example.com/', cookie_samesite: strict}\n"
    behind_tls = render_files(parse(tls, "s"))[grafana.GRAFANA_INI].decode()
    assert "[server]\nhttp_port = 3000\nroot_url = https://grafana.example.com/\n" in behind_tls
    assert "cookie_secure = true\ncookie_samesite = strict\n" in behind_tls


def test_kubernetes_never_starts_a_collector_without_the_user_id_hash_key() -> None:
    # A non-optional secretKeyRef keeps the pod in CreateContainerConfigError until the Secret has the key.
    files = render_files(parse("version: v1\n", "s"))
    sampling = yaml.safe_load(files["stack/k8s/otel-collector-sampling-deployment.yaml"])
    env = sampling["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == names.ENV_USER_ID_HASH_KEY)["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "llm-observatory-secrets", "key": "user-id-hash-key"}  # no `optional`

    def secret_refs(node: object) -> list[dict[str, object]]:
        if isinstance(node, dict):
            here = [v for k, v in node.items() if k in ("secretKeyRef", "secret") and isinstance(v, dict)]
            return here + [r for v in node.values() for r in secret_refs(v)]
        return [r for v in node for r in secret_refs(v)] if isinstance(node, list) else []

    workloads = [
        yaml.safe_load(b) for p, b in files.items() if p.endswith(("-deployment.yaml", "-statefulset.yaml"))
    ]
    refs = [r for w in workloads for r in secret_refs(w)]
    assert ref in refs and all(not r.get("optional") for r in refs), refs
