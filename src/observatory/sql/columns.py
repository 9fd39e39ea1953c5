"""The columns of the per-request table, in order: one row per LLM request.

The DDL (`observatory.sql.schema`), the ingester's COPY column list and its span-to-row mapping all
read this list, so a column added here appears in all three. A column added after the first release
names the migration that adds it (`since`) and comes after the others: applied migrations are never
edited, and a column a migration adds is the table's last.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Column(NamedTuple):
    name: str
    sql_type: str
    not_null: bool
    doc: str
    since: int = 1  # the migration version that adds it (1: the table's CREATE)


COLUMNS: Final = (
    Column("time", "timestamptz", True, "when the request started (span start)"),
    Column("trace_id", "text", True, "W3C trace id, 32 hex digits"),
    Column("span_id", "text", True, "span id, 16 hex digits"),
    Column("application", "text", True, "resource service.name"),
    Column("environment", "text", True, "resource deployment.environment.name"),
    Column("team", "text", False, "resource attribute team"),
    Column("user_id", "text", False, "user.id after the collector's keyed hash"),
    Column("provider", "text", False, "gen_ai.provider.name"),
    Column("request_model", "text", False, "gen_ai.request.model"),
    Column("response_model", "text", False, "gen_ai.response.model"),
    Column("operation", "text", False, "gen_ai.operation.name"),
    Column("status", "text", True, "ok, error or unset (the span status)"),
    Column("error_type", "text", False, "error.type of a failed request, in dialects.yaml's vocabulary"),
    Column("finish_reason", "text", False, "first of gen_ai.response.finish_reasons"),
    Column("duration_ms", "double precision", True, "span duration"),
    Column("ttft_ms", "double precision", False, "time to first token of a streamed response"),
    Column("input_tokens", "bigint", False, "gen_ai.usage.input_tokens (cached ones included)"),
    Column("output_tokens", "bigint", False, "gen_ai.usage.output_tokens (reasoning included)"),
    Column("cache_read_tokens", "bigint", False, "gen_ai.usage.cache_read.input_tokens"),
    Column("cache_write_tokens", "bigint", False, "gen_ai.usage.cache_creation.input_tokens"),
    Column("reasoning_tokens", "bigint", False, "gen_ai.usage.reasoning.output_tokens"),
    Column("cost_usd", "double precision", False, "llm.cost.usd; null when unpriced"),
    Column("unpriced", "boolean", True, "the model had no row in the price table"),
    Column("price_version", "date", False, "effective_from of the price row used"),
    # Added by migration 2, so last: ALTER TABLE ADD COLUMN appends, and the table's order is this one.
    Column("error_type_raw", "text", False, "error.type as the library wrote it (llm.error.raw_type)", 2),
)
NAMES: Final = tuple(c.name for c in COLUMNS)
# A retried batch carries the same spans: this key makes the second insert a no-op. It includes the
# partitioning column, as unique keys on partitioned tables and hypertables must.
UNIQUE_KEY: Final = ("time", "trace_id", "span_id")
