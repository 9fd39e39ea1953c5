"""The spec's JSON Schema, committed into the VS Code extension (editors/vscode/) that hands it to the
YAML language server for completion, hover and enum values; `render --check` fails when it is stale.

It is made from the file model (`SpecFile`), not from a spec: every spec renders the same bytes, and
`observatory schema` prints exactly these bytes.
"""

from __future__ import annotations

from typing import Any

from observatory.render.artifact import Artifact
from observatory.spec.model import SpecFile
from observatory.spec.types import Spec

SCHEMA_PATH = "editors/vscode/schema/observatory.schema.json"
TITLE = "LLM Observatory spec (observatory.yaml)"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `observatory.yaml`, with the field descriptions editors show on hover."""
    schema: dict[str, Any] = _without_null_defaults(SpecFile.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = TITLE
    return schema


def _without_null_defaults(node: Any) -> Any:
    """`node` without `"default": null`: in the model None means "take the built-in default", which an
    editor would otherwise offer as the value `null` on completion."""
    if isinstance(node, dict):
        return {k: _without_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(SCHEMA_PATH, json_schema(), "json")]
