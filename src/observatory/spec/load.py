"""The only reader of `observatory.yaml`: parse, validate, resolve, and report every problem at once.

Problems come out as `file:LINE:COL: path.to.field: message`, one per line, sorted by position, so an
editor can jump to each. YAML is composed into nodes first to keep the position of every key and
value; Pydantic then validates the plain data and its error locations are mapped back to positions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from observatory.spec import model as m
from observatory.spec.resolve import resolve, resolved_problems
from observatory.spec.types import Spec

Path_ = tuple[str | int, ...]
DEFAULT_SPEC_NAME = "observatory.yaml"


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in a spec, at a 1-based line and column."""

    line: int
    column: int
    path: str
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SpecInvalid(Exception):
    """The spec has problems; `errors` lists every one of them."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


class _Positions:
    """Where each path of the document is: the key's position and the value's position."""

    def __init__(self) -> None:
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.values: dict[Path_, tuple[int, int]] = {}

    def _walk(self, node: yaml.Node, path: Path_) -> Any:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if isinstance(key, list | dict):
                    raise _NodeError(key_node, "mapping keys must be plain values")
                self.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in out:
                    raise _NodeError(key_node, f"duplicate key {key!r}")
                out[key] = self._walk(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    @staticmethod
    def _scalar(node: yaml.Node) -> Any:
        return yaml.SafeLoader(  # construct one node with the safe constructors, nothing else
            ""
        ).construct_object(node, deep=True)

    def of(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The position for `path`, falling back to the nearest ancestor that is in the file."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            if sub in table:
                return table[sub]
            if sub in self.values:
                return self.values[sub]
        return (1, 1)


class _NodeError(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def dotted(path: Path_) -> str:
    """`models[2].input_usd_per_million_tokens` for ("models", 2, "input_usd_per_million_tokens")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The file-model class that validates the mapping at `path`, for did-you-mean suggestions."""
    cls: Any = m.SpecFile
    skip_key = False  # the part after a dict-typed field is a user's key (an application name)
    for part in path:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return None
        skip_key = "dict[" in str(field.annotation)
        cls = _inner_model(field.annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The model class inside an annotation such as `X | None`, `list[X]` or `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(getattr(annotation, "__args__", ())):  # dict[K, V]: the value type is last
        found = _inner_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)  # Annotated[X, ...] keeps X in __origin__
    return _inner_model(origin) if origin is not None and origin is not annotation else None


_YAML_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing",
}


def _message(err: ErrorDetails) -> str:
    """A short message in the spec's own terms for one Pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    got = f"got {value!r}" if not isinstance(value, dict | list) else f"got {_YAML_TYPES[type(value)]}"
    if kind == "extra_forbidden":
        key = err["loc"][-1]
        cls = _model_at(tuple(err["loc"][:-1]))
        known = list(cls.model_fields) if cls else []
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return "required"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        bound = next(iter(ctx.values()))
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return f"must be {op} {bound}, {got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, {got}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, {got}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "string": "a string",
            "list": "a list",
            "dict": "a mapping",
            "model": "a mapping",
            "date": "a date (YYYY-MM-DD)",
            "dataclass": "a mapping",
        }
        base = kind.removesuffix("_type").removesuffix("_parsing").split("_")[0]
        if isinstance(value, bool | int | float | str | type(None) | list | dict):
            got = f"got {_YAML_TYPES[type(value)]} {value!r}" if not isinstance(value, dict | list) else got
        return f"must be {wanted.get(base, base)}, {got}"
    msg = err["msg"]
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def _errors_from_validation(exc: ValidationError, base: Path_, pos: _Positions) -> list[SpecError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = (*base, *(p for p in err["loc"] if not _is_internal(p)))
        line, col = pos.of(loc, key=err["type"] == "extra_forbidden")
        out.append(SpecError(line, col, dotted(loc), _message(err)))
    return out


def _is_internal(part: Any) -> bool:
    # Pydantic adds validator names to locations (for example "function-before[...]"); they are
    # not part of the user's document.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def parse(text: str, source: str) -> Spec:
    """The resolved spec in `text`, or `SpecInvalid` listing every problem, with `source` as file name."""
    errors, spec = _parse(text)
    if errors:
        raise SpecInvalid(
            [SpecError(e.line, e.column, e.path, e.message, source) for e in sorted(set(errors))]
        )
    assert spec is not None
    return Spec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "source": source})


def _parse(text: str) -> tuple[list[SpecError], Spec | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [SpecError(*where, "", f"YAML syntax error: {err.problem or err.context}")], None
    pos = _Positions()
    if node is None:
        return [SpecError(1, 1, "", "the spec is empty; it needs at least `version: v1`")], None
    try:
        data = pos._walk(node, ())
    except _NodeError as err:
        mark = err.node.start_mark
        return [SpecError(mark.line + 1, mark.column + 1, "", str(err))], None
    if not isinstance(data, dict):
        return [
            SpecError(1, 1, "", "the spec must be a mapping of sections, starting with `version: v1`")
        ], None
    try:
        spec_file = m.SpecFile.model_validate(data)
    except ValidationError as exc:
        return _errors_from_validation(exc, (), pos) + _section_problems(data, pos), None
    errors = _problems(m.walk_problems(spec_file), pos)
    if errors:
        return errors, None
    spec = resolve(spec_file, "")
    errors = _problems(resolved_problems(spec, spec_file), pos)
    return errors, (None if errors else spec)


def _section_problems(data: dict[str, Any], pos: _Positions) -> list[SpecError]:
    """Cross-field problems of the sections that are valid on their own, when another one is not."""
    out = []
    for name, field in m.SpecFile.model_fields.items():
        if name not in data or field.annotation is None:
            continue
        try:
            section = TypeAdapter(field.annotation).validate_python(data[name], strict=True)
        except ValidationError:
            continue
        out += _problems(m.walk_problems(section, (name,)), pos)
    return out


def _problems(problems: Any, pos: _Positions) -> list[SpecError]:
    return [SpecError(*pos.of(path), dotted(path), message) for path, message in problems]


def default_spec_text() -> str:
    """The spec embedded in the package, used when no `observatory.yaml` exists."""
    return resources.files("observatory.spec").joinpath("default.yaml").read_text(encoding="utf-8")


def load(path: Path | None) -> Spec:
    """The resolved spec from `path`; with None, `observatory.yaml` here or else the embedded default."""
    if path is None:
        path = Path(DEFAULT_SPEC_NAME)
        if not path.exists():
            return parse(default_spec_text(), f"{DEFAULT_SPEC_NAME} (built-in default)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecInvalid([SpecError(1, 1, "", f"cannot read the spec: {err.strerror}", str(path))]) from err
    return parse(text, str(path))
