"""The `redact` processor's config: the spec's PII patterns, in order, for the project's own processor
(`collector/redactprocessor/`), which applies them to every text a span, log record or metric
carries, attribute keys included."""

from __future__ import annotations

from typing import Any

from observatory.spec.types import Spec

# The processor's type, and the module the builder compiles it from (a local path, see manifest.py).
TYPE = "redact"


def escape(text: str) -> str:
    """`text` as a config value: the collector expands `${...}` and turns `$$` into `$`, so every `$`
    (a regex's end anchor, a replacement's `$1`) is doubled."""
    return text.replace("$", "$$")


def processor(spec: Spec) -> dict[str, Any]:
    return {
        "patterns": [
            {"name": p.name, "regex": escape(p.regex), "replacement": escape(p.replacement)}
            for p in spec.pii.patterns
        ]
    }
