-- Generated from observatory.yaml by observatory render. Do not edit.
-- User feedback (observatory_sdk.feedback): one row per rating, with the keys and measures of
-- the request it rates copied in once the ingester has found it.
CREATE TABLE IF NOT EXISTS llm_feedback (
    time timestamptz NOT NULL,
    trace_id text NOT NULL,
    span_id text NOT NULL,
    name text NOT NULL,
    score double precision,
    label text,
    comment text,
    rater_id text,
    source text NOT NULL,
    response_id text,
    received timestamptz NOT NULL DEFAULT now(),
    request_time timestamptz,
    request_span_id text,
    application text,
    environment text,
    team text,
    user_id text,
    provider text,
    request_model text,
    response_model text,
    operation text,
    status text,
    error_type text,
    duration_ms double precision,
    ttft_ms double precision,
    input_tokens bigint,
    output_tokens bigint,
    cost_usd double precision,
    unpriced boolean,
    CONSTRAINT llm_feedback_key PRIMARY KEY (time, trace_id, span_id, name)
);
SELECT create_hypertable('llm_feedback', by_range('time', INTERVAL '30 days'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS llm_feedback_application_time ON llm_feedback (application, time DESC);
-- The ratings still looking for their request: the ingester's match reads only these.
CREATE INDEX IF NOT EXISTS llm_feedback_unmatched ON llm_feedback (received) WHERE request_time IS NULL;
