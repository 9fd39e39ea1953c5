-- Generated from observatory.yaml by observatory render. Do not edit.
-- Compression: segments per application, rows in time order then by the unique key.
DO $$
BEGIN
    IF (SELECT string_agg(attname || CASE WHEN orderby_asc THEN '' ELSE ' DESC' END, ', ' ORDER BY orderby_column_index)
        FROM timescaledb_information.compression_settings
        WHERE hypertable_name = 'llm_requests' AND orderby_column_index IS NOT NULL)
        IS DISTINCT FROM 'time DESC, trace_id, span_id'
    THEN
        ALTER TABLE llm_requests SET (timescaledb.compress, timescaledb.compress_segmentby = 'application',
            timescaledb.compress_orderby = 'time DESC, trace_id, span_id');
    END IF;
END
$$;

-- From the spec's retention.requests tiers (days): hot 7, warm 30, cold 730; and storage.late_data_days: 3.
-- Each job is replaced only when it differs, so its id and history survive a migrate.

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'compress_after')::interval = INTERVAL '7 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_compression' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests')
    THEN
        PERFORM remove_compression_policy('llm_requests', if_exists => TRUE);
        PERFORM add_compression_policy('llm_requests', compress_after => INTERVAL '7 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '30 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests')
    THEN
        PERFORM remove_retention_policy('llm_requests', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests', drop_after => INTERVAL '30 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '74 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '15 minutes'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_hourly')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_hourly', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_hourly', start_offset => INTERVAL '74 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '30 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_hourly')
    THEN
        PERFORM remove_retention_policy('llm_requests_hourly', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_hourly', drop_after => INTERVAL '30 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '120 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_daily', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_daily', start_offset => INTERVAL '120 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily')
    THEN
        PERFORM remove_retention_policy('llm_requests_daily', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_daily', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '74 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '15 minutes'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_hourly')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_detail_hourly', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_detail_hourly', start_offset => INTERVAL '74 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '30 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_hourly')
    THEN
        PERFORM remove_retention_policy('llm_requests_detail_hourly', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_detail_hourly', drop_after => INTERVAL '30 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '120 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_daily')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_detail_daily', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_detail_daily', start_offset => INTERVAL '120 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_daily')
    THEN
        PERFORM remove_retention_policy('llm_requests_detail_daily', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_detail_daily', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '120 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_totals')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_daily_totals', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_daily_totals', start_offset => INTERVAL '120 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_totals')
    THEN
        PERFORM remove_retention_policy('llm_requests_daily_totals', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_daily_totals', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '120 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_users')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_daily_users', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_daily_users', start_offset => INTERVAL '120 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_users')
    THEN
        PERFORM remove_retention_policy('llm_requests_daily_users', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_daily_users', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '120 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_cache_reads')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_daily_cache_reads', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_daily_cache_reads', start_offset => INTERVAL '120 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_daily_cache_reads')
    THEN
        PERFORM remove_retention_policy('llm_requests_daily_cache_reads', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_daily_cache_reads', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '1560 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_monthly_totals')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_monthly_totals', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_monthly_totals', start_offset => INTERVAL '1560 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_monthly_totals')
    THEN
        PERFORM remove_retention_policy('llm_requests_monthly_totals', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_monthly_totals', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '1560 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_monthly_users')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_monthly_users', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_monthly_users', start_offset => INTERVAL '1560 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_monthly_users')
    THEN
        PERFORM remove_retention_policy('llm_requests_monthly_users', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_monthly_users', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '1560 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_monthly')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_detail_monthly', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_detail_monthly', start_offset => INTERVAL '1560 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_monthly')
    THEN
        PERFORM remove_retention_policy('llm_requests_detail_monthly', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_detail_monthly', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '408 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_weekly_totals')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_weekly_totals', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_weekly_totals', start_offset => INTERVAL '408 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_weekly_totals')
    THEN
        PERFORM remove_retention_policy('llm_requests_weekly_totals', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_weekly_totals', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '408 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_weekly')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_requests_detail_weekly', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_requests_detail_weekly', start_offset => INTERVAL '408 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_requests_detail_weekly')
    THEN
        PERFORM remove_retention_policy('llm_requests_detail_weekly', if_exists => TRUE);
        PERFORM add_retention_policy('llm_requests_detail_weekly', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_feedback')
    THEN
        PERFORM remove_retention_policy('llm_feedback', if_exists => TRUE);
        PERFORM add_retention_policy('llm_feedback', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'start_offset')::interval = INTERVAL '144 hours'
            AND (j.config->>'end_offset')::interval = INTERVAL '1 hour'
            AND j.schedule_interval = INTERVAL '1 hour'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_feedback_daily')
    THEN
        PERFORM remove_continuous_aggregate_policy('llm_feedback_daily', if_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('llm_feedback_daily', start_offset => INTERVAL '144 hours',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
    END IF;
END
$$;

DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            (j.config->>'drop_after')::interval = INTERVAL '730 days'), FALSE)
        FROM timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name
        WHERE j.proc_name = 'policy_retention' AND coalesce(ca.view_name, j.hypertable_name) = 'llm_feedback_daily')
    THEN
        PERFORM remove_retention_policy('llm_feedback_daily', if_exists => TRUE);
        PERFORM add_retention_policy('llm_feedback_daily', drop_after => INTERVAL '730 days');
    END IF;
END
$$;

-- Grafana reads through grafana_reader, and the query API through observatory_api: each can read these and
-- nothing else.
GRANT USAGE ON SCHEMA public TO grafana_reader, observatory_api;
GRANT SELECT ON llm_requests, llm_requests_hourly, llm_requests_daily, llm_requests_detail_hourly, llm_requests_detail_daily, llm_requests_daily_totals, llm_requests_daily_users, llm_requests_daily_cache_reads, llm_requests_monthly_totals, llm_requests_monthly_users, llm_requests_detail_monthly, llm_requests_weekly_totals, llm_requests_detail_weekly, llm_requests_mtd_users, llm_feedback, llm_feedback_daily TO grafana_reader, observatory_api;
-- Panels are short queries planned afresh each time: compiling one with JIT took longer (up to
-- 180 ms at 10 million rows) than running it.
ALTER ROLE grafana_reader SET jit = off;
ALTER ROLE observatory_api SET jit = off;
-- The API's sessions only read, and no query of a client holds the database for long.
ALTER ROLE observatory_api SET default_transaction_read_only = on;
ALTER ROLE observatory_api SET statement_timeout = '5s';
