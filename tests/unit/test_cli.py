"""The command line, run as a real process: exit codes, error output, render and check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from observatory.render import editor, render_files
from observatory.spec import load
from tests.conftest import GOLDEN, REPO, SPECS


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatory", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_accepts_the_repository_spec() -> None:
    result = run("validate")
    assert (result.returncode, result.stdout) == (0, "observatory.yaml: valid\n")


def test_an_invalid_spec_exits_1_with_one_line_per_problem_and_no_traceback() -> None:
    spec = SPECS / "invalid" / "many_sections.yaml"
    result = run("--spec", str(spec.relative_to(REPO)), "validate")
    expected = spec.with_suffix(".errors").read_text()
    assert result.returncode == 1
    assert result.stderr == expected + "5 problems in the spec\n"
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_usage_error_exits_2() -> None:
    assert run("frobnicate").returncode == 2
    assert run("show", "stack/nope.yaml").returncode == 2


def test_render_writes_the_tree_and_check_then_passes(tmp_path: Path) -> None:
    result = run("--spec", str(SPECS / "valid" / "minimal.yaml"), "render", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "created  stack/prometheus/prometheus.yml" in result.stdout
    check = run("--spec", str(SPECS / "valid" / "minimal.yaml"), "render", "--check", "--root", str(tmp_path))
    assert (check.returncode, check.stdout.startswith("generated files are up to date")) == (0, True)


def test_render_check_exits_1_with_a_diff_and_the_fix_when_output_is_stale(tmp_path: Path) -> None:
    spec = str(SPECS / "valid" / "minimal.yaml")
    run("--spec", spec, "render", "--root", str(tmp_path))
    target = tmp_path / "stack/tempo/tempo.yaml"
    target.write_text(target.read_text().replace("720h", "1h"))
    (tmp_path / "stack/leftover.yaml").write_text("x: 1\n")
    result = run("--spec", spec, "render", "--check", "--root", str(tmp_path))
    assert result.returncode == 1
    assert "-    block_retention: 1h\n+    block_retention: 720h\n" in result.stdout
    assert "--- a/stack/leftover.yaml" in result.stdout
    assert "run `make render`" in result.stderr
    assert "1h" in target.read_text()  # check wrote nothing


def test_render_check_as_json_lists_what_is_stale_and_exits_1(tmp_path: Path) -> None:
    spec = str(SPECS / "valid" / "minimal.yaml")
    fresh = run("--spec", spec, "render", "--root", str(tmp_path), "--format", "json")
    assert fresh.returncode == 0 and "stack/tempo/tempo.yaml" in json.loads(fresh.stdout)["created"]
    target = tmp_path / "stack/tempo/tempo.yaml"
    target.write_text(target.read_text().replace("720h", "1h"))
    (tmp_path / "stack/leftover.yaml").write_text("x: 1\n")
    result = run("--spec", spec, "render", "--check", "--root", str(tmp_path), "--format", "json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["check"] and data["stale"]
    assert (data["created"], data["updated"], data["deleted"]) == (
        [],
        ["stack/tempo/tempo.yaml"],
        ["stack/leftover.yaml"],
    )
    assert "1h" in target.read_text()  # check wrote nothing


def test_validate_as_json_gives_each_problem_at_its_line_and_column_as_the_text_form_does() -> None:
    spec = SPECS / "invalid" / "many_sections.yaml"
    result = run("--spec", str(spec.relative_to(REPO)), "validate", "--format", "json")
    assert result.returncode == 1 and result.stderr == ""
    data = json.loads(result.stdout)
    assert data["valid"] is False and {p["severity"] for p in data["problems"]} == {"error"}
    as_text = [
        f"{p['file']}:{p['line']}:{p['column']}: {p['path'] + ': ' if p['path'] else ''}{p['message']}"
        for p in data["problems"]
    ]
    assert as_text == spec.with_suffix(".errors").read_text().splitlines()
    valid = run("validate", "--format", "json")
    assert valid.returncode == 0 and json.loads(valid.stdout) == {
        "file": "observatory.yaml",
        "valid": True,
        "problems": [],
    }


def test_render_uses_the_embedded_default_when_there_is_no_spec_file(tmp_path: Path) -> None:
    result = run("render", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "stack/prometheus/prometheus.yml").read_text().splitlines()[0]
    assert (
        header == "# Generated from observatory.yaml (built-in default) by observatory render. Do not edit."
    )


MINIMAL = SPECS / "valid" / "minimal.yaml"
INVALID = SPECS / "invalid" / "many_sections.yaml"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "args",
    [
        ("--spec", str(MINIMAL), "validate"),
        ("validate", "--spec", str(MINIMAL)),
        ("validate", str(MINIMAL)),
        ("--spec", str(MINIMAL), "validate", str(MINIMAL)),
    ],
    ids=["before", "after", "positional", "positional-and-the-same-spec"],
)
def test_validate_reads_the_spec_named_before_or_after_the_command_or_as_its_argument(
    args: tuple[str, ...],
) -> None:
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{MINIMAL}: valid\n", "")


def test_validate_with_the_spec_as_argument_reports_that_files_problems() -> None:
    result = run("validate", str(INVALID.relative_to(REPO)))
    assert result.returncode == 1
    assert result.stderr == INVALID.with_suffix(".errors").read_text() + "5 problems in the spec\n"


@pytest.mark.parametrize(
    "args",
    [("render", str(MINIMAL)), ("render", "--spec", str(MINIMAL)), ("render", "--check", str(MINIMAL))],
    ids=["positional", "after", "positional-after-an-option"],
)
def test_render_with_the_spec_as_argument_or_after_the_command_writes_its_golden_tree(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    if "--check" in args:  # render first, so that --check has something up to date to compare
        assert run("render", "--root", str(tmp_path), str(MINIMAL)).returncode == 0
    result = run(*args, "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert _tree(tmp_path) == _tree(GOLDEN / "minimal")


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("validate", ()),
        ("render", ("--check",)),
        ("show", ("stack/images.env",)),
        ("migrate", ("--dsn", "postgresql://127.0.0.1:1/none")),
        ("maintain", ("--dsn", "postgresql://127.0.0.1:1/none")),
        ("ingest", ("--dsn", "postgresql://127.0.0.1:1/none")),
        ("demo", ("--endpoint", "http://127.0.0.1:1")),
        ("local", ("status",)),
        ("push", ("--url", "http://127.0.0.1:1")),
    ],
)
def test_every_command_that_reads_the_spec_takes_spec_after_it(
    tmp_path: Path, command: str, extra: tuple[str, ...]
) -> None:
    # The invalid spec stops each command before it does anything else: its errors prove it was read.
    result = run(command, *extra, "--spec", str(INVALID), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith("5 problems in the spec\n")
    assert result.stderr.startswith(f"{INVALID}:")


@pytest.mark.parametrize(
    "args",
    [
        ("validate", str(MINIMAL), "--spec", str(INVALID)),
        ("render", "--spec", str(MINIMAL), str(INVALID)),
        ("--spec", str(MINIMAL), "validate", "--spec", str(INVALID)),
    ],
    ids=["argument-and-spec", "spec-and-argument", "spec-before-and-after"],
)
def test_two_different_specs_are_a_usage_error_that_names_both(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(*args, "--root", str(tmp_path)) if "render" in args else run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"observatory {'render' if 'render' in args else 'validate'}: ")
    assert str(MINIMAL) in result.stderr and str(INVALID) in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_show_prints_one_generated_file() -> None:
    result = run("show", "stack/images.env")
    assert result.returncode == 0
    assert result.stdout == (REPO / "stack/images.env").read_text()


def test_show_list_prints_every_generated_file_and_show_without_a_file_is_a_usage_error() -> None:
    listed = run("show", "--list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == sorted(render_files(load(REPO / "observatory.yaml")))
    bare = run("show")
    assert bare.returncode == 2 and "--list" in bare.stderr


def test_panels_as_json_gives_each_slug_its_dashboard_file_and_the_id_the_json_gives_it() -> None:
    spec = SPECS / "valid" / "full.yaml"  # hides cost's cache_savings, disables quality
    result = run("--spec", str(spec.relative_to(REPO)), "panels", "--format", "json")
    assert result.returncode == 0, result.stderr
    boards = {b["name"]: b for b in json.loads(result.stdout)["dashboards"]}
    assert (boards["quality"]["enabled"], boards["quality"]["file"], boards["quality"]["panels"]) == (
        False,
        None,
        [],
    )
    cost = boards["cost"]
    assert cost["hidden"] == ["cache_savings"]
    assert "cache_savings" not in {p["slug"] for p in cost["panels"]}
    rendered = json.loads((GOLDEN / "full" / cost["file"]).read_text())["panels"]
    assert [(p["id"], p["title"]) for p in cost["panels"]] == [(p["id"], p["title"]) for p in rendered]
    text = run("--spec", str(spec.relative_to(REPO)), "panels")
    assert "cost: dashboards/llm-cost.json" in text.stdout and "cache_savings" in text.stdout


def test_schema_prints_exactly_the_schema_committed_for_the_editor_extension() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert result.stdout == (REPO / editor.SCHEMA_PATH).read_text(encoding="utf-8")


def test_every_section_of_the_schema_has_a_description_for_hover_and_no_null_default() -> None:
    schema = json.loads(run("schema").stdout)
    assert [name for name, field in schema["properties"].items() if not field.get("description")] == []
    assert '"default": null' not in json.dumps(schema)  # None means "the built-in default", not null


def test_version_is_one_line_that_editors_can_compare() -> None:
    """The VS Code extension reads this line to refuse a CLI older than the one it was built for."""
    result = run("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"observatory \d+\.\d+\.\d+\n", result.stdout), result.stdout


def test_schema_prints_a_json_schema_that_knows_every_section() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert set(schema["properties"]) >= {
        "version",
        "images",
        "ports",
        "models",
        "sampling",
        "retention",
        "slos",
        "budgets",
        "alerting",
        "pii",
        "dashboards",
        "storage",
        "deploy",
    }
    assert schema["additionalProperties"] is False


def test_the_console_script_is_installed() -> None:
    exe = shutil.which("observatory", path=str(Path(sys.executable).parent))
    assert exe is not None
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.startswith("observatory ")


def test_fresh_is_refused_with_any_local_action_but_up(tmp_path: Path) -> None:
    result = run("local", "down", "--fresh", "--state-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "--fresh goes with `local up`" in result.stderr
