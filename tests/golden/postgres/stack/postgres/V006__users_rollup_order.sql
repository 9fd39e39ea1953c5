-- Generated from postgres.yaml by observatory render. Do not edit.
-- The per-user daily rollup per user alone, in the order maintenance writes each day in.
CLUSTER llm_requests_daily_users_store USING llm_requests_daily_users_store_pkey;
