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
SELECT create_hypertable('llm_feedback', by_range('time', INTERVAL '30 days'), if_not_exists => TRUE,
    create_default_indexes => FALSE);
-- The ratings still looking for their request: the ingester's match reads only these.
CREATE INDEX IF NOT EXISTS llm_feedback_unmatched ON llm_feedback (received) WHERE request_time IS NULL;
-- The counted ratings per UTC day and per application, environment, provider and model.
CREATE MATERIALIZED VIEW IF NOT EXISTS llm_feedback_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS bucket,
  coalesce(application, '') AS application,
  coalesce(environment, '') AS environment,
  coalesce(provider, '') AS provider,
  coalesce(request_model, '') AS model,
  count(*) AS ratings,
  sum(score) AS score_sum,
  count(*) FILTER (WHERE score < 0.5) AS unhappy,
  coalesce(sum(duration_ms), 0) AS duration_ms_sum,
  coalesce(sum(cost_usd), 0) AS cost_usd_sum,
  count(cost_usd) AS priced,
  count(*) FILTER (WHERE duration_ms >= 0 AND duration_ms < 1000) AS ratings_latency_0,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 0 AND duration_ms < 1000), 0) AS score_latency_0,
  count(*) FILTER (WHERE duration_ms >= 1000 AND duration_ms < 2000) AS ratings_latency_1,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 1000 AND duration_ms < 2000), 0) AS score_latency_1,
  count(*) FILTER (WHERE duration_ms >= 2000 AND duration_ms < 5000) AS ratings_latency_2,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 2000 AND duration_ms < 5000), 0) AS score_latency_2,
  count(*) FILTER (WHERE duration_ms >= 5000 AND duration_ms < 10000) AS ratings_latency_3,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 5000 AND duration_ms < 10000), 0) AS score_latency_3,
  count(*) FILTER (WHERE duration_ms >= 10000 AND duration_ms < 30000) AS ratings_latency_4,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 10000 AND duration_ms < 30000), 0) AS score_latency_4,
  count(*) FILTER (WHERE duration_ms >= 30000) AS ratings_latency_5,
  coalesce(sum(score) FILTER (WHERE duration_ms >= 30000), 0) AS score_latency_5,
  count(*) FILTER (WHERE cost_usd >= 0 AND cost_usd < 0.001) AS ratings_cost_0,
  coalesce(sum(score) FILTER (WHERE cost_usd >= 0 AND cost_usd < 0.001), 0) AS score_cost_0,
  count(*) FILTER (WHERE cost_usd >= 0.001 AND cost_usd < 0.01) AS ratings_cost_1,
  coalesce(sum(score) FILTER (WHERE cost_usd >= 0.001 AND cost_usd < 0.01), 0) AS score_cost_1,
  count(*) FILTER (WHERE cost_usd >= 0.01 AND cost_usd < 0.1) AS ratings_cost_2,
  coalesce(sum(score) FILTER (WHERE cost_usd >= 0.01 AND cost_usd < 0.1), 0) AS score_cost_2,
  count(*) FILTER (WHERE cost_usd >= 0.1) AS ratings_cost_3,
  coalesce(sum(score) FILTER (WHERE cost_usd >= 0.1), 0) AS score_cost_3,
  count(*) FILTER (WHERE cost_usd IS NULL) AS ratings_unpriced,
  coalesce(sum(score) FILTER (WHERE cost_usd IS NULL), 0) AS score_unpriced
FROM llm_feedback
WHERE name = 'user_feedback' AND score IS NOT NULL AND request_time IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;
