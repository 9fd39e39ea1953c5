-- Generated from full.yaml by observatory render. Do not edit.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS llm_requests (
    time timestamptz NOT NULL,
    trace_id text NOT NULL,
    span_id text NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text,
    user_id text,
    provider text,
    request_model text,
    response_model text,
    operation text,
    status text NOT NULL,
    error_type text,
    finish_reason text,
    duration_ms double precision NOT NULL,
    ttft_ms double precision,
    input_tokens bigint,
    output_tokens bigint,
    cache_read_tokens bigint,
    cache_write_tokens bigint,
    reasoning_tokens bigint,
    cost_usd double precision,
    unpriced boolean NOT NULL,
    price_version date,
    CONSTRAINT llm_requests_key UNIQUE (time, trace_id, span_id)
);
SELECT create_hypertable('llm_requests', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS llm_requests_application_time ON llm_requests (application, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_model_time ON llm_requests (request_model, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_user_time ON llm_requests (user_id, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_trace ON llm_requests (trace_id);
ALTER TABLE llm_requests SET (timescaledb.compress, timescaledb.compress_segmentby = 'application',
    timescaledb.compress_orderby = 'time DESC');

-- Continuous aggregates with real-time rows on top (materialized_only = false).
CREATE MATERIALIZED VIEW IF NOT EXISTS llm_requests_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, application AS application, environment AS environment, coalesce(team, '') AS team, coalesce(provider, '') AS provider, coalesce(request_model, '') AS model, coalesce(operation, '') AS operation, count(*) AS requests, count(*) FILTER (WHERE status = 'error') AS errors, count(*) FILTER (WHERE unpriced) AS unpriced_requests, coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens, coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens, coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens, coalesce(sum(cost_usd), 0) AS cost_usd, sum(duration_ms) AS duration_ms_sum, max(duration_ms) AS duration_ms_max, coalesce(sum(ttft_ms), 0) AS ttft_ms_sum, count(ttft_ms) AS ttft_count
FROM llm_requests
GROUP BY 1, 2, 3, 4, 5, 6, 7
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_requests_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS bucket, application AS application, environment AS environment, coalesce(team, '') AS team, coalesce(provider, '') AS provider, coalesce(request_model, '') AS model, coalesce(operation, '') AS operation, coalesce(user_id, '') AS user_id, count(*) AS requests, count(*) FILTER (WHERE status = 'error') AS errors, count(*) FILTER (WHERE unpriced) AS unpriced_requests, coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens, coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens, coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens, coalesce(sum(cost_usd), 0) AS cost_usd, sum(duration_ms) AS duration_ms_sum, max(duration_ms) AS duration_ms_max, coalesce(sum(ttft_ms), 0) AS ttft_ms_sum, count(ttft_ms) AS ttft_count
FROM llm_requests
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
WITH NO DATA;
