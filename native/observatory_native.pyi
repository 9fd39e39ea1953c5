# Type stub of the Rust extension (src/lib.rs).
def copy_rows(
    body: bytes, llm_operations: list[str], earliest: int, latest: int
) -> tuple[bytes, int, int, list[int], list[int], list[tuple[int, int, int] | None], int]:
    """(COPY text, rows, spans, days since 1970-01-01, refused spans per rows.REFUSALS reason, the
    (resource, scope, span) position of the first span refused for each reason, repaired text values)
    of a protobuf ExportTraceServiceRequest, rows starting in [earliest, latest]."""
