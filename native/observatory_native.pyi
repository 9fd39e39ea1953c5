# Type stub of the Rust extension (src/lib.rs).
def copy_rows(body: bytes, llm_operations: list[str]) -> tuple[bytes, int, int, list[int]]:
    """(COPY text, rows, spans, days since 1970-01-01) of a protobuf ExportTraceServiceRequest."""
