-- Generated from minimal.yaml by observatory render. Do not edit.
-- Each day's month to date per user: top users over a range that starts or ends inside a
-- month read one day of it per side, not every day up to the month's edge.
CREATE OR REPLACE VIEW llm_requests_mtd_users AS
SELECT d.day AS bucket, u.user_id, sum(u.requests)::bigint AS requests, sum(u.errors)::bigint AS errors, sum(u.unpriced_requests)::bigint AS unpriced_requests, sum(u.input_tokens)::bigint AS input_tokens, sum(u.output_tokens)::bigint AS output_tokens, sum(u.cache_read_tokens)::bigint AS cache_read_tokens, sum(u.cache_write_tokens)::bigint AS cache_write_tokens, sum(u.reasoning_tokens)::bigint AS reasoning_tokens, sum(u.cost_usd)::double precision AS cost_usd, sum(u.duration_ms_sum)::double precision AS duration_ms_sum, sum(u.ttft_ms_sum)::double precision AS ttft_ms_sum, sum(u.ttft_count)::bigint AS ttft_count
FROM generate_series(TIMESTAMPTZ '2000-01-01 00:00:00+00', date_trunc('day', now(), 'UTC'), INTERVAL '1 day') AS d(day)
JOIN llm_requests_daily_users AS u ON u.bucket >= date_trunc('month', d.day, 'UTC') AND u.bucket <= d.day
GROUP BY 1, 2;
