"""What an installed wheel needs: dependencies declared exactly as imported, and its data files.

pyproject's `dependencies` are the distributions the package imports (read from the source with `ast`);
its `dev` extra is what the tests and scripts import beyond those, plus the tools that are run rather
than imported; requirements.lock pins every one of them. Which distribution provides a module is read
from the installed environment (`importlib.metadata`), so `google` counts as protobuf. Every file of the
package that is not Python is listed in `package-data`, or a wheel leaves it out.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# This repository's own top-level modules; observatory_native is the ingester's decoder, built from
# native/ by scripts/install.sh and optional (the ingester falls back to Python without it).
# A script may import another (scripts/ is on sys.path when one runs): those are ours too.
# The proxy tests import the capture's fake provider and scenarios (standard library only) the same way.
# observatory_sdk is the Python distro (sdk/python), which scripts/bench_sdk.py imports in its own venv.
OWN = (
    {"observatory", "tests", "observatory_native", "observatory_sdk"}
    | {p.stem for p in (REPO / "scripts").glob("*.py")}
    | {p.stem for p in (REPO / "scripts" / "capture").glob("*.py")}
)
# Run, not imported: the linter, the type checker and the stubs it reads for the package's imports.
TOOLS = {"ruff", "mypy", "types-pyyaml", "types-requests", "types-protobuf"}


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them: lower case, runs of `-`, `_`, `.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        # A requirement starts with its name (letters, digits, `.`, `_`, `-`); extras and versions follow.
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(_normalized(match.group()))
    return names


# Run by scripts/capture_instrumentation.py in throw-away venvs of their own, with the pins it records
# (tests/corpus/*/requirements.txt): the instrumentation libraries are not this project's dependencies.
OWN_VENVS = (REPO / "scripts" / "capture",)


def _imported(*folders: str) -> set[str]:
    """The distributions of every third-party module imported anywhere under `folders`."""
    modules: set[str] = set()
    paths = (p for folder in folders for p in (REPO / folder).rglob("*.py"))
    for path in sorted(p for p in paths if not any(p.is_relative_to(v) for v in OWN_VENVS)):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - OWN
    providers = packages_distributions()
    unknown = sorted(m for m in third_party if m not in providers)
    assert not unknown, f"imported, but no installed distribution provides them: {unknown}"
    return {_normalized(dist) for module in third_party for dist in providers[module]}


def _locked() -> set[str]:
    lines = (REPO / "requirements.lock").read_text().splitlines()
    return {_normalized(line.split("==")[0]) for line in lines if "==" in line}


def test_the_package_declares_exactly_the_distributions_it_imports() -> None:
    assert _imported("src") == _declared(PROJECT["dependencies"])


def test_the_dev_extra_declares_what_tests_and_scripts_import_beyond_the_package_and_the_tools() -> None:
    dev = _declared(PROJECT["optional-dependencies"]["dev"])
    assert TOOLS - dev == set()
    assert _imported("tests", "scripts") - _declared(PROJECT["dependencies"]) == dev - TOOLS


def test_the_lock_pins_every_declared_distribution() -> None:
    declared = _declared(PROJECT["dependencies"]) | _declared(PROJECT["optional-dependencies"]["dev"])
    assert declared - _locked() == set()


def test_every_data_file_of_the_package_is_package_data() -> None:
    package = REPO / "src" / "observatory"
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["observatory"]
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert sorted(str(p.relative_to(package)) for p in data - shipped) == []
    assert any(p.suffix == ".j2" for p in shipped)
