"""Cost attribution over the per-request table and its rollups: who spends what, per day and month.

Plain SQL with psycopg parameters (`%(start)s`, `%(end)s` as timestamps, `%(limit)s`), the same on
both storage flavours. Per-user spend reads the per-user daily rollup, other spend the daily totals
(which do not grow with the number of users), so a year of history is cheap; per-request
figures (percentiles of one request's cost) read the raw table, which keeps the warm tier.
"""

from __future__ import annotations

from typing import Final

from observatory import names

T, DAILY, TOTALS = names.TABLE_REQUESTS, names.VIEW_REQUESTS_DAILY, names.VIEW_TOTALS_DAILY

QUERIES: Final = {
    # Spend per user per calendar month (UTC), most expensive first.
    "spend_by_user_month": f"""
SELECT date_trunc('month', bucket, 'UTC') AS month, user_id,
       sum(cost_usd) AS cost_usd, sum(requests) AS requests
FROM {DAILY}
WHERE bucket >= %(start)s AND bucket < %(end)s AND user_id <> ''
GROUP BY 1, 2 ORDER BY 1, 3 DESC""",
    # Spend per team per day.
    "spend_by_team_day": f"""
SELECT bucket AS day, team, sum(cost_usd) AS cost_usd
FROM {TOTALS}
WHERE bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2 ORDER BY 1, 2""",
    # Spend per application and model per day.
    "spend_by_application_model_day": f"""
SELECT bucket AS day, application, model, sum(cost_usd) AS cost_usd, sum(requests) AS requests
FROM {TOTALS}
WHERE bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
    # The N users who spent most in the window.
    "top_users": f"""
SELECT user_id, sum(cost_usd) AS cost_usd, sum(requests) AS requests
FROM {DAILY}
WHERE bucket >= %(start)s AND bucket < %(end)s AND user_id <> ''
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %(limit)s""",
    # Average, median and p95 cost of one priced request per application and model.
    "cost_per_request": f"""
SELECT application, request_model AS model, avg(cost_usd) AS avg_usd,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY cost_usd) AS p50_usd,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY cost_usd) AS p95_usd
FROM {T}
WHERE time >= %(start)s AND time < %(end)s AND NOT unpriced
GROUP BY 1, 2 ORDER BY 1, 2""",
    # The share of requests (and of tokens) whose model has no price: cost figures miss them.
    "unpriced_share": f"""
SELECT application, request_model AS model,
       count(*) FILTER (WHERE unpriced)::float8 / count(*) AS request_share,
       coalesce(sum(input_tokens + output_tokens) FILTER (WHERE unpriced), 0)::float8
           / nullif(sum(input_tokens + output_tokens), 0) AS token_share
FROM {T}
WHERE time >= %(start)s AND time < %(end)s
GROUP BY 1, 2 HAVING count(*) FILTER (WHERE unpriced) > 0 ORDER BY 1, 2""",
}
