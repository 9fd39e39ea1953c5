"""The GenAI dialect table (`dialects.yaml`): which attribute names and values mean the same thing.

The collector renderer turns it into normalisation statements and the synthetic traffic generator
uses it to speak each dialect; neither spells an alias itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Alias:
    canonical: str
    alias: str
    dialect: str
    wrap: bool  # the alias is a scalar; the canonical attribute is a one-element list


@dataclass(frozen=True, slots=True)
class JsonAttribute:
    """A span attribute holding a JSON object some of whose keys carry canonical attributes."""

    attribute: str
    dialect: str
    keys: tuple[tuple[str, str], ...]  # (JSON key, canonical attribute)


@dataclass(frozen=True, slots=True)
class ErrorType:
    type: str
    pattern: str  # RE2, matched case-insensitively against the raw error.type or HTTP status code


@dataclass(frozen=True, slots=True)
class Dialects:
    conventions_version: str
    attributes: tuple[Alias, ...]
    resource_attributes: tuple[Alias, ...]
    values: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    canonical_values: dict[str, tuple[str, ...]]
    span_kind_attribute: str
    span_kind_dialect: str
    span_kind_operations: tuple[tuple[str, str], ...]
    content_keys: tuple[str, ...]
    llm_operations: tuple[str, ...]
    json_attributes: tuple[JsonAttribute, ...]
    first_token_events: tuple[str, ...]
    exception_event: str
    provider_sdk_scopes: tuple[str, ...]
    input_excludes_cache: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (dialect, attribute matches)
    exception_type_attribute: str
    error_types: tuple[ErrorType, ...]
    error_type_other: str
    http_status_attributes: tuple[str, ...]

    def error_vocabulary(self) -> tuple[str, ...]:
        """Every value `error.type` takes on an LLM request after normalisation."""
        return (*(e.type for e in self.error_types), self.error_type_other)

    def names(self) -> tuple[str, ...]:
        """Every dialect the table knows, sorted."""
        found = {a.dialect for a in (*self.attributes, *self.resource_attributes)} | {self.span_kind_dialect}
        found |= {j.dialect for j in self.json_attributes}
        return tuple(sorted(found))


def _aliases(table: dict[str, list[dict[str, Any]]]) -> tuple[Alias, ...]:
    return tuple(
        Alias(canonical, row["from"], row["dialect"], bool(row.get("wrap", False)))
        for canonical, rows in table.items()
        for row in rows
    )


@cache
def load() -> Dialects:
    data = yaml.safe_load(
        resources.files("observatory").joinpath("dialects.yaml").read_text(encoding="utf-8")
    )
    kinds = data["span_kinds"]
    return Dialects(
        conventions_version=str(data["conventions_version"]),
        attributes=_aliases(data["attributes"]),
        resource_attributes=_aliases(data["resource_attributes"]),
        values=tuple((attr, tuple(mapping.items())) for attr, mapping in data["values"].items()),
        canonical_values={attr: tuple(v) for attr, v in data["canonical_values"].items()},
        span_kind_attribute=kinds["attribute"],
        span_kind_dialect=kinds["dialect"],
        span_kind_operations=tuple(kinds["operations"].items()),
        content_keys=tuple(data["content_keys"]),
        llm_operations=tuple(data["llm_operations"]),
        json_attributes=tuple(
            JsonAttribute(row["from"], row["dialect"], tuple(row["keys"].items()))
            for row in data["json_attributes"]
        ),
        first_token_events=tuple(data["first_token_events"]),
        exception_event=data["exception_event"]["name"],
        provider_sdk_scopes=tuple(data["provider_sdk_scopes"]),
        input_excludes_cache=tuple(
            (row["dialect"], tuple(row["match"].items())) for row in data["input_excludes_cache"]
        ),
        exception_type_attribute=data["exception_event"]["type_attribute"],
        error_types=tuple(ErrorType(row["type"], row["pattern"]) for row in data["error_types"]),
        error_type_other=data["error_type_other"],
        http_status_attributes=tuple(data["http_status_attributes"]),
    )
