"""Tail sampling policies from the spec: every error, every slow trace, a baseline share of the rest.

Per-application overrides are `and` policies on `service.name`; the default policies exclude the
overridden applications (an inverted match), so an application sampled less than the default is
really sampled less. A trace is kept when any policy says so.
"""

from __future__ import annotations

from typing import Any

from observatory import semconv as sc
from observatory.spec.types import SamplingPolicy, Spec


def _for(condition: dict[str, Any] | None, name: str, policy: dict[str, Any]) -> dict[str, Any]:
    if condition is None:
        return {"name": name, **policy}
    return {
        "name": name,
        "type": "and",
        "and": {"and_sub_policy": [condition, {"name": f"{name}-rule", **policy}]},
    }


def _policies(label: str, policy: SamplingPolicy, condition: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    if policy.keep_errors:
        out.append(
            _for(
                condition,
                f"{label}-errors",
                {"type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            )
        )
    out.append(
        _for(
            condition,
            f"{label}-slow",
            {"type": "latency", "latency": {"threshold_ms": round(policy.slow_threshold_seconds * 1000)}},
        )
    )
    if policy.baseline_ratio > 0:
        # The share is decided from the trace id, so every collector replica agrees on a trace.
        out.append(
            _for(
                condition,
                f"{label}-baseline",
                {
                    "type": "probabilistic",
                    "probabilistic": {"sampling_percentage": policy.baseline_ratio * 100},
                },
            )
        )
    return out


def _service(names: list[str], invert: bool) -> dict[str, Any]:
    return {
        "name": "not-overridden" if invert else f"app-{names[0]}",
        "type": "string_attribute",
        "string_attribute": {"key": sc.SERVICE_NAME, "values": names, "invert_match": invert},
    }


def tail_sampling(spec: Spec) -> dict[str, Any]:
    sampling = spec.sampling
    overridden = [name for name, _ in sampling.applications]
    policies = _policies("default", sampling.default, _service(overridden, True) if overridden else None)
    for name, policy in sampling.applications:
        policies += _policies(name, policy, _service([name], False))
    return {
        "decision_wait": f"{sampling.decision_wait_seconds:g}s",
        "decision_wait_after_root_received": f"{sampling.decision_wait_after_root_seconds:g}s",
        "num_traces": sampling.max_traces_in_memory,
        "block_on_overflow": sampling.block_when_full,
        # Remember decisions for late spans of a decided trace; sized well above num_traces.
        "decision_cache": {
            "sampled_cache_size": sampling.max_traces_in_memory * 4,
            "non_sampled_cache_size": sampling.max_traces_in_memory * 4,
        },
        "policies": policies,
    }
