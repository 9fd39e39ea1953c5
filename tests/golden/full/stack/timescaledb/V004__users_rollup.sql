-- Generated from full.yaml by observatory render. Do not edit.
-- The per-user daily rollup per user alone: the user panels and the user list read it.
-- A continuous aggregate of the per-user daily rollup.
CREATE MATERIALIZED VIEW IF NOT EXISTS llm_requests_daily_users
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, user_id, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily
GROUP BY 1, 2
WITH NO DATA;

-- After this migration's transaction commits, `observatory migrate` runs:
-- CALL refresh_continuous_aggregate('llm_requests_daily_users', NULL, NULL);
