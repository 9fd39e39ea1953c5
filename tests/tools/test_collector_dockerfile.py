"""docker/collector/Dockerfile, checked without a Docker engine: its build stage builds the collector
from exactly the files it copies (the manifest's `path:` modules resolve inside them), with a Go that
the project's module accepts, and the image runs as the user compose and Kubernetes prepare for."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from observatory.render.collector import manifest
from observatory.render.k8s import components
from tests.conftest import REPO, missing_tool

DOCKERFILE = REPO / "docker/collector/Dockerfile"
MANIFEST = REPO / "stack/otel-collector/manifest.yaml"


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def _build_copies() -> list[tuple[str, str]]:
    """(source, destination) of each COPY of the build stage; destinations are relative to its
    WORKDIR, and one ending in "/" is a folder the source goes into."""
    return [tuple(line.split()[1:]) for line in _stages()[0] if line.startswith("COPY ")]  # type: ignore[misc]


def _go_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_the_build_stage_uses_a_pinned_go_the_projects_module_accepts() -> None:
    first = _stages()[0][0]
    match = re.fullmatch(r"FROM golang:(\d+\.\d+\.\d+)-\w+ AS build", first)
    assert match, f"the build stage's image must be a golang:x.y.z-<os> tag: {first}"
    go_mod = (REPO / "collector/redactprocessor/go.mod").read_text()
    (needed,) = re.findall(r"^go (\S+)$", go_mod, re.M)
    assert _go_version(match[1]) >= _go_version(needed), (match[1], needed)


def test_the_image_runs_the_built_binary_as_the_user_compose_and_kubernetes_prepare_for() -> None:
    runtime = _stages()[-1]
    uid = components.UIDS["otel-collector"]
    assert f"USER {uid}:{uid}" in runtime
    name = yaml.safe_load(MANIFEST.read_text())["dist"]["name"]
    assert f'ENTRYPOINT ["/{name}"]' in runtime
    assert any(line.startswith(f"COPY --from=build /out/{name} ") for line in runtime), runtime


def test_the_build_stage_copies_every_local_module_the_manifest_names() -> None:
    """A `path:` resolves from manifest.BUILD_DIR below the build's WORKDIR, as on a checkout."""
    workdir = Path("/src")
    assert f"WORKDIR {workdir}" in _stages()[0]
    copied = [workdir / dest for _, dest in _build_copies()]
    entries = [
        e for kind in yaml.safe_load(MANIFEST.read_text()).values() if isinstance(kind, list) for e in kind
    ]
    paths = [e["path"] for e in entries if "path" in e]
    assert paths, "the manifest names no local module (the redact processor)"
    for rel in paths:
        resolved = (workdir / manifest.BUILD_DIR / rel).resolve()
        assert any(resolved.is_relative_to(c) for c in copied), (rel, resolved, copied)


def test_the_build_stage_builds_the_collector_from_exactly_what_it_copies(tmp_path: Path) -> None:
    """The Dockerfile's RUN, on a tree holding only the files its COPY lines bring in: the build finds
    everything it needs, and the binary has the project's own processor."""
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        missing_tool("Go is not installed (https://go.dev/dl/; the collector build needs it)")
    for source, dest in _build_copies():
        src, dst = REPO / source, tmp_path / dest
        if src.is_dir():
            shutil.copytree(src, dst)  # Docker copies a folder's contents to the destination
        else:
            dst = dst / src.name if dest.endswith("/") else dst
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    built = subprocess.run(
        [str(tmp_path / "scripts/build-collector.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    binary = tmp_path / built.stdout.strip().splitlines()[-1]
    listed = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, timeout=60, check=True
    )
    processors = yaml.safe_load(listed.stdout)["processors"]
    assert "redact" in {p["name"] for p in processors}, listed.stdout[:2000]
