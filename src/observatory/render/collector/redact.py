"""The `redact` processor's config: the spec's PII patterns, in order, for the project's own processor
(`collector/redactprocessor/`), which applies them to every text a span, log record or metric
carries, attribute keys included; and the user-id hash, which it applies first, with a key the
collector expands at start-up and refuses to start without (empty or under 16 bytes)."""

from __future__ import annotations

from typing import Any

from observatory import semconv as sc
from observatory.spec.types import Spec

# The processor's type, and the module the builder compiles it from (a local path, see manifest.py).
TYPE = "redact"


def escape(text: str) -> str:
    """`text` as a config value: the collector expands `${...}` and turns `$$` into `$`, so every `$`
    (a regex's end anchor, a replacement's `$1`) is doubled."""
    return text.replace("$", "$$")


def processor(spec: Spec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "patterns": [
            {"name": p.name, "regex": escape(p.regex), "replacement": escape(p.replacement)}
            for p in spec.pii.patterns
        ]
    }
    if spec.pii.hash_user_ids:
        key = spec.pii.user_id_hash_key
        # Only the reference is rendered; the collector reads the key from its environment or the
        # mounted file when it starts.
        out["user_id_hash"] = {
            "attribute": sc.USER_ID,
            "key": f"${{env:{key.env}}}" if key.env else f"${{file:{key.file}}}",
            "key_from": f"the environment variable {key.env}" if key.env else f"the file {key.file}",
        }
    return out
