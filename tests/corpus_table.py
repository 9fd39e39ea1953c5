"""The README's compatibility table, made from the corpus: what the stack reads from each library.

`tests/corpus/support.yaml` says what each captured library does not emit (the corpus test holds it to
the capture); each library's `library.json` names its packages, and the truth files say which values
a provider ever sent (a cell is "n/a" where it never did, such as OpenAI's cache writes). The README
holds this table between two markers; `make golden` rewrites it and a unit test fails when it is stale.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parent / "corpus"
BEGIN = "<!-- compatibility table: made from tests/corpus by `make golden`; do not edit -->"
END = "<!-- end of compatibility table -->"
COLUMNS = (
    ("response_model", "response model"),
    ("input_tokens", "input tokens"),
    ("output_tokens", "output tokens"),
    ("cache_read_tokens", "cache reads"),
    ("cache_write_tokens", "cache writes"),
    ("reasoning_tokens", "reasoning tokens"),
    ("finish_reason", "finish reason"),
    ("ttft_ms", "time to first token"),
    ("user_id", "user id"),
)
TRUTH_FIELD = {
    "response_model": lambda r: r["response_model"],
    "input_tokens": lambda r: r["usage"]["input"],
    "output_tokens": lambda r: r["usage"]["output"],
    "cache_read_tokens": lambda r: r["usage"]["cache_read"],
    "cache_write_tokens": lambda r: r["usage"]["cache_write"],
    "reasoning_tokens": lambda r: r["usage"]["reasoning"],
    "finish_reason": lambda r: r.get("finish_reasons"),
    "ttft_ms": lambda r: r["streamed"],
    "user_id": lambda r: r.get("user_id_request") or r.get("user_id_context"),
}


@cache
def _answered(library: str) -> tuple[dict[str, Any], ...]:
    """The requests of the library's scenarios that the fake provider answered."""
    return tuple(
        request
        for path in sorted((CORPUS / library).glob("*/truth.json"))
        for request in json.loads(path.read_text())["requests"]
        if request["error"] == "none"
    )


def _sent(library: str, field: str) -> bool:
    """Whether the fake provider ever sent a value for `field` in this library's scenarios."""
    return any(TRUTH_FIELD[field](request) for request in _answered(library))


def _cell(library: str, entry: dict[str, Any], field: str) -> str:
    if field in entry.get("missing", []):
        return "no"
    if not _sent(library, field):
        return "n/a"
    notes = [
        f"{'not' if field in own.get('missing', []) else 'approximate'} on {scenario}"
        for scenario, own in sorted(entry.get("scenarios", {}).items())
        if field in own.get("missing", []) or field in own.get("inexact", [])
    ]
    return "yes" + (f" ({'; '.join(notes)})" if notes else "")


def table() -> str:
    support = yaml.safe_load((CORPUS / "support.yaml").read_text())["libraries"]
    lines = [
        "| library | packages | " + " | ".join(title for _, title in COLUMNS) + " | failed calls |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |",
    ]
    for library, entry in sorted(support.items()):
        described = json.loads((CORPUS / library / "library.json").read_text())
        packages = described["packages"]
        client = next((p for p in packages if p.startswith(f"{described['provider']}==")), None)
        shown = [packages[0]] + ([client] if client and client != packages[0] else [])
        instrumentation = ", ".join(f"`{p}`" for p in shown)  # the library, then the provider's client
        if "not_counted" in entry:
            lines.append(f"| {library} | {instrumentation} | not counted: {entry['not_counted']} |")
            continue
        cells = [_cell(library, entry, field) for field, _ in COLUMNS]
        failed = "not counted" if "failed_calls_not_counted" in entry else "counted, with their error type"
        lines.append(f"| {library} | {instrumentation} | " + " | ".join(cells) + f" | {failed} |")
    return "\n".join([BEGIN, *lines, END])


def replace_in(text: str) -> str:
    """`text` with the table between its markers made anew."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + table() + text[end:]
