-- Generated from postgres.yaml by observatory render. Do not edit.
-- Monthly rollups of the daily totals, the per-user rollup per user alone and the detail
-- rollup: panels over long ranges read their range's whole UTC months from them. Weekly
-- rollups of the daily totals and the detail rollup: a point a week for very long series.
CREATE TABLE IF NOT EXISTS llm_requests_monthly_totals_store (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
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
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation)
);
INSERT INTO llm_requests_monthly_totals_store (bucket, application, environment, team, provider, model, operation, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count)
SELECT date_trunc('month', bucket, 'UTC') AS bucket, application, environment, team, provider, model, operation, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily_totals_store
GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_monthly_totals', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily_totals'
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS llm_requests_monthly_users_store (
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
INSERT INTO llm_requests_monthly_users_store (bucket, user_id, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count)
SELECT date_trunc('month', bucket, 'UTC') AS bucket, user_id, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily_users_store
GROUP BY 1, 2
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_monthly_users', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily_users'
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS llm_requests_detail_monthly_store (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
    response_model text NOT NULL,
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
    cache_read_tokens_priced bigint,
    finished bigint,
    truncated bigint,
    errors_timeout bigint,
    errors_rate_limit bigint,
    errors_context_length bigint,
    errors_content_filter bigint,
    errors_auth bigint,
    errors_cancelled bigint,
    errors_connection bigint,
    errors_not_found bigint,
    errors_bad_request bigint,
    errors_server_error bigint,
    errors_other bigint,
    output_counted bigint,
    output_ge_1 bigint,
    output_ge_2 bigint,
    output_ge_3 bigint,
    output_ge_4 bigint,
    output_ge_6 bigint,
    output_ge_8 bigint,
    output_ge_12 bigint,
    output_ge_16 bigint,
    output_ge_23 bigint,
    output_ge_32 bigint,
    output_ge_46 bigint,
    output_ge_64 bigint,
    output_ge_91 bigint,
    output_ge_128 bigint,
    output_ge_182 bigint,
    output_ge_256 bigint,
    output_ge_363 bigint,
    output_ge_512 bigint,
    output_ge_725 bigint,
    output_ge_1024 bigint,
    output_ge_1449 bigint,
    output_ge_2048 bigint,
    output_ge_2897 bigint,
    output_ge_4096 bigint,
    output_ge_5793 bigint,
    output_ge_8192 bigint,
    output_ge_11586 bigint,
    output_ge_16384 bigint,
    output_ge_23171 bigint,
    output_ge_32768 bigint,
    output_ge_46341 bigint,
    output_ge_65536 bigint,
    output_ge_92682 bigint,
    output_ge_131072 bigint,
    output_ge_185364 bigint,
    output_ge_262144 bigint,
    output_ge_370728 bigint,
    output_ge_524288 bigint,
    output_ge_741456 bigint,
    output_ge_1048576 bigint,
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation, response_model)
);
INSERT INTO llm_requests_detail_monthly_store (bucket, application, environment, team, provider, model, operation, response_model, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count, cache_read_tokens_priced, finished, truncated, errors_timeout, errors_rate_limit, errors_context_length, errors_content_filter, errors_auth, errors_cancelled, errors_connection, errors_not_found, errors_bad_request, errors_server_error, errors_other, output_counted, output_ge_1, output_ge_2, output_ge_3, output_ge_4, output_ge_6, output_ge_8, output_ge_12, output_ge_16, output_ge_23, output_ge_32, output_ge_46, output_ge_64, output_ge_91, output_ge_128, output_ge_182, output_ge_256, output_ge_363, output_ge_512, output_ge_725, output_ge_1024, output_ge_1449, output_ge_2048, output_ge_2897, output_ge_4096, output_ge_5793, output_ge_8192, output_ge_11586, output_ge_16384, output_ge_23171, output_ge_32768, output_ge_46341, output_ge_65536, output_ge_92682, output_ge_131072, output_ge_185364, output_ge_262144, output_ge_370728, output_ge_524288, output_ge_741456, output_ge_1048576)
SELECT date_trunc('month', bucket, 'UTC') AS bucket, application, environment, team, provider, model, operation, response_model, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count, sum(cache_read_tokens_priced)::bigint AS cache_read_tokens_priced, sum(finished)::bigint AS finished, sum(truncated)::bigint AS truncated, sum(errors_timeout)::bigint AS errors_timeout, sum(errors_rate_limit)::bigint AS errors_rate_limit, sum(errors_context_length)::bigint AS errors_context_length, sum(errors_content_filter)::bigint AS errors_content_filter, sum(errors_auth)::bigint AS errors_auth, sum(errors_cancelled)::bigint AS errors_cancelled, sum(errors_connection)::bigint AS errors_connection, sum(errors_not_found)::bigint AS errors_not_found, sum(errors_bad_request)::bigint AS errors_bad_request, sum(errors_server_error)::bigint AS errors_server_error, sum(errors_other)::bigint AS errors_other, sum(output_counted)::bigint AS output_counted, sum(output_ge_1)::bigint AS output_ge_1, sum(output_ge_2)::bigint AS output_ge_2, sum(output_ge_3)::bigint AS output_ge_3, sum(output_ge_4)::bigint AS output_ge_4, sum(output_ge_6)::bigint AS output_ge_6, sum(output_ge_8)::bigint AS output_ge_8, sum(output_ge_12)::bigint AS output_ge_12, sum(output_ge_16)::bigint AS output_ge_16, sum(output_ge_23)::bigint AS output_ge_23, sum(output_ge_32)::bigint AS output_ge_32, sum(output_ge_46)::bigint AS output_ge_46, sum(output_ge_64)::bigint AS output_ge_64, sum(output_ge_91)::bigint AS output_ge_91, sum(output_ge_128)::bigint AS output_ge_128, sum(output_ge_182)::bigint AS output_ge_182, sum(output_ge_256)::bigint AS output_ge_256, sum(output_ge_363)::bigint AS output_ge_363, sum(output_ge_512)::bigint AS output_ge_512, sum(output_ge_725)::bigint AS output_ge_725, sum(output_ge_1024)::bigint AS output_ge_1024, sum(output_ge_1449)::bigint AS output_ge_1449, sum(output_ge_2048)::bigint AS output_ge_2048, sum(output_ge_2897)::bigint AS output_ge_2897, sum(output_ge_4096)::bigint AS output_ge_4096, sum(output_ge_5793)::bigint AS output_ge_5793, sum(output_ge_8192)::bigint AS output_ge_8192, sum(output_ge_11586)::bigint AS output_ge_11586, sum(output_ge_16384)::bigint AS output_ge_16384, sum(output_ge_23171)::bigint AS output_ge_23171, sum(output_ge_32768)::bigint AS output_ge_32768, sum(output_ge_46341)::bigint AS output_ge_46341, sum(output_ge_65536)::bigint AS output_ge_65536, sum(output_ge_92682)::bigint AS output_ge_92682, sum(output_ge_131072)::bigint AS output_ge_131072, sum(output_ge_185364)::bigint AS output_ge_185364, sum(output_ge_262144)::bigint AS output_ge_262144, sum(output_ge_370728)::bigint AS output_ge_370728, sum(output_ge_524288)::bigint AS output_ge_524288, sum(output_ge_741456)::bigint AS output_ge_741456, sum(output_ge_1048576)::bigint AS output_ge_1048576
FROM llm_requests_detail_daily_store
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_detail_monthly', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_detail_daily'
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS llm_requests_weekly_totals_store (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
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
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation)
);
INSERT INTO llm_requests_weekly_totals_store (bucket, application, environment, team, provider, model, operation, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count)
SELECT date_trunc('week', bucket, 'UTC') AS bucket, application, environment, team, provider, model, operation, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count
FROM llm_requests_daily_totals_store
GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_weekly_totals', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_daily_totals'
ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS llm_requests_detail_weekly_store (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
    response_model text NOT NULL,
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
    cache_read_tokens_priced bigint,
    finished bigint,
    truncated bigint,
    errors_timeout bigint,
    errors_rate_limit bigint,
    errors_context_length bigint,
    errors_content_filter bigint,
    errors_auth bigint,
    errors_cancelled bigint,
    errors_connection bigint,
    errors_not_found bigint,
    errors_bad_request bigint,
    errors_server_error bigint,
    errors_other bigint,
    output_counted bigint,
    output_ge_1 bigint,
    output_ge_2 bigint,
    output_ge_3 bigint,
    output_ge_4 bigint,
    output_ge_6 bigint,
    output_ge_8 bigint,
    output_ge_12 bigint,
    output_ge_16 bigint,
    output_ge_23 bigint,
    output_ge_32 bigint,
    output_ge_46 bigint,
    output_ge_64 bigint,
    output_ge_91 bigint,
    output_ge_128 bigint,
    output_ge_182 bigint,
    output_ge_256 bigint,
    output_ge_363 bigint,
    output_ge_512 bigint,
    output_ge_725 bigint,
    output_ge_1024 bigint,
    output_ge_1449 bigint,
    output_ge_2048 bigint,
    output_ge_2897 bigint,
    output_ge_4096 bigint,
    output_ge_5793 bigint,
    output_ge_8192 bigint,
    output_ge_11586 bigint,
    output_ge_16384 bigint,
    output_ge_23171 bigint,
    output_ge_32768 bigint,
    output_ge_46341 bigint,
    output_ge_65536 bigint,
    output_ge_92682 bigint,
    output_ge_131072 bigint,
    output_ge_185364 bigint,
    output_ge_262144 bigint,
    output_ge_370728 bigint,
    output_ge_524288 bigint,
    output_ge_741456 bigint,
    output_ge_1048576 bigint,
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation, response_model)
);
INSERT INTO llm_requests_detail_weekly_store (bucket, application, environment, team, provider, model, operation, response_model, requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum, ttft_count, cache_read_tokens_priced, finished, truncated, errors_timeout, errors_rate_limit, errors_context_length, errors_content_filter, errors_auth, errors_cancelled, errors_connection, errors_not_found, errors_bad_request, errors_server_error, errors_other, output_counted, output_ge_1, output_ge_2, output_ge_3, output_ge_4, output_ge_6, output_ge_8, output_ge_12, output_ge_16, output_ge_23, output_ge_32, output_ge_46, output_ge_64, output_ge_91, output_ge_128, output_ge_182, output_ge_256, output_ge_363, output_ge_512, output_ge_725, output_ge_1024, output_ge_1449, output_ge_2048, output_ge_2897, output_ge_4096, output_ge_5793, output_ge_8192, output_ge_11586, output_ge_16384, output_ge_23171, output_ge_32768, output_ge_46341, output_ge_65536, output_ge_92682, output_ge_131072, output_ge_185364, output_ge_262144, output_ge_370728, output_ge_524288, output_ge_741456, output_ge_1048576)
SELECT date_trunc('week', bucket, 'UTC') AS bucket, application, environment, team, provider, model, operation, response_model, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, sum(unpriced_requests)::bigint AS unpriced_requests, sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_usd)::double precision AS cost_usd, sum(duration_ms_sum)::double precision AS duration_ms_sum, max(duration_ms_max) AS duration_ms_max, sum(ttft_ms_sum)::double precision AS ttft_ms_sum, sum(ttft_count)::bigint AS ttft_count, sum(cache_read_tokens_priced)::bigint AS cache_read_tokens_priced, sum(finished)::bigint AS finished, sum(truncated)::bigint AS truncated, sum(errors_timeout)::bigint AS errors_timeout, sum(errors_rate_limit)::bigint AS errors_rate_limit, sum(errors_context_length)::bigint AS errors_context_length, sum(errors_content_filter)::bigint AS errors_content_filter, sum(errors_auth)::bigint AS errors_auth, sum(errors_cancelled)::bigint AS errors_cancelled, sum(errors_connection)::bigint AS errors_connection, sum(errors_not_found)::bigint AS errors_not_found, sum(errors_bad_request)::bigint AS errors_bad_request, sum(errors_server_error)::bigint AS errors_server_error, sum(errors_other)::bigint AS errors_other, sum(output_counted)::bigint AS output_counted, sum(output_ge_1)::bigint AS output_ge_1, sum(output_ge_2)::bigint AS output_ge_2, sum(output_ge_3)::bigint AS output_ge_3, sum(output_ge_4)::bigint AS output_ge_4, sum(output_ge_6)::bigint AS output_ge_6, sum(output_ge_8)::bigint AS output_ge_8, sum(output_ge_12)::bigint AS output_ge_12, sum(output_ge_16)::bigint AS output_ge_16, sum(output_ge_23)::bigint AS output_ge_23, sum(output_ge_32)::bigint AS output_ge_32, sum(output_ge_46)::bigint AS output_ge_46, sum(output_ge_64)::bigint AS output_ge_64, sum(output_ge_91)::bigint AS output_ge_91, sum(output_ge_128)::bigint AS output_ge_128, sum(output_ge_182)::bigint AS output_ge_182, sum(output_ge_256)::bigint AS output_ge_256, sum(output_ge_363)::bigint AS output_ge_363, sum(output_ge_512)::bigint AS output_ge_512, sum(output_ge_725)::bigint AS output_ge_725, sum(output_ge_1024)::bigint AS output_ge_1024, sum(output_ge_1449)::bigint AS output_ge_1449, sum(output_ge_2048)::bigint AS output_ge_2048, sum(output_ge_2897)::bigint AS output_ge_2897, sum(output_ge_4096)::bigint AS output_ge_4096, sum(output_ge_5793)::bigint AS output_ge_5793, sum(output_ge_8192)::bigint AS output_ge_8192, sum(output_ge_11586)::bigint AS output_ge_11586, sum(output_ge_16384)::bigint AS output_ge_16384, sum(output_ge_23171)::bigint AS output_ge_23171, sum(output_ge_32768)::bigint AS output_ge_32768, sum(output_ge_46341)::bigint AS output_ge_46341, sum(output_ge_65536)::bigint AS output_ge_65536, sum(output_ge_92682)::bigint AS output_ge_92682, sum(output_ge_131072)::bigint AS output_ge_131072, sum(output_ge_185364)::bigint AS output_ge_185364, sum(output_ge_262144)::bigint AS output_ge_262144, sum(output_ge_370728)::bigint AS output_ge_370728, sum(output_ge_524288)::bigint AS output_ge_524288, sum(output_ge_741456)::bigint AS output_ge_741456, sum(output_ge_1048576)::bigint AS output_ge_1048576
FROM llm_requests_detail_daily_store
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT DO NOTHING;
INSERT INTO observatory_rollup_watermarks (rollup, computed_until)
SELECT 'llm_requests_detail_weekly', computed_until FROM observatory_rollup_watermarks WHERE rollup = 'llm_requests_detail_daily'
ON CONFLICT DO NOTHING;
