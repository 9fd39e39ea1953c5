-- Generated from minimal.yaml by observatory render. Do not edit.
-- The per-user daily rollup per user alone: the user panels and the user list read it.
-- Priced cache reads per user and response model: cache savings with a user selected.
-- The first, a continuous aggregate of the per-user daily rollup, not of the raw rows.
CREATE MATERIALIZED VIEW IF NOT EXISTS llm_requests_daily_users
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, user_id, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_requests_daily_cache_reads
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS bucket, application AS application, environment AS environment, coalesce(team, '') AS team, coalesce(provider, '') AS provider, coalesce(request_model, '') AS model, coalesce(operation, '') AS operation, coalesce(user_id, '') AS user_id, coalesce(response_model, '') AS response_model, count(*) AS requests, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens_priced
FROM llm_requests
WHERE cache_read_tokens > 0 AND NOT unpriced
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
WITH NO DATA;
CREATE INDEX IF NOT EXISTS llm_requests_daily_cache_reads_user ON llm_requests_daily_cache_reads (user_id, bucket);

-- After this migration's transaction commits, `observatory migrate` runs:
-- CALL refresh_continuous_aggregate('llm_requests_daily_users', NULL, NULL);
-- CALL refresh_continuous_aggregate('llm_requests_daily_cache_reads', NULL, NULL);
