"""The only writer of generated output: syncs the generated folders with a fresh render.

It owns `names.GENERATED_DIRS`: files there that the render no longer produces are deleted, files
whose bytes did not change are not touched (so their modification times stay), and in check mode it
writes nothing and returns a unified diff of what a sync would change.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from observatory import names


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted"
        )


def _owned_files(root: Path, owned: tuple[str, ...]) -> set[str]:
    found = set()
    for top in owned:
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                found.add((Path(dirpath) / name).relative_to(root).as_posix())
    return found


def _diff(path: str, old: bytes | None, new: bytes | None) -> str:
    def lines(data: bytes | None) -> list[str]:
        return [] if data is None else data.decode("utf-8", errors="replace").splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), f"a/{path}", f"b/{path}"))


def sync(
    root: Path,
    files: Mapping[str, bytes],
    *,
    check: bool = False,
    owned: tuple[str, ...] = names.GENERATED_DIRS,
) -> SyncReport:
    """Make the owned folders under `root` hold exactly `files`; with `check`, only report."""
    outside = [p for p in files if not any(p.startswith(f"{top}/") for top in owned)]
    if outside:
        raise ValueError(f"render produced files outside the generated folders: {', '.join(sorted(outside))}")
    report = SyncReport()
    diffs = []
    for path in sorted(files):
        target = root / path
        old = target.read_bytes() if target.is_file() else None
        if old == files[path]:
            report.unchanged.append(path)
            continue
        (report.updated if old is not None else report.created).append(path)
        diffs.append(_diff(path, old, files[path]))
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(files[path])
            tmp.replace(target)  # atomic: a reader never sees half a file
    for path in sorted(_owned_files(root, owned) - set(files)):
        report.deleted.append(path)
        diffs.append(_diff(path, (root / path).read_bytes(), None))
        if not check:
            (root / path).unlink()
    if not check:
        _remove_empty_dirs(root, owned)
    report.diff = "".join(diffs)
    return report


def _remove_empty_dirs(root: Path, owned: tuple[str, ...]) -> None:
    for top in owned:
        for dirpath, _dirs, _files in sorted(os.walk(root / top), reverse=True):
            path = Path(dirpath)
            if path != root / top and not any(path.iterdir()):
                path.rmdir()
