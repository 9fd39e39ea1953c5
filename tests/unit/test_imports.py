"""The package's layers, read from its source with `ast`: nothing imports back up the pipeline.

spec -> render -> writer runs one way, the runtime services (storage, ingest, local) sit beside it,
and `observatory.sql` is pure text both sides share. Imports are followed transitively inside the
package, so a renderer cannot reach the database through a helper either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modules `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # The package imports absolutely; a relative import would need resolving here first.
            assert node.level == 0 and node.module, f"{path}:{node.lineno}: relative import"
            base = node.module
            found.add(base)
            # `from observatory import names` imports the module observatory.names.
            found |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules}
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted((SRC / "observatory").rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


GRAPH = _graph()


def _reachable(start: str) -> set[str]:
    """Everything `start` imports, directly or through other modules of the package."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for imported in GRAPH.get(todo.pop(), ()):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


RUNTIME = ("observatory.storage", "observatory.ingest", "observatory.local")
# (layer, packages it must never reach)
RULES = [
    ("observatory.render", RUNTIME),
    ("observatory.sql", (*RUNTIME, "observatory.render")),
    ("observatory.storage", ("observatory.render",)),
    ("observatory.ingest", ("observatory.render",)),
]


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[layer for layer, _ in RULES])
def test_no_module_of_a_layer_reaches_a_layer_it_must_not_import(
    layer: str, forbidden: tuple[str, ...]
) -> None:
    modules = [m for m in GRAPH if _under(m, (layer,))]
    assert modules, f"no module found under {layer}"
    offences = {m: sorted(i for i in _reachable(m) if _under(i, forbidden)) for m in modules}
    assert not {m: bad for m, bad in offences.items() if bad}


def test_the_sql_package_is_pure_text_with_no_database_clock_or_environment() -> None:
    impure = ("psycopg", "os", "time", "random", "socket", "subprocess", "requests", "observatory.processes")
    offences = {m: sorted(i for i in _reachable(m) if _under(i, impure)) for m in GRAPH}
    assert not {m: bad for m, bad in offences.items() if _under(m, ("observatory.sql",)) and bad}


def test_the_import_reader_sees_imports_of_every_form() -> None:
    # Guards the tests above against a reader that finds nothing: each of these edges exists.
    assert "observatory.sql.schema" in GRAPH["observatory.storage.migrate"]  # from a.b import c
    assert "observatory.names" in GRAPH["observatory.sql.queries"]  # from observatory import names
    assert "psycopg" in GRAPH["observatory.storage.maintain"]  # import psycopg
    assert "observatory.storage.maintain" in GRAPH["observatory.ingest.server"]  # inside a function
    assert "observatory.storage.migrate" in _reachable("observatory.cli")  # transitively
