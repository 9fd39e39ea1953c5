"""Spend alerts: projected overspend of each application's or team's daily and monthly budget, and
spend that jumps against the same hour a week earlier.

A team's spend is the cost counter's series with that `team` label (the collector copies the
resource attribute `team` onto the cost counter), summed by the team recording rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory import names
from observatory.render.alerts.rules import Case, Rule, alert, counter, expected, label, num, selector, series
from observatory.spec.types import Budget, Spec

APP = names.LABEL_APPLICATION
TEAM = names.LABEL_TEAM
DAILY = "LLMDailyBudgetOverspend"
MONTHLY = "LLMMonthlyBudgetOverspend"
SPIKE = "LLMSpendSpike"
SECONDS_PER_DAY = 86_400
# A budget month is 30 days: the projection is a rate times a fixed length, not a calendar month.
DAYS_PER_MONTH = 30
SPEND = {"category": "spend"}


@dataclass(frozen=True)
class Scope:
    """Whose spend a budget limits: the label that names it, its value, and the spend-rate rule."""

    label: str
    value: str
    rate_rule: str  # names.REC_*COST_RATE, with {window}

    def rate(self, window: str) -> str:
        return self.rate_rule.format(window=window) + selector({self.label: self.value})


def scope(budget: Budget) -> Scope:
    if budget.application is not None:
        return Scope(APP, budget.application, names.REC_COST_RATE)
    assert budget.team is not None  # the spec model requires exactly one of the two
    return Scope(TEAM, budget.team, names.REC_TEAM_COST_RATE)


def _budget_label(who: Scope) -> dict[str, str]:
    """Which budget is burning; also keeps one rule per budget distinct for promtool's lint."""
    return {**SPEND, "budget": f"{who.label}:{who.value}"}


def daily_rule(spec: Spec, budget: Budget) -> Rule:
    assert budget.daily_usd is not None
    who = scope(budget)
    return alert(
        DAILY,
        f"{who.rate('1h')} * {SECONDS_PER_DAY} > {num(budget.daily_usd)}",
        "30m",
        "warning",
        (
            f"{who.label} {label(who.label)} is on course to exceed its daily budget of "
            f"{num(budget.daily_usd)} USD"
        ),
        (
            f"For 30 minutes, {who.label} {label(who.label)} has spent at a rate that, kept up for a "
            f"day, exceeds its daily budget of {num(budget.daily_usd)} USD (the last hour's spend "
            "times 24)."
        ),
        spec,
        _budget_label(who),
    )


def monthly_rule(spec: Spec, budget: Budget) -> Rule:
    assert budget.monthly_usd is not None
    who = scope(budget)
    return alert(
        MONTHLY,
        f"{who.rate('1d')} * {SECONDS_PER_DAY * DAYS_PER_MONTH} > {num(budget.monthly_usd)}",
        "1h",
        "warning",
        (
            f"{who.label} {label(who.label)} is on course to exceed its monthly budget of "
            f"{num(budget.monthly_usd)} USD"
        ),
        (
            f"The last day's spend of {who.label} {label(who.label)}, kept up for {DAYS_PER_MONTH} days, "
            f"exceeds its monthly budget of {num(budget.monthly_usd)} USD."
        ),
        spec,
        _budget_label(who),
    )


def spike_rule(spec: Spec) -> Rule:
    """Spend over the last hour against the same hour a week earlier (`alerting.thresholds`)."""
    factor = spec.alerting.thresholds.spend_spike_factor
    minimum = spec.alerting.thresholds.spend_spike_min_usd_per_hour
    now = names.REC_COST_RATE.format(window="1h")
    # Last week's rate from the raw counter, not the recording rule: it works from the first day the
    # rules are deployed, as long as Prometheus kept a week of samples.
    before = f"sum by ({APP}) (rate({names.METRIC_COST}[1h] offset 1w))"
    return alert(
        SPIKE,
        f"{now} > {num(factor)} * {before}\nand {now} > {num(minimum / 3600)}",
        "30m",
        "warning",
        f"{label(APP)} spends more than {num(factor)}x the same hour last week",
        (
            f"{label(APP)} has spent more than {num(factor)} times as much per hour as during the same "
            f"hour a week ago, and more than {num(minimum)} USD an hour, for 30 minutes."
        ),
        spec,
        SPEND,
    )


def group(spec: Spec) -> dict[str, object]:
    rules = [daily_rule(spec, b) for b in spec.budgets if b.daily_usd is not None]
    rules += [monthly_rule(spec, b) for b in spec.budgets if b.monthly_usd is not None]
    return {"name": "llm-observatory.spend.alerts", "rules": [*rules, spike_rule(spec)]}


def _cost(who: Scope, usd_per_step: float, steps: int) -> tuple[tuple[str, str], ...]:
    """A cost counter of `who`: a team's spend comes from an application of that team."""
    labels = {APP: who.value} if who.label == APP else {APP: f"app-of-{who.value}", TEAM: who.value}
    return ((series(names.METRIC_COST, labels), counter((usd_per_step, steps))),)


def cases(spec: Spec) -> list[Case]:
    """Evaluated every 5 minutes (the spike needs a week of history)."""
    out = []
    for b in spec.budgets:
        who = scope(b)
        name = f"{who.label} {who.value}"
        if b.daily_usd is not None:
            per_minute = b.daily_usd / 1440
            expect = (expected(daily_rule(spec, b), {who.label: who.value}),)
            out.append(
                Case(
                    f"{DAILY} fires for {name} at 1.5x its budget",
                    DAILY,
                    "2h",
                    _cost(who, 1.5 * per_minute, 130),
                    expect,
                )
            )
            out.append(
                Case(
                    f"{DAILY} stays quiet for {name} at half its budget",
                    DAILY,
                    "2h",
                    _cost(who, per_minute / 2, 130),
                )
            )
        if b.monthly_usd is not None:
            per_10m = b.monthly_usd / DAYS_PER_MONTH / 144
            expect = (expected(monthly_rule(spec, b), {who.label: who.value}),)
            out.append(
                Case(
                    f"{MONTHLY} fires for {name} at 1.5x its budget",
                    MONTHLY,
                    "26h",
                    _cost(who, 1.5 * per_10m, 160),
                    expect,
                    "10m",
                )
            )
            out.append(
                Case(
                    f"{MONTHLY} stays quiet for {name} at half its budget",
                    MONTHLY,
                    "26h",
                    _cost(who, per_10m / 2, 160),
                    (),
                    "10m",
                )
            )
    week = 7 * 24 * 4  # 15-minute steps in a week
    thresholds = spec.alerting.thresholds
    # USD per 15 minutes: twice the minimum hourly spend (or 1 USD an hour when there is none).
    base = 2 * max(thresholds.spend_spike_min_usd_per_hour, 0.5) / 4
    jump = 2.5 * thresholds.spend_spike_factor
    spiky = series(names.METRIC_COST, {APP: "any-app"})
    out.append(
        Case(
            f"{SPIKE} fires at {num(jump)}x the same hour last week",
            SPIKE,
            "170h",
            ((spiky, counter((base, week), (jump * base, 12))),),
            (expected(spike_rule(spec), {APP: "any-app"}),),
            "15m",
        )
    )
    out.append(
        Case(
            f"{SPIKE} stays quiet at last week's spend",
            SPIKE,
            "170h",
            ((spiky, counter((base, week + 12))),),
            (),
            "15m",
        )
    )
    return out
