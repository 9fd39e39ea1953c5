"""Regenerates the test snapshots: error output of every invalid spec, the golden tree of every valid one,
and the README's compatibility table (made from tests/corpus).

Run it (`make golden`) after an intended change to messages or generated output, then review the
diff of tests/ like any other change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from observatory import writer
from observatory.render import render_files
from observatory.spec import SpecInvalid, load

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests package: the table is made by the same code its test checks
from tests import corpus_table  # noqa: E402

SPECS = REPO / "tests" / "specs"
GOLDEN = REPO / "tests" / "golden"


def error_snapshot(spec_path: Path) -> str:
    """The error lines for an invalid spec, with its path relative to the specs folder."""
    try:
        load(spec_path.relative_to(REPO))
    except SpecInvalid as invalid:
        return "".join(f"{error}\n" for error in invalid.errors)
    raise SystemExit(f"{spec_path} is valid, but it is in the invalid specs folder")


def main() -> None:
    import os

    os.chdir(REPO)
    for spec_path in sorted((SPECS / "invalid").glob("*.yaml")):
        spec_path.with_suffix(".errors").write_text(error_snapshot(spec_path), encoding="utf-8")
    for spec_path in sorted((SPECS / "valid").glob("*.yaml")):
        root = GOLDEN / spec_path.stem
        root.mkdir(parents=True, exist_ok=True)
        report = writer.sync(root, render_files(load(spec_path.relative_to(REPO))))
        print(f"{spec_path.stem}: {report.summary()}")
    readme = REPO / "README.md"
    readme.write_text(corpus_table.replace_in(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
