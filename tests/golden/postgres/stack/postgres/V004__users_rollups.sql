-- Generated from postgres.yaml by observatory render. Do not edit.
-- The per-user daily rollup per user alone: the user panels and the user list read it.
-- Priced cache reads per user and response model: cache savings with a user selected.
CREATE TABLE IF NOT EXISTS llm_requests_daily_users_store (
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
    duration_ms_max double precision,
    ttft_ms_sum double precision,
    ttft_count bigint,
    PRIMARY KEY (bucket, user_id)
);
-- Filled from the per-user daily rollup, so it starts with all of its history, and as far as
-- that one is computed; maintenance then keeps it as it keeps the others (its view is the
-- repeatable migration's).
INSERT INTO llm_requests_daily_users_store (bucket, user_id, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count)
SELECT bucket AS bucket, user_id, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily_store
GROUP BY 1, 2
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_daily_users', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily'
ON CONFLICT DO NOTHING;
-- Maintenance fills this one from the raw rows kept; it is read for one user at a time.
CREATE TABLE IF NOT EXISTS llm_requests_daily_cache_reads_store (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
    user_id text NOT NULL,
    response_model text NOT NULL,
    requests bigint,
    cache_read_tokens_priced bigint,
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation, user_id, response_model)
);
CREATE INDEX IF NOT EXISTS llm_requests_daily_cache_reads_store_user ON llm_requests_daily_cache_reads_store (user_id, bucket);
