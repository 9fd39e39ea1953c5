"""The built-in dashboards and the stable slug of every panel on them, without importing grafanalib.

A spec names panels by these slugs (`dashboards.<name>.hidden_panels`), so the spec checks them at load
time from this table, and the renderer draws exactly these panels: a test holds the two equal. A slug
is never reused for a different panel; renaming one breaks specs that hide it.
"""

from __future__ import annotations

from typing import Final

PANELS: Final[dict[str, tuple[str, ...]]] = {
    "overview": (
        "requests_per_second",
        "error_ratio",
        "latency_p95",
        "ttft_p95",
        "spend_today",
        "spend_month",
        "latency_percentiles",
        "tokens_per_second",
        "requests_by_group",
        "budget_status",
        "top_models",
        "top_applications",
    ),
    "performance": (
        "latency_p95_by_group",
        "latency_p99_by_group",
        "latency_heatmap",
        "latency_by_model",
        "latency_by_provider",
        "ttft_percentiles",
        "ttft_heatmap",
        "output_tokens_per_second",
        "errors_by_type",
    ),
    "cost": (
        "spend_in_range",
        "cost_per_request",
        "cache_savings",
        "unpriced_share",
        "spend_over_time",
        "spend_by_model",
        "spend_by_application",
        "spend_by_team",
        "spend_by_user",
        "daily_trend",
        "monthly_trend",
        "budget_burn",
    ),
    "quality": (
        "truncated_ratio",
        "truncated_by_model",
        "errors_by_type",
        "error_ratio_by_group",
        "response_models_per_request_model",
        "response_model_drift",
        "output_tokens_week_over_week",
        "output_tokens_distribution",
        "satisfaction_by_model",
        "satisfaction_by_application",
        "satisfaction_by_latency",
        "satisfaction_by_cost",
    ),
    "traces": (
        "slow_calls",
        "failed_calls",
        "recent_calls",
        "trace",
    ),
    "logs": (
        "log_volume",
        "error_logs",
        "logs",
    ),
}


def extra_panel_slug(title: str) -> str:
    """The slug of a spec's extra panel: `extra_` and its title in lower case, words joined by `_`."""
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return "extra_" + "_".join(words)
