"""Building blocks shared by every rule group: alert and recording-rule dicts, PromQL numbers and
selectors, the per-application objective scopes, and promtool unit-test cases.

Annotations use only `{{ $labels.<name> }}` templates (never `$value`), so the expected annotations
of a unit test are computed here by the same substitution Prometheus does, and stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from observatory import names
from observatory.spec.types import Objectives, Spec

Rule = dict[str, Any]

# `{{ $labels.application }}`: the only template form annotations use (see the module docstring).
_LABEL_TEMPLATE = re.compile(r"\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}")


def num(value: float) -> str:
    """A PromQL number: rounded to hide float noise (14.4 * 0.01 is 0.14400000000000002)."""
    return format(round(value, 9), "g")


def label(name: str) -> str:
    """A label value in an annotation template."""
    return f"{{{{ $labels.{name} }}}}"


def alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
    spec: Spec,
    labels: Mapping[str, str] | None = None,
) -> Rule:
    """An alerting rule with the house policy: severity label, summary, description and runbook link."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {names.LABEL_SEVERITY: severity, **(labels or {})},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{spec.alerting.runbook_base_url}/{name}.md",
        },
    }


def record(name: str, expr: str) -> Rule:
    return {"record": name, "expr": expr}


def selector(matchers: Mapping[str, str], regex: Mapping[str, str] | None = None) -> str:
    """`{a="x",b!~"y|z"}`, or nothing when there is no matcher. `regex` values are `!~` matchers."""
    parts = [f'{k}="{v}"' for k, v in matchers.items()]
    parts += [f'{k}!~"{v}"' for k, v in (regex or {}).items()]
    return "{" + ",".join(parts) + "}" if parts else ""


def alternation(values: list[str]) -> str:
    """A regex matching exactly these names; `.` (allowed in names) as the class `[.]`, which needs
    no backslash, so it reads the same in YAML, PromQL strings and RE2."""
    return "|".join(v.replace(".", "[.]") for v in values)


@dataclass(frozen=True, slots=True)
class Scope:
    """Applications that share one set of objectives: one named application, or all the others."""

    application: str | None  # None: every application without objectives of its own
    objectives: Objectives
    matchers: str  # the PromQL label selector for these applications, `{...}` or ""
    example: str  # an application name in this scope, for unit tests

    @property
    def label(self) -> dict[str, str]:
        """A static label telling which objectives applied; it also keeps the rules of different
        scopes distinct, which promtool's duplicate-rule lint requires."""
        return {"slo_scope": self.application or "default"}


def scopes(spec: Spec) -> list[Scope]:
    """Named applications first (their own objectives), then the default for every other one."""
    named = [app for app, _ in spec.slos.applications]
    out = [
        Scope(app, obj, selector({names.LABEL_APPLICATION: app}), app) for app, obj in spec.slos.applications
    ]
    others = selector({}, {names.LABEL_APPLICATION: alternation(named)} if named else None)
    example = "any-app"
    while example in named:
        example += "-x"
    out.append(Scope(None, spec.slos.default, others, example))
    return out


def series(metric: str, labels: Mapping[str, str]) -> str:
    """A promtool input series: `metric{a="x"}`."""
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def counter(*segments: tuple[float, int]) -> str:
    """promtool values of a counter growing by `step` per interval for `count` intervals, per segment."""
    out, value = [], 0.0
    for i, (step, count) in enumerate(segments):
        start = value if i == 0 else value + step
        steps = count if i == 0 else count - 1
        out.append(f"{num(start)}+{num(step)}x{steps}")
        value = start + step * steps
    return " ".join(out)


def gauge(value: float, count: int) -> str:
    return f"{num(value)}x{count}"


@dataclass(frozen=True, slots=True)
class Case:
    """One promtool test: input series, then at `eval_time` exactly `firing` alerts of `alertname`."""

    name: str
    alertname: str
    eval_time: str
    series: tuple[tuple[str, str], ...]
    firing: tuple[Mapping[str, Any], ...] = ()  # expected alerts; empty means "must not fire"
    interval: str = "1m"
    extra: tuple[Mapping[str, Any], ...] = field(default=())  # more alert_rule_test entries

    def to_test(self) -> dict[str, Any]:
        checks = [{"eval_time": self.eval_time, "alertname": self.alertname, "exp_alerts": list(self.firing)}]
        return {
            "name": self.name,
            "interval": self.interval,
            "input_series": [{"series": s, "values": v} for s, v in self.series],
            "alert_rule_test": checks + list(self.extra),
        }


def expected(rule: Rule, series_labels: Mapping[str, str]) -> dict[str, Any]:
    """The alert `rule` raises for an output series with `series_labels`, as promtool expects it."""
    all_labels = {**series_labels, **rule["labels"]}

    def expand(text: str) -> str:
        return _LABEL_TEMPLATE.sub(lambda m: all_labels.get(m.group(1), ""), text)

    return {
        "exp_labels": all_labels,
        "exp_annotations": {k: expand(v) for k, v in rule["annotations"].items()},
    }


def find(rules: list[Rule], alertname: str, **labels: str) -> Rule:
    """The one rule of `alertname` whose static labels include `labels`."""
    found = [
        r
        for r in rules
        if r["alert"] == alertname and all(r["labels"].get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (alertname, labels, len(found))
    return found[0]
