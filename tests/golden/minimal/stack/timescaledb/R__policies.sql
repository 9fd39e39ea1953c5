-- Generated from minimal.yaml by observatory render. Do not edit.
-- From the spec's retention.requests tiers (days): hot 7, warm 30, cold 365.
SELECT remove_compression_policy('llm_requests', if_exists => TRUE);
SELECT add_compression_policy('llm_requests', compress_after => INTERVAL '7 days');
SELECT remove_retention_policy('llm_requests', if_exists => TRUE);
SELECT add_retention_policy('llm_requests', drop_after => INTERVAL '30 days');

SELECT remove_continuous_aggregate_policy('llm_requests_hourly', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('llm_requests_hourly', start_offset => INTERVAL '72 hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT remove_retention_policy('llm_requests_hourly', if_exists => TRUE);
SELECT add_retention_policy('llm_requests_hourly', drop_after => INTERVAL '30 days');

SELECT remove_continuous_aggregate_policy('llm_requests_daily', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('llm_requests_daily', start_offset => INTERVAL '72 hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT remove_retention_policy('llm_requests_daily', if_exists => TRUE);
SELECT add_retention_policy('llm_requests_daily', drop_after => INTERVAL '365 days');

SELECT remove_continuous_aggregate_policy('llm_requests_detail_hourly', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('llm_requests_detail_hourly', start_offset => INTERVAL '72 hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT remove_retention_policy('llm_requests_detail_hourly', if_exists => TRUE);
SELECT add_retention_policy('llm_requests_detail_hourly', drop_after => INTERVAL '30 days');

SELECT remove_continuous_aggregate_policy('llm_requests_detail_daily', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('llm_requests_detail_daily', start_offset => INTERVAL '72 hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT remove_retention_policy('llm_requests_detail_daily', if_exists => TRUE);
SELECT add_retention_policy('llm_requests_detail_daily', drop_after => INTERVAL '365 days');

-- Grafana reads through grafana_reader, which can read these and nothing else.
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON llm_requests, llm_requests_hourly, llm_requests_daily, llm_requests_detail_hourly, llm_requests_detail_daily TO grafana_reader;
