"""The writer: syncs the generated folders, reports what changed, and in check mode writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from observatory import writer


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_sync_creates_updates_keeps_and_deletes(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "stack/same.yaml": "same\n",
            "stack/old.yaml": "old\n",
            "stack/gone/x.yaml": "x\n",
            "README.md": "not owned\n",
        },
    )
    kept_mtime = (tmp_path / "stack/same.yaml").stat().st_mtime_ns
    report = writer.sync(
        tmp_path, {"stack/same.yaml": b"same\n", "stack/old.yaml": b"new\n", "alerts/new.yml": b"fresh\n"}
    )
    assert (report.created, report.updated, report.unchanged, report.deleted) == (
        ["alerts/new.yml"],
        ["stack/old.yaml"],
        ["stack/same.yaml"],
        ["stack/gone/x.yaml"],
    )
    assert (tmp_path / "stack/old.yaml").read_text() == "new\n"
    assert not (tmp_path / "stack/gone").exists()  # emptied folders go too
    assert (tmp_path / "README.md").read_text() == "not owned\n"  # outside the owned folders: untouched
    assert (tmp_path / "stack/same.yaml").stat().st_mtime_ns == kept_mtime
    assert report.summary() == "1 created, 1 updated, 1 unchanged, 1 deleted"


def test_check_mode_writes_nothing_and_returns_a_unified_diff(tmp_path: Path) -> None:
    _write(tmp_path, {"stack/a.yaml": "port: 1\n", "stack/stale.yaml": "x\n"})
    report = writer.sync(tmp_path, {"stack/a.yaml": b"port: 2\n"}, check=True)
    assert report.changed
    assert "-port: 1\n+port: 2\n" in report.diff
    assert "--- a/stack/stale.yaml" in report.diff
    assert (tmp_path / "stack/a.yaml").read_text() == "port: 1\n"
    assert (tmp_path / "stack/stale.yaml").exists()


def test_check_mode_on_an_up_to_date_tree_reports_no_change(tmp_path: Path) -> None:
    _write(tmp_path, {"stack/a.yaml": "a\n"})
    report = writer.sync(tmp_path, {"stack/a.yaml": b"a\n"}, check=True)
    assert not report.changed and report.diff == ""


def test_a_file_outside_the_generated_folders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"outside the generated folders: src/x\.py"):
        writer.sync(tmp_path, {"src/x.py": b""})
    assert not (tmp_path / "src").exists()


def test_a_generated_folder_inside_hand_written_code_is_synced_without_touching_its_neighbours(
    tmp_path: Path,
) -> None:
    owned = ("stack", "editors/vscode/schema")
    _write(
        tmp_path,
        {
            "editors/vscode/package.json": "{}\n",
            "editors/vscode/schema/old.json": "{}\n",
        },
    )
    report = writer.sync(tmp_path, {"editors/vscode/schema/new.json": b"{}\n"}, owned=owned)
    assert (report.created, report.deleted) == (
        ["editors/vscode/schema/new.json"],
        ["editors/vscode/schema/old.json"],
    )
    assert (tmp_path / "editors/vscode/package.json").read_text() == "{}\n"
    with pytest.raises(ValueError, match=r"editors/vscode/package\.json"):
        writer.sync(tmp_path, {"editors/vscode/package.json": b"{}\n"}, owned=owned)
