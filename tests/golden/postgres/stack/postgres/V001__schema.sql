-- Generated from postgres.yaml by observatory render. Do not edit.
-- Per-request table, partitioned by day; the partitions are created by
-- llm_requests_ensure_partition(day), which the ingester calls for each day it writes.
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
) PARTITION BY RANGE (time);
CREATE INDEX IF NOT EXISTS llm_requests_application_time ON llm_requests (application, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_model_time ON llm_requests (request_model, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_user_time ON llm_requests (user_id, time DESC);
CREATE INDEX IF NOT EXISTS llm_requests_trace ON llm_requests (trace_id);

CREATE OR REPLACE FUNCTION llm_requests_ensure_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'llm_requests_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NULL THEN
        -- Two writers may meet here: the lock makes the second wait, then find the table.
        PERFORM pg_advisory_xact_lock(hashtext(part));
        -- Days are UTC days whatever the session's time zone, so every writer agrees on the bounds.
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF llm_requests FOR VALUES FROM (%L) TO (%L)',
                       part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    ELSIF NOT EXISTS (SELECT 1 FROM pg_inherits
                      WHERE inhrelid = to_regclass(part) AND inhparent = 'llm_requests'::regclass) THEN
        RAISE EXCEPTION 'table % exists but is not a partition of llm_requests', part;
    END IF;
END
$$;

-- Rollups, kept up to date by `observatory maintain`: per hour, and per day and user.
CREATE TABLE IF NOT EXISTS llm_requests_hourly (
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
CREATE TABLE IF NOT EXISTS llm_requests_daily (
    bucket timestamptz NOT NULL,
    application text NOT NULL,
    environment text NOT NULL,
    team text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    operation text NOT NULL,
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
    PRIMARY KEY (bucket, application, environment, team, provider, model, operation, user_id)
);

-- How far the rollups have been computed; maintenance recomputes from a little before it.
CREATE TABLE IF NOT EXISTS observatory_rollup_watermarks (
    rollup text PRIMARY KEY,
    computed_until timestamptz NOT NULL
);
