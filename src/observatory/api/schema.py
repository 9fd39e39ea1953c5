"""The GraphQL schema of `observatory api`: spend, errors, requests, budgets and the price table.

Resolvers run the `observatory.api.store` queries on a pooled read-only connection in a worker
thread, so one slow query does not hold the others. An argument the store cannot answer is a GraphQL
error that says why; any other failure is masked ("Unexpected error."), so no SQL or traceback reaches
a client. The SDL is committed (`stack/api/schema.graphql`) and `render --check` catches a stale one.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, NewType, TypeVar

import psycopg
import strawberry
from graphql import GraphQLError
from psycopg_pool import ConnectionPool
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from observatory.api import metrics, store, traces
from observatory.pricing import precedence
from observatory.spec.types import Spec

log = logging.getLogger(__name__)
MAX_DEPTH = 6
MAX_ALIASES = 20
MAX_TOKENS = 2000

BigInt = NewType("BigInt", int)
_BIG_INT = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=int,
    description="A whole number that may exceed 32 bits (token and request counts).",
)


@strawberry.enum(description="What figures may be grouped and filtered by.")
class Dimension(enum.Enum):
    APPLICATION = "application"
    ENVIRONMENT = "environment"
    TEAM = "team"
    PROVIDER = "provider"
    MODEL = "model"
    OPERATION = "operation"
    USER = "user"


@strawberry.enum(description="The length of one series point: a UTC hour, day or month.")
class Granularity(enum.Enum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@strawberry.input(description="Rows whose every named dimension holds one of the values given.")
class RequestFilter:
    application: list[str] | None = None
    environment: list[str] | None = None
    team: list[str] | None = None
    provider: list[str] | None = None
    model: list[str] | None = None
    operation: list[str] | None = None
    user: list[str] | None = strawberry.field(default=None, description="Hashed user ids, as stored.")

    def to_store(self) -> store.Filter:
        return store.Filter.of(**{d.value: getattr(self, d.value) for d in Dimension})


@strawberry.type(description="Figures for one group (and series point) of a spend query.")
class SpendRow:
    time: datetime | None = strawberry.field(description="The series point's start; null for a total.")
    application: str | None
    environment: str | None
    team: str | None
    provider: str | None
    model: str | None = strawberry.field(description="The requested model.")
    operation: str | None
    user: str | None = strawberry.field(description="The hashed user id.")
    requests: BigInt
    errors: BigInt
    unpriced_requests: BigInt = strawberry.field(description="Requests to models with no price row.")
    input_tokens: BigInt
    output_tokens: BigInt
    cache_read_tokens: BigInt
    cache_write_tokens: BigInt
    reasoning_tokens: BigInt
    cost_usd: float = strawberry.field(description="Priced requests only: unpriced ones have no cost.")


@strawberry.type
class Spend:
    total: SpendRow = strawberry.field(description="The whole range, every group together.")
    rows: list[SpendRow] = strawberry.field(description="Per group and series point, in time then key order.")


@strawberry.type
class ErrorCount:
    type: str = strawberry.field(description="The normalised error type (dialects.yaml's vocabulary).")
    count: BigInt


@strawberry.type
class ErrorRow:
    application: str | None
    environment: str | None
    team: str | None
    provider: str | None
    model: str | None
    operation: str | None
    requests: BigInt
    errors: BigInt
    error_ratio: float
    by_type: list[ErrorCount] = strawberry.field(description="Types with at least one error, most first.")


@strawberry.enum(
    description="What user satisfaction may be grouped and filtered by: the rated request's keys."
)
class RatedDimension(enum.Enum):
    APPLICATION = "application"
    ENVIRONMENT = "environment"
    PROVIDER = "provider"
    MODEL = "model"


@strawberry.input(description="Ratings whose rated request's every named key holds one of the values given.")
class RatedFilter:
    application: list[str] | None = None
    environment: list[str] | None = None
    provider: list[str] | None = None
    model: list[str] | None = None

    def to_store(self) -> store.Filter:
        return store.Filter.of(**{d.value: getattr(self, d.value) for d in RatedDimension})


@strawberry.type(description="End users' ratings (observatory_sdk.feedback) of one group of rated requests.")
class SatisfactionRow:
    application: str | None
    environment: str | None
    provider: str | None
    model: str | None = strawberry.field(description="The rated request's model.")
    ratings: BigInt = strawberry.field(description="Ratings with a score, joined to the request they rate.")
    satisfaction: float = strawberry.field(description="Their mean score (thumbs: up 1, down 0).")
    unhappy: BigInt = strawberry.field(description="Ratings with a score under 0.5.")
    mean_latency_ms: float = strawberry.field(description="The rated requests' mean duration.")
    mean_cost_usd: float | None = strawberry.field(description="The priced rated requests' mean cost.")


@strawberry.type
class Request:
    time: datetime
    trace_id: str
    span_id: str
    application: str
    environment: str
    team: str | None
    user: str | None = strawberry.field(description="The hashed user id.")
    provider: str | None
    request_model: str | None
    response_model: str | None
    operation: str | None
    status: str
    error_type: str | None
    finish_reason: str | None
    duration_ms: float
    ttft_ms: float | None
    input_tokens: BigInt | None
    output_tokens: BigInt | None
    cache_read_tokens: BigInt | None
    cache_write_tokens: BigInt | None
    reasoning_tokens: BigInt | None
    cost_usd: float | None
    unpriced: bool


@strawberry.type
class RequestEdge:
    cursor: str
    node: Request


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="Per-request rows, newest first; `after: pageInfo.endCursor` continues.")
class RequestConnection:
    edges: list[RequestEdge]
    page_info: PageInfo


@strawberry.type
class Budget:
    kind: str = strawberry.field(description="application or team")
    name: str
    daily_usd: float | None
    monthly_usd: float | None
    spent_today_usd: float = strawberry.field(description="Since 00:00 UTC.")
    spent_month_usd: float = strawberry.field(description="Since the 1st, 00:00 UTC.")
    projected_day_usd: float = strawberry.field(description="Today's spend at its rate so far.")
    projected_month_usd: float = strawberry.field(description="This month's spend at its rate so far.")
    state: str = strawberry.field(description="over (a limit passed), at_risk (on course to) or ok.")


@strawberry.type
class ModelPrice:
    provider: str
    model: str | None
    model_pattern: str | None
    input_usd_per_million_tokens: float
    output_usd_per_million_tokens: float
    cache_read_usd_per_million_tokens: float | None
    cache_write_usd_per_million_tokens: float | None
    effective_from: date


@strawberry.enum(description="Which latency: the whole request, or the time to its first token (streamed).")
class LatencyKind(enum.Enum):
    DURATION = "duration"
    TTFT = "ttft"


@strawberry.type
class Quantile:
    quantile: float
    seconds: float


@strawberry.type(description="Latency percentiles of one group, from Prometheus's histograms.")
class LatencyRow:
    application: str | None
    environment: str | None
    provider: str | None
    model: str | None
    operation: str | None
    quantiles: list[Quantile]


@strawberry.type
class Attribute:
    key: str
    value: str = strawberry.field(description="As text: numbers and booleans as JSON writes them.")


@strawberry.type
class TraceSpan:
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_time: datetime
    duration_ms: float
    status: str = strawberry.field(description="ok, error or unset")
    attributes: list[Attribute]


@strawberry.type(description="A trace as Tempo holds it (failed and slow ones always; a sample of the rest).")
class Trace:
    trace_id: str
    spans: list[TraceSpan] = strawberry.field(description="In start order.")


@dataclass
class Context:
    pool: ConnectionPool
    spec: Spec
    prometheus_url: str | None = None
    tempo_url: str | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


R = TypeVar("R")


async def _offload(what: str, work: Callable[[], R]) -> R:
    """`work()` in a worker thread, so a slow query does not hold the others; what the client may be
    told as a GraphQL error (a refused argument, a timeout, `what` unavailable), the rest masked."""
    try:
        return await asyncio.to_thread(work)
    except store.QueryError as err:
        raise GraphQLError(str(err), extensions={"code": "BAD_ARGUMENT"}) from None
    except psycopg.errors.QueryCanceled:
        raise GraphQLError(
            "the query ran past the API's statement timeout: narrow the range, the grouping or the filter",
            extensions={"code": "TIMEOUT"},
        ) from None
    except store.Unavailable as err:
        log.warning("%s: %s", what, err)
        raise GraphQLError(
            f"{what} is unavailable: {err.backend} did not answer", extensions={"code": "UNAVAILABLE"}
        ) from None


async def _run(info: Info[Context, None], query: Callable[..., R]) -> R:
    """`query(conn)` on a pooled connection, through `_offload`."""

    def work() -> R:
        with info.context.pool.connection() as conn:
            return query(conn)

    return await _offload("the store", work)


def _spend_row(group: store.Group) -> SpendRow:
    """A row with every measure; those the query did not ask for are 0 and never sent."""
    m = {k: int(group.measures.get(k, 0)) for k in store.SPEND_MEASURES if k != "cost_usd"}
    keys: dict[str, Any] = {d.value: group.keys.get(d.value) for d in Dimension}
    cost = group.measures.get("cost_usd", 0.0)
    return SpendRow(time=group.bucket, **keys, cost_usd=cost, **m)  # type: ignore[arg-type]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _asked(selections: list[Any], under: tuple[str, ...], inside: bool = False) -> set[str]:
    """The names of the fields selected under any of the fields `under` (fragments followed)."""
    out: set[str] = set()
    for node in selections:
        if isinstance(node, SelectedField):
            if inside:
                out.add(node.name)
            elif node.name in under:
                out |= _asked(node.selections, under, inside=True)
                continue
        out |= _asked(getattr(node, "selections", []), under, inside)
    return out


def _dims(group_by: list[Dimension] | None) -> list[str]:
    return list(dict.fromkeys(d.value for d in group_by or ()))


@strawberry.type
class Query:
    @strawberry.field(description="Cost, requests and tokens in [from, to), exact at any bounds.")
    async def spend(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: list[Dimension] | None = None,
        granularity: Granularity | None = None,
        filter: RequestFilter | None = None,
        top: Annotated[
            int | None,
            strawberry.argument(
                description="Only the groups with the highest cost over the range (their whole series),"
                " most expensive first: the top users without thousands of rows."
            ),
        ] = None,
    ) -> Spend:
        flt = filter.to_store() if filter else store.Filter()
        dims, measures = _dims(group_by), store.spend_measures()
        gran = granularity.value if granularity else None
        if top is not None and not 1 <= top <= store.MAX_PAGE:
            message = f"top must be between 1 and {store.MAX_PAGE}, got {top}"
            raise GraphQLError(message, extensions={"code": "BAD_ARGUMENT"})

        # Only the measures the query asks for (and cost, to rank by): each costs time on raw rows.
        asked = _asked(info.selected_fields, ("rows", "total")) | ({"costUsd"} if top else set())
        measures = [(m, sql) for m, sql in measures if _camel(m) in asked] or measures[:1]

        def query(conn: Any) -> Spend:
            rows = store.aggregate(conn, from_, to, dims, measures, gran, flt)
            total = store.total(rows)
            if top is not None:
                rows = store.top_groups(rows, dims, top)
            return Spend(total=_spend_row(store.Group({}, None, total)), rows=[_spend_row(g) for g in rows])

        return await _run(info, query)

    @strawberry.field(
        description="Latency percentiles in [from, to) from Prometheus's histograms (not per user)."
    )
    async def latency(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: list[Dimension] | None = None,
        quantiles: list[float] | None = None,
        kind: LatencyKind = LatencyKind.DURATION,
        filter: RequestFilter | None = None,
    ) -> list[LatencyRow]:
        flt = filter.to_store() if filter else store.Filter()
        wanted = quantiles if quantiles is not None else [0.5, 0.95, 0.99]
        url, dims = info.context.prometheus_url, _dims(group_by)
        rows = await _offload(
            "latency", lambda: metrics.latency(url, from_, to, dims, wanted, flt, kind.value)
        )
        keys = ("application", "environment", "provider", "model", "operation")
        return [
            LatencyRow(
                **{k: row.get(k) for k in keys},
                quantiles=[Quantile(quantile=q, seconds=s) for q, s in sorted(row["quantiles"].items())],
            )
            for row in rows
        ]

    @strawberry.field(description="A trace by its id from Tempo; null when Tempo does not hold it.")
    async def trace(self, info: Info[Context, None], id: str) -> Trace | None:
        url = info.context.tempo_url
        found = await _offload("the trace", lambda: traces.trace(url, id))
        if found is None:
            return None
        return Trace(
            trace_id=id.lower(),
            spans=[
                TraceSpan(**{**s, "attributes": [Attribute(key=k, value=v) for k, v in s["attributes"]]})
                for s in found
            ],
        )

    @strawberry.field(description="Requests and errors by normalised error type in [from, to).")
    async def errors(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: list[Dimension] | None = None,
        filter: RequestFilter | None = None,
    ) -> list[ErrorRow]:
        flt = filter.to_store() if filter else store.Filter()
        dims = _dims(group_by)

        def query(conn: Any) -> list[ErrorRow]:
            out = []
            for g in store.aggregate(conn, from_, to, dims, store.error_measures(), None, flt, detail=True):
                counts = sorted(
                    (
                        (t, int(g.measures[f"errors_{t}"]))
                        for t in store.ERROR_TYPES
                        if g.measures[f"errors_{t}"]
                    ),
                    key=lambda tc: (-tc[1], tc[0]),
                )
                requests, errors = int(g.measures["requests"]), sum(c for _, c in counts)
                keys: dict[str, Any] = {d.value: g.keys.get(d.value) for d in Dimension if d.value != "user"}
                out.append(
                    ErrorRow(
                        **keys,
                        requests=requests,  # type: ignore[arg-type]
                        errors=errors,  # type: ignore[arg-type]
                        error_ratio=errors / requests if requests else 0.0,
                        by_type=[ErrorCount(type=t, count=c) for t, c in counts],  # type: ignore[arg-type]
                    )
                )
            return out

        return await _run(info, query)

    @strawberry.field(
        description="User satisfaction from ratings given in [from, to), least satisfied group first."
    )
    async def satisfaction(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        group_by: list[RatedDimension] | None = None,
        filter: RatedFilter | None = None,
    ) -> list[SatisfactionRow]:
        flt = filter.to_store() if filter else store.Filter()
        dims = [d.value for d in group_by or []]

        def query(conn: Any) -> list[SatisfactionRow]:
            out = []
            for g in store.satisfaction(conn, from_, to, dims, flt):
                m = g.measures
                keys: dict[str, Any] = {d.value: g.keys.get(d.value) for d in RatedDimension}
                out.append(
                    SatisfactionRow(
                        **keys,
                        ratings=int(m["ratings"]),  # type: ignore[arg-type]
                        satisfaction=m["score_sum"] / m["ratings"],
                        unhappy=int(m["unhappy"]),  # type: ignore[arg-type]
                        mean_latency_ms=m["duration_ms_sum"] / m["ratings"],
                        mean_cost_usd=m["cost_usd_sum"] / m["priced"] if m["priced"] else None,
                    )
                )
            return out

        return await _run(info, query)

    @strawberry.field(description="Per-request rows in [from, to) (at most 31 days), newest first.")
    async def requests(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        filter: RequestFilter | None = None,
        errors_only: bool = False,
        first: int = 50,
        after: str | None = None,
    ) -> RequestConnection:
        flt = filter.to_store() if filter else store.Filter()

        def query(conn: Any) -> RequestConnection:
            rows, more = store.requests(conn, from_, to, flt, first, after, errors_only)
            edges = [RequestEdge(cursor=store.encode_cursor(r), node=_request(r)) for r in rows]
            end = edges[-1].cursor if edges else None
            return RequestConnection(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))

        return await _run(info, query)

    @strawberry.field(description="Each budget in the spec: spend today and this month, projected, state.")
    async def budgets(self, info: Info[Context, None], at: datetime | None = None) -> list[Budget]:
        now = at or info.context.clock()

        def query(conn: Any) -> list[Budget]:
            spec_budgets = info.context.spec.budgets
            return [Budget(**asdict(b), state=b.state) for b in store.budgets(conn, spec_budgets, now)]

        return await _run(info, query)

    @strawberry.field(
        description="The price rows in force on a day (default: today, UTC), as the spec has them."
    )
    def models(self, info: Info[Context, None], at: date | None = None) -> list[ModelPrice]:
        return [_price(row) for row in prices_in_force(info.context.spec, at or info.context.clock().date())]


def prices_in_force(spec: Spec, day: date) -> list[Any]:
    """For each provider and model (or pattern), the newest row in force on `day`; in the spec's order."""
    latest: dict[tuple[str, str | None, str | None], tuple[int, Any]] = {}
    for position, row in precedence(spec.models):
        if row.effective_from <= day:
            latest[(row.provider, row.model, row.model_pattern)] = (position, row)
    return [row for _, row in sorted(latest.values(), key=lambda pr: pr[0])]


def _price(row: Any) -> ModelPrice:
    return ModelPrice(**asdict(row))  # the spec's row, field for field


def _request(row: dict[str, Any]) -> Request:
    fields = {k: v for k, v in row.items() if k != "user_id"}
    return Request(user=row["user_id"], **fields)


def _masked(error: GraphQLError) -> bool:
    """Mask what is not the client's doing: everything but argument and validation errors."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


SCHEMA = strawberry.Schema(
    query=Query,
    # Factories, so each operation gets its own extension instances (MaskErrors keeps state).
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaskErrors(should_mask_error=_masked),
    ],
    config=StrawberryConfig(scalar_map={BigInt: _BIG_INT}),
)


def sdl() -> str:
    """The schema in GraphQL's schema definition language, as committed."""
    return SCHEMA.as_str() + "\n"
