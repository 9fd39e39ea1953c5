"""Artifacts (what a renderer returns) and their deterministic serialisation to bytes.

A renderer returns data, not text: the format decides how it is written, and whether the file can
carry the generated-file header. Same data, same bytes: key order is the renderer's (YAML) or sorted
(JSON), floats are written by Python's shortest round-trip repr, and every file ends in a newline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml

Format = Literal["yaml", "json", "ini", "env", "sql", "text", "markdown"]

# Comment syntax of each format; JSON has none, so it carries no header.
_COMMENT = {"yaml": "#", "ini": ";", "env": "#", "sql": "--", "text": "#", "markdown": None, "json": None}


@dataclass(frozen=True, slots=True)
class Artifact:
    """One generated file: its path from the repository root, its content, and its format."""

    path: str
    content: Any
    format: Format
    # Whether the generated-file header is added; off for files whose consumer forbids comments.
    header: bool = True

    def __post_init__(self) -> None:
        p = PurePosixPath(self.path)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError(f"artifact path must be relative and inside the repository: {self.path}")


def header_lines(source: str) -> list[str]:
    return [f"Generated from {source} by observatory render. Do not edit."]


class _Dumper(yaml.SafeDumper):
    """Block style everywhere; multi-line strings as literal blocks so queries stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def to_yaml(data: Any) -> str:
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )
    return text


def to_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _to_ini(sections: Mapping[str, Mapping[str, Any]]) -> str:
    out = []
    for section, values in sections.items():
        out.append(f"[{section}]")
        out += [f"{key} = {_ini_value(value)}" for key, value in values.items()]
        out.append("")
    return "\n".join(out)


def _ini_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _to_env(values: Mapping[str, Any]) -> str:
    for key, value in values.items():
        if any(c in str(value) for c in " \"'$#\n"):
            raise ValueError(f"env value of {key} needs quoting, which compose and shells read differently")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _identity(content: str) -> str:
    return content


_SERIALIZERS: dict[str, Callable[[Any], str]] = {
    "yaml": to_yaml,
    "json": to_json,
    "ini": _to_ini,
    "env": _to_env,
    "sql": _identity,
    "text": _identity,
    "markdown": _identity,
}


def serialize(artifact: Artifact, source: str) -> bytes:
    """The bytes of `artifact`, with the generated-file header where the format allows comments."""
    body = _SERIALIZERS[artifact.format](artifact.content)
    if not body.endswith("\n"):
        body += "\n"
    comment = _COMMENT[artifact.format]
    if artifact.header and comment:
        body = "".join(f"{comment} {line}\n" for line in header_lines(source)) + body
    return body.encode("utf-8")
