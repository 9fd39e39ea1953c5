"""Recording rules: the per-application (and, for spend, per-team) numbers dashboards and alerts share.

Request rates, error ratios and slow-request shares over every burn-rate window, latency and
time-to-first-token quantiles, and spend rates; beside them, the dashboards' series (5-minute rates
that keep every label a dashboard filters or groups by). The slow-request share counts requests above the
application's p95 objective using the histogram bucket at that objective: when the objective is not
a bucket edge, the nearest edge above it is used (see `slow_bucket_edge`), which makes the alert a
little more lenient than the objective, never stricter.
"""

from __future__ import annotations

from observatory import names
from observatory.render.alerts.rules import Rule, Scope, num, record, scopes
from observatory.spec.types import Spec

# Every window a burn-rate alert reads (long and short windows of the SRE workbook's four pairs).
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# Spend: 5m for dashboards, 1h for the daily projection and spike, 1d for the monthly projection.
COST_WINDOWS = ("5m", "1h", "1d")

APP = names.LABEL_APPLICATION


def slow_bucket_edge(objective_seconds: float) -> float | None:
    """The duration bucket edge used for "slower than the objective": the objective itself when it is
    an edge, else the nearest edge above it; None when the objective is above every finite edge."""
    return next((edge for edge in names.DURATION_BUCKETS_SECONDS if edge >= objective_seconds), None)


def le_matcher(edge: float) -> str:
    """A regex for the `le` value of `edge`: Prometheus 2 stores `10` and 3.x normalises it to `10.0`,
    so an integral edge matches both spellings (`[.]` is a literal dot without a backslash)."""
    text = num(edge)
    return f"{text}|{text}[.]0" if float(edge).is_integer() else text


def _rate(metric: str, window: str, matchers: str = "", by: str = APP) -> str:
    return f"sum by ({by}) (rate({metric}{matchers}[{window}]))"


def request_rates() -> list[Rule]:
    return [
        record(names.REC_REQUESTS_RATE.format(window=w), _rate(names.METRIC_REQUESTS, w))
        for w in BURN_WINDOWS
    ]


def error_ratios() -> list[Rule]:
    """Failed requests (any `error_type`) over all requests; 0, not absent, for an application with
    traffic and no errors, so dashboards draw a line and `and` joins in alerts always match."""
    rules = []
    for w in BURN_WINDOWS:
        errors = _rate(names.METRIC_REQUESTS, w, f'{{{names.LABEL_ERROR_TYPE}!=""}}')
        # The total is computed here, not read from the request-rate rule: groups evaluate
        # independently, and a ratio of two different instants would be off by a scrape.
        total = _rate(names.METRIC_REQUESTS, w)
        rules.append(record(names.REC_ERROR_RATIO.format(window=w), f"({errors} or 0 * {total})\n/ {total}"))
    return rules


def _slow_ratio_part(scope: Scope, window: str) -> str | None:
    edge = slow_bucket_edge(scope.objectives.latency_p95_seconds)
    if edge is None:
        return None
    m = scope.matchers[1:-1] + "," if scope.matchers else ""
    fast = _rate(f"{names.METRIC_DURATION}_bucket", window, f'{{{m}le=~"{le_matcher(edge)}"}}')
    total = _rate(f"{names.METRIC_DURATION}_count", window, scope.matchers)
    return f"(1 - {fast}\n/ {total})"


def slow_ratios(spec: Spec) -> list[Rule]:
    """One rule per window; each objective scope compares against its own bucket edge, and the
    scopes' disjoint results are joined with `or` (one rule per name, as promtool's lint wants)."""
    rules = []
    for w in BURN_WINDOWS:
        parts = [p for p in (_slow_ratio_part(scope, w) for scope in scopes(spec)) if p is not None]
        if parts:
            rules.append(record(names.REC_SLOW_RATIO.format(window=w), "\nor ".join(parts)))
    return rules


def _quantile(q: float, metric: str) -> str:
    return f"histogram_quantile({num(q)}, sum by ({APP}, le) (rate({metric}_bucket[5m])))"


def quantiles() -> list[Rule]:
    return [
        record(names.REC_DURATION_P95, _quantile(0.95, names.METRIC_DURATION)),
        record(names.REC_DURATION_P99, _quantile(0.99, names.METRIC_DURATION)),
        record(names.REC_TTFT_P95, _quantile(0.95, names.METRIC_TTFT)),
    ]


def cost_rates() -> list[Rule]:
    """Spend per application, and per team for the cost series that carry one (team budgets)."""
    team = names.LABEL_TEAM
    return [
        record(names.REC_COST_RATE.format(window=w), _rate(names.METRIC_COST, w)) for w in COST_WINDOWS
    ] + [
        record(
            names.REC_TEAM_COST_RATE.format(window=w),
            _rate(names.METRIC_COST, w, f'{{{team}!=""}}', team),
        )
        for w in COST_WINDOWS
    ]


# The window of the dashboards' rules: the alerts' shortest, long enough to hold two samples of a
# series the collector writes only when spans arrive. Panels average it over Grafana's own window.
DASHBOARD_WINDOW = "5m"  # the `rate5m` of names.REC_DIM_*


def dashboard_rates() -> list[Rule]:
    """Per-second rates by every dimension: requests (with error_type, so panels can split failures),
    tokens, and the latency and time-to-first-token buckets by `le`, from which panels compute
    `histogram_quantile` with their own grouping."""
    dims = ", ".join(names.DIMENSION_LABELS)
    w = DASHBOARD_WINDOW
    return [
        record(
            names.REC_DIM_REQUESTS_RATE, _rate(names.METRIC_REQUESTS, w, by=", ".join(names.METRIC_LABELS))
        ),
        record(names.REC_DIM_INPUT_TOKENS_RATE, _rate(names.METRIC_INPUT_TOKENS, w, by=dims)),
        record(names.REC_DIM_OUTPUT_TOKENS_RATE, _rate(names.METRIC_OUTPUT_TOKENS, w, by=dims)),
        record(
            names.REC_DIM_DURATION_BUCKET_RATE, _rate(f"{names.METRIC_DURATION}_bucket", w, by=f"{dims}, le")
        ),
        record(names.REC_DIM_TTFT_BUCKET_RATE, _rate(f"{names.METRIC_TTFT}_bucket", w, by=f"{dims}, le")),
    ]


def groups(spec: Spec) -> list[dict[str, object]]:
    """Request rates, then the ratios, quantiles and spend rates, then the dashboards' rates; no rule
    reads another's output."""
    return [
        {"name": "llm-observatory.requests.rules", "rules": request_rates()},
        {
            "name": "llm-observatory.slis.rules",
            "rules": error_ratios() + slow_ratios(spec) + quantiles() + cost_rates(),
        },
        {"name": "llm-observatory.dashboards.rules", "rules": dashboard_rates()},
    ]
