"""SLO burn-rate alerts: multi-window, multi-burn-rate, per application, for errors and for latency.

Burn rate is the bad-request ratio divided by the error budget (1 - objective). An alert fires when
both its long and its short window burn faster than the factor (SRE workbook, ch. 5): the long window
proves it is significant, the short one that it is still happening. Each application is compared
with its own objectives from `slos.applications`; every other application with `slos` defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory import names
from observatory.render.alerts.recording import slow_bucket_edge
from observatory.render.alerts.rules import (
    Case,
    Rule,
    Scope,
    alert,
    counter,
    expected,
    label,
    num,
    scopes,
    series,
)
from observatory.spec.types import Spec


@dataclass(frozen=True, slots=True)
class BurnWindow:
    severity: str
    long: str
    short: str
    factor: float  # how many times faster than "exactly the budget over the SLO window"
    for_: str  # from kubernetes-mixin: long enough to skip one-scrape blips, short next to the window
    test_eval: str  # when its unit test checks it: after `for_`, before any slower pair's `for`


# The workbook's page and ticket pairs: 2% of a 30-day budget in 1 h, 5% in 6 h, 10% in 1 d and 3 d.
BURN_WINDOWS = (
    BurnWindow("critical", "1h", "5m", 14.4, "2m", "10m"),
    BurnWindow("critical", "6h", "30m", 6.0, "15m", "30m"),
    BurnWindow("warning", "1d", "2h", 3.0, "1h", "2h"),
    BurnWindow("warning", "3d", "6h", 1.0, "3h", "3h30m"),
)
# Requests a minute in the unit tests' busy application (at least): 10 a second, so that even a 3-day rate
# computed over the test's first minutes clears the minimum (a rate over a window that is mostly
# before the first sample is underestimated, as it is in the first days after a deployment).
TEST_REQUESTS_PER_MINUTE = 600.0

ERROR_BURN = "LLMErrorBudgetBurn"
LATENCY_BURN = "LLMLatencyBudgetBurn"
APP = names.LABEL_APPLICATION


@dataclass(frozen=True, slots=True)
class Sli:
    alertname: str
    record: str  # a names.REC_* template with `{window}`
    what: str  # "failed" or "were slower than the p95 objective"


def _budget(sli: Sli, scope: Scope) -> float | None:
    """The share of requests allowed to be bad; None when this SLI cannot be measured for the scope."""
    if sli.alertname == ERROR_BURN:
        return scope.objectives.error_ratio
    if slow_bucket_edge(scope.objectives.latency_p95_seconds) is None:
        return None
    return 1 - 0.95  # a p95 objective: 5% of requests may be slower


ERRORS = Sli(ERROR_BURN, names.REC_ERROR_RATIO, "failed")
LATENCY = Sli(LATENCY_BURN, names.REC_SLOW_RATIO, "were slower than the p95 latency objective")


def burn_rule(spec: Spec, sli: Sli, scope: Scope, window: BurnWindow) -> Rule | None:
    """The alert for one SLI, scope and window pair; None when it could never fire (threshold >= 100%)."""
    budget = _budget(sli, scope)
    if budget is None or window.factor * budget >= 1:
        return None
    threshold = num(window.factor * budget)
    m = scope.matchers
    expr = (
        f"{sli.record.format(window=window.long)}{m} > {threshold}\n"
        f"and {sli.record.format(window=window.short)}{m} > {threshold}\n"
        f"and on ({APP}) {names.REC_REQUESTS_RATE.format(window=window.long)}{m} "
        f"> {num(spec.alerting.thresholds.slo_min_requests_per_minute / 60)}"
    )
    days = spec.slos.window_days
    objective = f"p95 under {num(scope.objectives.latency_p95_seconds)} s" if sli is LATENCY else ""
    objective = objective or f"at most {num(budget * 100)}% errors"
    return alert(
        sli.alertname,
        expr,
        window.for_,
        window.severity,
        f"{label(APP)} is burning its {'error' if sli is ERRORS else 'latency'} budget "
        f"{num(window.factor)}x too fast",
        (
            f"Over both the last {window.long} and {window.short}, more than "
            f"{num(window.factor * budget * 100)}% of {label(APP)}'s LLM requests {sli.what} "
            f"({num(window.factor)}x its budget; objective: "
            f"{objective} over {days} days). At this rate the whole {days}-day budget is gone in "
            f"{num(days * 24 / window.factor)} hours."
        ),
        spec,
        {"long_window": window.long, "short_window": window.short, **scope.label},
    )


def group(spec: Spec) -> dict[str, object]:
    rules = [
        burn_rule(spec, sli, s, w) for sli in (ERRORS, LATENCY) for s in scopes(spec) for w in BURN_WINDOWS
    ]
    return {"name": "llm-observatory.slo-burn.alerts", "rules": [r for r in rules if r is not None]}


def _input(
    sli: Sli, scope: Scope, app: str, bad_ratio: float, per_minute: float
) -> tuple[tuple[str, str], ...]:
    """Requests of `app` at `per_minute`, a `bad_ratio` share of them failed or slow, for 3 h 40 m."""
    steps = 220
    bad, good = per_minute * bad_ratio, per_minute * (1 - bad_ratio)
    if sli is ERRORS:
        return (
            (series(names.METRIC_REQUESTS, {APP: app}), counter((good, steps))),
            (
                series(names.METRIC_REQUESTS, {APP: app, names.LABEL_ERROR_TYPE: "timeout"}),
                counter((bad, steps)),
            ),
        )
    edge = slow_bucket_edge(scope.objectives.latency_p95_seconds)
    assert edge is not None
    return (
        (series(f"{names.METRIC_DURATION}_bucket", {APP: app, "le": num(edge)}), counter((good, steps))),
        (series(f"{names.METRIC_DURATION}_count", {APP: app}), counter((per_minute, steps))),
        (series(names.METRIC_REQUESTS, {APP: app}), counter((per_minute, steps))),  # the traffic guard
    )


def _cases_for(spec: Spec, sli: Sli, scope: Scope) -> list[Case]:
    budget = _budget(sli, scope)
    if budget is None:
        return []
    app, who = scope.example, scope.application or "applications without objectives of their own"
    minimum = spec.alerting.thresholds.slo_min_requests_per_minute
    # Well above the minimum, whatever the spec says: 30 minutes in (when the 3-day alert's 3-hour
    # `for` starts) a 3-day rate sees 1/144 of the traffic, so twice that margin.
    busy = max(TEST_REQUESTS_PER_MINUTE, 2 * 144 * minimum)
    cases = []
    factors = [w.factor for w in BURN_WINDOWS]
    for i, window in enumerate(BURN_WINDOWS):
        rule = burn_rule(spec, sli, scope, window)
        if rule is None:
            continue
        # Between this pair's threshold and the next faster pair's: only this pair fires by test_eval.
        ceiling = min(1.0, factors[i - 1] * budget) if i else 1.0
        ratio = (window.factor * budget + ceiling) / 2
        cases.append(
            Case(
                f"{sli.alertname} {window.long}/{window.short} fires for {who} at {num(ratio)} bad",
                sli.alertname,
                window.test_eval,
                _input(sli, scope, app, ratio, busy),
                (expected(rule, {APP: app}),),
            )
        )
    cases.append(
        Case(
            f"{sli.alertname} stays quiet for {who} within budget",
            sli.alertname,
            "3h30m",
            _input(sli, scope, app, budget / 2, busy),
        )
    )
    cases.append(
        Case(
            f"{sli.alertname} stays quiet for {who} below the minimum request rate, all requests bad",
            sli.alertname,
            "3h30m",
            _input(sli, scope, app, 1.0, minimum / 2),
        )
    )
    return cases


def cases(spec: Spec) -> list[Case]:
    return [c for sli in (ERRORS, LATENCY) for scope in scopes(spec) for c in _cases_for(spec, sli, scope)]
