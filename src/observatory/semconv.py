"""The OpenTelemetry attribute names the stack reads from spans and resources, and those it adds.

The GenAI names are the pinned semantic conventions the collector normalises every dialect to
(`dialects.yaml` maps the others onto these); the `llm.*` names are this project's own, set by the
collector's pricing and normalisation. Renderers, the ingester and the traffic generator import them
from here; tests spell them out, as the instrumentation libraries do.
"""

from __future__ import annotations

from typing import Final

# --- Resource attributes: which application, environment and team a span comes from.
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"
TEAM: Final = "team"  # not a convention: the team that owns an application, for budgets

# --- Span attributes of an LLM request (OpenTelemetry GenAI conventions).
PROVIDER: Final = "gen_ai.provider.name"
OPERATION: Final = "gen_ai.operation.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"  # cached ones included
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"  # reasoning ones included
CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
REQUEST_STREAM: Final = "gen_ai.request.stream"  # true when the response was streamed
ERROR_TYPE: Final = "error.type"  # after the collector: one of dialects.yaml's error_types
USER_ID: Final = "user.id"  # hashed by the collector before it leaves it

# --- Added by the collector.
COST_USD: Final = "llm.cost.usd"
UNPRICED: Final = "llm.cost.unpriced"  # true when no price row matched: never a silent zero
PRICE_VERSION: Final = "llm.cost.price_effective_from"  # YYYY-MM-DD of the price row used
NORMALISED_FROM: Final = "llm.normalised_from"  # the dialect a span's attributes were renamed from
IS_REQUEST: Final = "llm.request"  # true on the spans that are LLM requests (decided once, in normalisation)
ERROR_RAW_TYPE: Final = "llm.error.raw_type"  # error.type as the library wrote it (or the HTTP status)
