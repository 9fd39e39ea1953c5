"""The README's compatibility table is the one the corpus makes (`make golden` rewrites it)."""

from __future__ import annotations

from tests import corpus_table
from tests.conftest import REPO


def test_the_readmes_compatibility_table_is_made_from_the_corpus() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert corpus_table.BEGIN in readme and corpus_table.END in readme
    assert corpus_table.replace_in(readme) == readme, "stale: `make golden` makes it from tests/corpus"


def test_a_library_that_emits_no_cache_reads_says_no_there() -> None:
    row = next(line for line in corpus_table.table().splitlines() if line.startswith("| openai-v2-2.4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2 + 3] == "no"  # library, packages, then response model, input, output, cache reads
