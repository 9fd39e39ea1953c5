-- Generated from observatory.yaml by observatory render. Do not edit.
-- error.type as the library wrote it; error_type is the vocabulary's.
ALTER TABLE llm_requests ADD COLUMN IF NOT EXISTS error_type_raw text;
