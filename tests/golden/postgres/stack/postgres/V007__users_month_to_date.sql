-- Generated from postgres.yaml by observatory render. Do not edit.
-- Each day's month to date per user: top users over a range that starts or ends inside a
-- month read one day of it per side, not every day up to the month's edge.
CREATE TABLE IF NOT EXISTS llm_requests_mtd_users_store (
    bucket timestamptz NOT NULL,
    user_id text NOT NULL,
    requests bigint,
    errors bigint,
    unpriced_requests bigint,
    input_tokens bigint,
    output_tokens bigint,
    cache_read_tokens bigint,
    cache_write_tokens bigint,
    reasoning_tokens bigint,
    cost_usd double precision,
    duration_ms_sum double precision,
    ttft_ms_sum double precision,
    ttft_count bigint,
    PRIMARY KEY (bucket, user_id)
);
INSERT INTO llm_requests_mtd_users_store (bucket, user_id, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, ttft_ms_sum, ttft_count)
SELECT d.day AS bucket, u.user_id, sum(u.requests)::bigint AS requests, sum(u.errors)::bigint AS errors, sum(u.unpriced_requests)::bigint AS unpriced_requests, sum(u.input_tokens)::bigint AS input_tokens, sum(u.output_tokens)::bigint AS output_tokens, sum(u.cache_read_tokens)::bigint AS cache_read_tokens, sum(u.cache_write_tokens)::bigint AS cache_write_tokens, sum(u.reasoning_tokens)::bigint AS reasoning_tokens, sum(u.cost_usd)::double precision AS cost_usd, sum(u.duration_ms_sum)::double precision AS duration_ms_sum, sum(u.ttft_ms_sum)::double precision AS ttft_ms_sum, sum(u.ttft_count)::bigint AS ttft_count
FROM generate_series((SELECT min(bucket) FROM llm_requests_daily_users_store),
    date_trunc('day', (SELECT computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily_users'), 'UTC') - INTERVAL '1 day', INTERVAL '1 day') AS d(day)
JOIN llm_requests_daily_users_store AS u ON u.bucket >= date_trunc('month', d.day, 'UTC') AND u.bucket <= d.day
GROUP BY 1, 2
ORDER BY 1, 2;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_mtd_users', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily_users'
ON CONFLICT DO NOTHING;
