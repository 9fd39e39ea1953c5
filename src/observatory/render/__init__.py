"""The render pipeline: spec -> one render function per output family -> policy passes -> bytes.

Everything here is pure: no clock, no environment, no network, no randomness, so the same spec
always gives byte-identical files. `observatory.writer` is what puts them on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from observatory import names
from observatory.render import (
    alertmanager,
    alerts,
    api,
    collector,
    compose_env,
    dashboards,
    editor,
    grafana,
    k8s,
    loki,
    prometheus,
    storage,
    tempo,
)
from observatory.render.artifact import Artifact, serialize
from observatory.spec.types import Spec

Renderer = Callable[[Spec], list[Artifact]]

# One entry per output family, each rendering the compose variant (the files on disk). The Kubernetes
# renderer runs after them, on their output: its ConfigMaps hold those bytes.
RENDERERS: tuple[Renderer, ...] = (
    grafana.render,
    prometheus.render,
    alertmanager.render,
    tempo.render,
    loki.render,
    compose_env.render,
    collector.render,
    storage.render,
    alerts.render,
    dashboards.render,
    api.render,
    editor.render,
)


class RenderError(Exception):
    """A policy pass found generated output that must not be written."""


def check_unique_paths(artifacts: list[Artifact]) -> list[Artifact]:
    seen: set[str] = set()
    for artifact in artifacts:
        if artifact.path in seen:
            raise RenderError(f"two renderers produce {artifact.path}")
        seen.add(artifact.path)
    return artifacts


def _datasource_uids(value: object) -> Iterable[str]:
    """Every `datasourceUid` (and `alertmanagerUid`) referenced anywhere inside `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("datasourceUid", "alertmanagerUid") and isinstance(item, str):
                yield item
            yield from _datasource_uids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _datasource_uids(item)


def check_datasource_links(artifacts: list[Artifact]) -> list[Artifact]:
    """Every cross-link between provisioned datasources points at a UID that is provisioned."""
    for artifact in artifacts:
        if artifact.path != grafana.PROVISIONING_DATASOURCES:
            continue
        provisioned = {ds["uid"] for ds in artifact.content["datasources"]}
        dangling = sorted(set(_datasource_uids(artifact.content["datasources"])) - provisioned)
        if dangling:
            raise RenderError(f"{artifact.path}: links to datasources that are not provisioned: {dangling}")
    return artifacts


def index_generated_folders(artifacts: list[Artifact]) -> list[Artifact]:
    """A README in each generated folder, listing what is in it and how it is made."""
    from observatory.render import text

    by_folder: dict[str, list[str]] = {folder: [] for folder in names.GENERATED_DIRS}
    for artifact in artifacts:
        folder = names.generated_dir_of(artifact.path)
        if folder is None:
            raise RenderError(f"{artifact.path} is outside the generated folders ({names.GENERATED_DIRS})")
        by_folder[folder].append(artifact.path.removeprefix(f"{folder}/"))
    readmes = [
        Artifact(
            str(PurePosixPath(folder, "README.md")),
            text.render("folder-readme.md.j2", folder=folder, files=sorted(files)),
            "markdown",
        )
        for folder, files in by_folder.items()
    ]
    return artifacts + readmes


POLICIES: tuple[Callable[[list[Artifact]], list[Artifact]], ...] = (
    check_unique_paths,
    check_datasource_links,
    index_generated_folders,
)


def render_compose(spec: Spec) -> list[Artifact]:
    """What every renderer but Kubernetes produces: the files compose mounts, before the policies."""
    return [artifact for renderer in RENDERERS for artifact in renderer(spec)]


def render_artifacts(spec: Spec) -> list[Artifact]:
    artifacts = render_compose(spec)
    artifacts += k8s.render(spec, artifacts)
    for policy in POLICIES:
        artifacts = policy(artifacts)
    return artifacts


def render_files(spec: Spec) -> dict[str, bytes]:
    """Path (from the repository root) to bytes, for every generated file."""
    # The file name only: a header must not depend on where the repository is checked out.
    source = PurePosixPath(spec.source).name
    return {a.path: serialize(a, source) for a in render_artifacts(spec)}
