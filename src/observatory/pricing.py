"""The price-matching rule, and the price table in Python: which row prices a request, and its cost.

This is the one home of the rule. The collector's OTTL (`render/collector/ottl.py`) and the
dashboards' SQL (`sql/prices.py`) are written from `model_regex` and `precedence`, and tests run
both, case by case, against `find_price` (tests/processes/test_pricing.py). The synthetic traffic uses it for
its ground truth. The rule:
- the model priced is the response model when the span has one, else the request model;
- a row is for one provider; an exact `model` also matches its dated snapshots
  (`gpt-4o-2024-08-06`, `gpt-4o-20240806`), a `model_pattern` is a regular expression searched in
  the model name;
- among the rows that match, the newest `effective_from` on or before the request's start (a UTC
  day) wins; of two rows with the same date, the one listed later in the spec.
Cost = uncached input x input price + cache reads x cache-read price + cache writes x cache-write
price + output x output price, uncached input = input - cache reads - cache writes; a missing cache
price falls back to the input price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from observatory.spec.types import ModelPrice

# A dated snapshot at the end of a name: a dash and an 8-digit date, YYYYMMDD or YYYY-MM-DD. The
# regexes here keep to the syntax Python's re, Go's RE2 (OTTL's IsMatch) and PostgreSQL's `~` share
# (only Python's `$` also matches before a final newline, which no model name ends with).
SNAPSHOT = r"(-[0-9]{4}-?[0-9]{2}-?[0-9]{2})?$"
# The characters special in any of the three engines; a backslash before one is literal in all three.
_SPECIAL = frozenset(r".^$*+?()[]{}|\-")


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def escape(text: str) -> str:
    """`text` as a regular expression that matches exactly it, in all three engines."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def model_regex(row: ModelPrice) -> str:
    """The regular expression, searched in the priced model's name, that says whether `row` is for it."""
    if row.model is not None:
        return "^" + escape(row.model) + SNAPSHOT
    assert row.model_pattern is not None
    return row.model_pattern


def priced_model(request_model: str, response_model: str | None) -> str:
    """The model a request is priced as: the one that answered, when the span says which.

    As in the collector, a response model that is present is used even when it is empty.
    """
    return request_model if response_model is None else response_model


def matches(row: ModelPrice, provider: str | None, model: str) -> bool:
    return row.provider == provider and re.search(model_regex(row), model) is not None


def precedence(rows: tuple[ModelPrice, ...]) -> list[tuple[int, ModelPrice]]:
    """The rows with their positions in the spec, weakest first: the last one in force that matches wins.

    That is: oldest `effective_from` first, and rows of the same date in the order the spec lists them.
    """
    return sorted(enumerate(rows), key=lambda item: item[1].effective_from)


def find_price(
    rows: tuple[ModelPrice, ...], provider: str | None, model: str, day: date
) -> ModelPrice | None:
    """The row in force for this provider and model on `day`, or None when the model is unpriced."""
    found = None
    for _, row in precedence(rows):
        if row.effective_from <= day and matches(row, provider, model):
            found = row
    return found


def cost_usd(row: ModelPrice, usage: Usage) -> float:
    def per_token(usd_per_million: float | None, fallback: float) -> float:
        return (fallback if usd_per_million is None else usd_per_million) / 1_000_000

    p_in = row.input_usd_per_million_tokens / 1_000_000
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return (
        uncached * p_in
        + usage.cache_read_tokens
        * per_token(row.cache_read_usd_per_million_tokens, row.input_usd_per_million_tokens)
        + usage.cache_write_tokens
        * per_token(row.cache_write_usd_per_million_tokens, row.input_usd_per_million_tokens)
        + usage.output_tokens * row.output_usd_per_million_tokens / 1_000_000
    )
