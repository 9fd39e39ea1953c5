"""The ingester: receives LLM spans over OTLP/HTTP and writes one database row per request."""
