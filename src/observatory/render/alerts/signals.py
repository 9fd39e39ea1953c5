"""Alerts on what the LLM calls themselves report: slow first tokens, bursts of one kind of provider
error against its recent baseline, requests with no price, and spans in an old dialect.
"""

from __future__ import annotations

import itertools

from observatory import names
from observatory.render.alerts.rules import (
    Case,
    Rule,
    Scope,
    alert,
    counter,
    expected,
    gauge,
    label,
    num,
    scopes,
    series,
)
from observatory.spec.types import Spec

APP = names.LABEL_APPLICATION
TTFT_HIGH = "LLMTimeToFirstTokenHigh"
ERROR_SPIKE = "LLMProviderErrorSpike"
UNPRICED = "LLMUnpricedRequests"
OLD_DIALECT = "LLMOldDialectSpans"

# The provider-side errors worth a spike alert, in the collector's error-type vocabulary (dialects.yaml):
# a client's own mistakes (bad_request, auth, context_length) are its bug, not a provider incident.
SPIKE_ERROR_TYPES = ("rate_limit", "server_error", "timeout", "connection", "content_filter")
# A spike: errors of one type over the last 10 minutes at `alerting.thresholds.error_spike_factor`
# times their rate over the 3 hours before, and above `error_spike_min_per_minute`.
SPIKE_WINDOW, SPIKE_BASELINE_WINDOW = "10m", "3h"


def ttft_rule(spec: Spec, scope: Scope) -> Rule:
    objective = scope.objectives.ttft_p95_seconds
    return alert(
        TTFT_HIGH,
        f"{names.REC_TTFT_P95}{scope.matchers} > {num(objective)}",
        "15m",
        "warning",
        f"{label(APP)}: p95 time to first token above {num(objective)} s",
        (
            f"For 15 minutes, 5% of {label(APP)}'s streamed LLM responses took more than the "
            f"{num(objective)} s objective to send their first token."
        ),
        spec,
        scope.label,
    )


def error_spike_rule(spec: Spec) -> Rule:
    errors = f'{names.METRIC_REQUESTS}{{{names.LABEL_ERROR_TYPE}=~"{"|".join(SPIKE_ERROR_TYPES)}"}}'
    by = f"sum by ({APP}, {names.LABEL_ERROR_TYPE})"
    now = f"{by} (rate({errors}[{SPIKE_WINDOW}]))"
    before = f"{by} (rate({errors}[{SPIKE_BASELINE_WINDOW}] offset {SPIKE_WINDOW}))"
    factor, minimum = (
        spec.alerting.thresholds.error_spike_factor,
        spec.alerting.thresholds.error_spike_min_per_minute,
    )
    # `or now * 0`: an error type with no history has a baseline of 0, not an absent one.
    return alert(
        ERROR_SPIKE,
        f"{now} > {num(factor)} * ({before} or {now} * 0)\nand {now} > {num(minimum / 60)}",
        "10m",
        "warning",
        f"{label(APP)}: spike of {label(names.LABEL_ERROR_TYPE)} errors",
        (
            f"{label(APP)} receives {label(names.LABEL_ERROR_TYPE)} errors at more than {num(factor)}x "
            f"their rate of the previous {SPIKE_BASELINE_WINDOW}, and more than {num(minimum)} a minute."
        ),
        spec,
    )


def unpriced_rule(spec: Spec) -> Rule:
    return alert(
        UNPRICED,
        (
            f"sum by ({APP}, {names.LABEL_PROVIDER}, {names.LABEL_MODEL}) "
            f"(increase({names.METRIC_UNPRICED_REQUESTS}[15m])) > 0"
        ),
        "15m",
        "warning",
        f"{label(names.LABEL_MODEL)} of {label(names.LABEL_PROVIDER)} has no price",
        (
            f"{label(APP)} calls {label(names.LABEL_PROVIDER)} {label(names.LABEL_MODEL)}, which matches "
            "no row of the spec's price table: its cost is not counted, so spend and budget alerts "
            "understate it."
        ),
        spec,
    )


def old_dialect_rule(spec: Spec) -> Rule:
    return alert(
        OLD_DIALECT,
        f"sum by ({APP}, {names.LABEL_DIALECT}) (increase({names.METRIC_NORMALISED_SPANS}[1h])) > 0",
        "1h",
        "info",
        f"{label(APP)} sends spans in the {label(names.LABEL_DIALECT)} dialect",
        (
            f"For an hour, {label(APP)} has sent spans in the older {label(names.LABEL_DIALECT)} "
            "attribute dialect. The collector normalises them, but the instrumentation should be upgraded."
        ),
        spec,
    )


def group(spec: Spec) -> dict[str, object]:
    rules = [ttft_rule(spec, s) for s in scopes(spec)]
    rules += [error_spike_rule(spec), unpriced_rule(spec), old_dialect_rule(spec)]
    return {"name": "llm-observatory.signals.alerts", "rules": rules}


def _ttft_input(app: str, slowest_edge: float) -> tuple[tuple[str, str], ...]:
    """60 streamed responses a minute for 40 minutes, all in the bucket ending at `slowest_edge`."""
    edges = [num(e) for e in names.TTFT_BUCKETS_SECONDS] + ["+Inf"]
    bounds = [*names.TTFT_BUCKETS_SECONDS, float("inf")]
    out = [
        (
            series(f"{names.METRIC_TTFT}_bucket", {APP: app, "le": text}),
            counter((60.0 if b >= slowest_edge else 0.0, 40)),
        )
        for text, b in zip(edges, bounds, strict=True)
    ]
    return (*out, (series(f"{names.METRIC_TTFT}_count", {APP: app}), counter((60.0, 40))))


def _ttft_cases(spec: Spec, scope: Scope) -> list[Case]:
    objective, app = scope.objectives.ttft_p95_seconds, scope.example
    who = scope.application or "applications without objectives of their own"
    cases = []
    # All responses in a bucket whose lower edge is at or above the objective: p95 is above it.
    above = [(lo, hi) for lo, hi in itertools.pairwise(names.TTFT_BUCKETS_SECONDS) if lo >= objective]
    if above:
        rule = ttft_rule(spec, scope)
        cases.append(
            Case(
                f"{TTFT_HIGH} fires for {who}",
                TTFT_HIGH,
                "30m",
                _ttft_input(app, above[0][1]),
                (expected(rule, {APP: app}),),
            )
        )
    # All responses in a bucket ending at or below the objective: p95 cannot exceed it.
    below = [e for e in names.TTFT_BUCKETS_SECONDS if e <= objective]
    if below:
        cases.append(
            Case(
                f"{TTFT_HIGH} stays quiet for {who} at the objective",
                TTFT_HIGH,
                "30m",
                _ttft_input(app, below[-1]),
            )
        )
    return cases


def cases(spec: Spec) -> list[Case]:
    out = [c for scope in scopes(spec) for c in _ttft_cases(spec, scope)]
    app, kind = "any-app", {APP: "any-app", names.LABEL_ERROR_TYPE: "rate_limit"}
    spike = series(names.METRIC_REQUESTS, kind)
    ok = series(names.METRIC_REQUESTS, {APP: app})
    # Errors a minute: a baseline above the minimum, then a jump well past the factor.
    thresholds = spec.alerting.thresholds
    base = 2 * max(thresholds.error_spike_min_per_minute, 0.5)
    jump = 3 * thresholds.error_spike_factor * base
    out.append(
        Case(
            f"{ERROR_SPIKE} fires when rate_limit errors jump {num(jump / base)}-fold",
            ERROR_SPIKE,
            "3h25m",
            ((spike, counter((base, 180), (jump, 30))), (ok, counter((60.0, 210)))),
            (expected(error_spike_rule(spec), kind),),
        )
    )
    out.append(
        Case(
            f"{ERROR_SPIKE} stays quiet when errors are steady",
            ERROR_SPIKE,
            "3h25m",
            ((spike, counter((jump, 210))), (ok, counter((60.0, 210)))),
        )
    )
    priced = {APP: app, names.LABEL_PROVIDER: "acme", names.LABEL_MODEL: "mystery-1"}
    unpriced = series(names.METRIC_UNPRICED_REQUESTS, priced)
    out.append(
        Case(
            f"{UNPRICED} fires while unpriced requests arrive",
            UNPRICED,
            "40m",
            ((unpriced, counter((1.0, 60))),),
            (expected(unpriced_rule(spec), priced),),
        )
    )
    out.append(Case(f"{UNPRICED} stays quiet once they stop", UNPRICED, "40m", ((unpriced, gauge(5, 60)),)))
    dialect = {APP: app, names.LABEL_DIALECT: "openllmetry"}
    spans = series(names.METRIC_NORMALISED_SPANS, dialect)
    out.append(
        Case(
            f"{OLD_DIALECT} fires while old-dialect spans arrive",
            OLD_DIALECT,
            "2h",
            ((spans, counter((1.0, 150))),),
            (expected(old_dialect_rule(spec), dialect),),
        )
    )
    out.append(Case(f"{OLD_DIALECT} stays quiet without them", OLD_DIALECT, "2h", ((spans, gauge(3, 150)),)))
    return out
