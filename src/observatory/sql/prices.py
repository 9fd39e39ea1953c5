"""The spec's price table as SQL, and `observatory.pricing`'s price-matching rule written in SQL.

`prices_cte` is the table as a CTE named `prices`, one row per spec row with its place in the spec and the
`pricing.model_regex` of its model; `price_row` is the subquery that picks, for one request, the row
`pricing.find_price` picks. tests/processes/test_pricing.py runs both on a real PostgreSQL, case by case,
against `find_price`.
"""

from __future__ import annotations

from typing import Final

from observatory.pricing import model_regex
from observatory.spec.types import ModelPrice

COLUMNS: Final = (
    "spec_order",  # the row's index in the spec's `models`: of two rows of one date, the later wins
    "provider",
    "model_regex",
    "effective_from",
    "input_usd_per_million_tokens",
    "output_usd_per_million_tokens",
    "cache_read_usd_per_million_tokens",
    "cache_write_usd_per_million_tokens",
)
_TYPES: Final = ("integer", "text", "text", "date", "float8", "float8", "float8", "float8")


def text(value: str | None) -> str:
    """A SQL string literal (standard_conforming_strings: only the quote is doubled)."""
    return "NULL::text" if value is None else "'" + value.replace("'", "''") + "'"


def _float(value: float | None) -> str:
    return "NULL::float8" if value is None else f"{value!r}::float8"


def _row(position: int, row: ModelPrice) -> str:
    values = (
        str(position),
        text(row.provider),
        text(model_regex(row)),
        f"DATE '{row.effective_from.isoformat()}'",
        _float(row.input_usd_per_million_tokens),
        _float(row.output_usd_per_million_tokens),
        _float(row.cache_read_usd_per_million_tokens),
        _float(row.cache_write_usd_per_million_tokens),
    )
    return f"({', '.join(values)})"


def prices_cte(models: tuple[ModelPrice, ...]) -> str:
    """`prices (spec_order, provider, model_regex, effective_from, <prices in USD per million>) AS (...)`."""
    if not models:  # VALUES cannot be empty: the same columns, typed, and no row
        nulls = ", ".join(f"NULL::{t} AS {c}" for c, t in zip(COLUMNS, _TYPES, strict=True))
        return f"prices AS (SELECT {nulls} WHERE false)"
    rows = ",\n    ".join(_row(i, r) for i, r in enumerate(models))
    return f"prices ({', '.join(COLUMNS)}) AS (VALUES\n    {rows})"


def priced_model(request_model: str, response_model: str) -> str:
    """`pricing.priced_model` over two SQL text expressions: the response model unless it is NULL."""
    return f"coalesce({response_model}, {request_model})"


def price_row(provider: str, model: str, day: str) -> str:
    """The `prices` row in force for a request, as a subquery of at most one row (none: unpriced).

    `provider` and `model` are SQL text expressions (the model is the priced one, see
    `priced_model`), `day` a date expression: the UTC day the request started.
    """
    return (
        f"SELECT * FROM prices\n"
        f"  WHERE prices.provider = {provider} AND {model} ~ prices.model_regex"
        f" AND prices.effective_from <= {day}\n"
        "  ORDER BY prices.effective_from DESC, prices.spec_order DESC LIMIT 1"
    )


def cache_read_saving(row: str) -> str:
    """USD per million cache-read tokens that `row` (a `prices` row) bills below its input price.

    As in `pricing.cost_usd`, a row without a cache-read price bills cache reads as input: no saving.
    """
    return (
        f"{row}.input_usd_per_million_tokens"
        f" - coalesce({row}.cache_read_usd_per_million_tokens, {row}.input_usd_per_million_tokens)"
    )
