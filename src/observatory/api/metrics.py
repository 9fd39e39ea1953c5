"""Latency percentiles from Prometheus, for the query API: the recording rules the dashboards read.

The collector derives the duration and time-to-first-token histograms from every span (before
sampling), and the `dimensions:*_bucket:rate5m` rules keep them per application, environment,
provider, model and operation. A percentile over [start, end) is `histogram_quantile` over the sum
of those rates in the range, evaluated at `end`: each bucket's share of the requests in the range, so
the estimate is the one the dashboards draw, interpolated inside a histogram bucket. Users are never a
metric label, so latency is not per user.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import requests

from observatory import names
from observatory.api.store import NO_FILTER, Filter, QueryError, Unavailable, check_range

DIMENSIONS: Final = {
    "application": names.LABEL_APPLICATION,
    "environment": names.LABEL_ENVIRONMENT,
    "provider": names.LABEL_PROVIDER,
    "model": names.LABEL_MODEL,
    "operation": names.LABEL_OPERATION,
}
KINDS: Final = {"duration": names.REC_DIM_DURATION_BUCKET_RATE, "ttft": names.REC_DIM_TTFT_BUCKET_RATE}
MAX_QUANTILES: Final = 5


TIMEOUT_SECONDS: Final = 10


def _quote(value: str) -> str:
    """`value` as a PromQL regex matching it alone, inside a double-quoted string."""
    special = set(r"\.^$|?*+()[]{}")
    regex = "".join("\\" + c if c in special else c for c in value)
    return regex.replace("\\", "\\\\").replace('"', '\\"')


def promql(kind: str, quantile: float, group: Sequence[str], flt: Filter, seconds: int) -> str:
    matchers = ",".join(
        f'{DIMENSIONS[d]}=~"{"|".join(_quote(v) for v in values)}"' for d, values in flt.values
    )
    by = ", ".join(["le", *(DIMENSIONS[g] for g in group)])
    series = f"{KINDS[kind]}{{{matchers}}}"
    return f"histogram_quantile({quantile:g}, sum by ({by}) (sum_over_time({series}[{seconds}s])))"


def latency(
    prometheus_url: str | None,
    start: datetime,
    end: datetime,
    group: Sequence[str],
    quantiles: Sequence[float],
    flt: Filter = NO_FILTER,
    kind: str = "duration",
) -> list[dict[str, Any]]:
    """Rows of the group's keys and `quantiles` ({quantile: seconds}); groups without requests in the
    range are left out."""
    check_range(start, end)
    if prometheus_url is None:
        raise QueryError("latency needs Prometheus, and this API has none (--prometheus-url)")
    wrong = sorted((set(group) | flt.dimensions()) - DIMENSIONS.keys())
    if wrong:
        raise QueryError(f"latency cannot be grouped or filtered by {wrong[0]}; by {', '.join(DIMENSIONS)}")
    if not quantiles or len(quantiles) > MAX_QUANTILES or not all(0 < q < 1 for q in quantiles):
        raise QueryError(f"quantiles: 1 to {MAX_QUANTILES} numbers between 0 and 1, got {list(quantiles)}")
    seconds = max(1, math.ceil((end - start).total_seconds()))
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for q in quantiles:
        for result in _query(prometheus_url, promql(kind, q, group, flt, seconds), end):
            value = float(result["value"][1])
            if math.isnan(value):
                continue
            key = tuple(result["metric"].get(DIMENSIONS[g], "") for g in group)
            row = rows.setdefault(key, {**dict(zip(group, key, strict=True)), "quantiles": {}})
            row["quantiles"][q] = value
    return [rows[k] for k in sorted(rows)]


def _query(url: str, query: str, at: datetime) -> list[dict[str, Any]]:
    try:
        response = requests.get(
            f"{url.rstrip('/')}/api/v1/query",
            params={"query": query, "time": f"{at.timestamp():.3f}"},
            timeout=TIMEOUT_SECONDS,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as err:
        raise Unavailable("Prometheus", f"{url} did not answer: {err}") from err
    if body.get("status") != "success":
        raise Unavailable("Prometheus", f"refused {query}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
