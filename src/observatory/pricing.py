"""The price table in Python: which row prices a request, and what the request costs.

It is the reference the collector's OTTL statements are tested against, and what the synthetic
traffic uses for its ground truth. Rules (the same as `render/collector/ottl.py`):
- a row is for one provider; an exact `model` also matches its dated snapshots
  (`gpt-4o-2024-08-06`), a `model_pattern` is a regular expression searched in the model name;
- the model priced is the response model when there is one, else the request model;
- among the rows that match, the newest `effective_from` on or before the request's start wins;
- cost = uncached input x input price + cache reads x cache-read price + cache writes x cache-write
  price + output x output price, uncached input = input - cache reads - cache writes; a missing cache
  price falls back to the input price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from observatory.spec.types import ModelPrice

_SNAPSHOT = r"(-[0-9]{4}-?[0-9]{2}-?[0-9]{2})?$"


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


def matches(row: ModelPrice, provider: str, model: str) -> bool:
    if row.provider != provider:
        return False
    if row.model is not None:
        return re.match(re.escape(row.model) + _SNAPSHOT, model) is not None
    assert row.model_pattern is not None
    return re.search(row.model_pattern, model) is not None


def find_price(rows: tuple[ModelPrice, ...], provider: str, model: str, day: date) -> ModelPrice | None:
    """The row in force for this provider and model on `day`, or None when the model is unpriced."""
    candidates = [r for r in rows if r.effective_from <= day and matches(r, provider, model)]
    return max(candidates, key=lambda r: r.effective_from, default=None)


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
