-- Generated from postgres.yaml by observatory render. Do not edit.
-- Grafana reads through grafana_reader, which can read these and nothing else.
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON llm_requests, llm_requests_hourly, llm_requests_daily TO grafana_reader;
