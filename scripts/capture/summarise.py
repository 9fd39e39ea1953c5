"""Writes tests/corpus/ATTRIBUTES.md: what every captured library emits, attribute by scenario.

Read from the corpus alone (traces.json, logs.json, truth.json), so it is regenerated after every
capture and can be rerun on its own. Per library: each span scope with its span names, kinds and
parents; then one table per scope whose rows are the attribute keys that are not content (content
keys are listed by name only, found where the seeded prompt, completion, tool arguments, embedding
input or PII turned up) and whose columns are the scenarios; then the log events.

Usage: .venv/bin/python scripts/capture/summarise.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

# capture_instrumentation.py owns reading OTLP/JSON; it is a script, so it is imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from capture_instrumentation import CORPUS, LIBRARIES, any_value, records
from scenarios import SCENARIOS

OUT = CORPUS / "ATTRIBUTES.md"
# Values that change with every capture (ports, paths, instance ids): shown as "(varies)".
VARYING = {"server.port", "url.full", "gen_ai.openai.api_base", "exception.stacktrace"}
CELL_CHARS = 48  # longer values are cut, with an ellipsis


def cell(key: str, value: Any) -> str:
    if key in VARYING:
        return "(varies)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    text = text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def content_places(truth: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Span attribute keys, and other places (`log 'event': key`), that held seeded content or PII."""
    keys, places = set(), set()
    for observed in truth["observed"]:
        for name, found in observed.items():
            if not name.startswith(("content.", "pii.")):
                continue
            for place in found:
                where, key = place.rsplit(": ", 1)
                key = key.split(" (")[0]
                if where.startswith("span") and " event " not in where:
                    keys.add(key)
                else:
                    places.add(f"{where.split(' event ')[-1] if ' event ' in where else where}: {key}")
    return keys, places


def spans(traces: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(scope name, span) for every span of a scenario."""
    return [
        (scope["scope"].get("name", ""), span)
        for group in traces.get("resourceSpans", [])
        for scope in group.get("scopeSpans", [])
        for span in scope.get("spans", [])
    ]


def library_section(lib_id: str) -> list[str]:
    root = CORPUS / lib_id
    library = json.loads((root / "library.json").read_text())
    order = list(dict.fromkeys(s.name for group in SCENARIOS.values() for s in group))
    scenarios = sorted(
        (p for p in root.iterdir() if (p / "truth.json").is_file()), key=lambda p: order.index(p.name)
    )
    names = [p.name for p in scenarios]
    table: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    shapes: dict[str, set[str]] = defaultdict(set)
    content: set[str] = set()
    other_content: set[str] = set()
    logs: dict[str, set[str]] = defaultdict(set)
    log_keys: dict[str, set[str]] = defaultdict(set)
    for folder in scenarios:
        truth = json.loads((folder / "truth.json").read_text())
        keys, places = content_places(truth)
        content |= keys
        other_content |= places
        traces = _load(folder / "traces.json")
        names_by_id = {span["spanId"]: repr(span["name"]) for _scope, span in spans(traces)}
        for scope, span in spans(traces):
            parent = names_by_id.get(span.get("parentSpanId", ""), "none")
            shapes[scope].add(f"{span['name']!r} kind={span.get('kind')} parent={parent}")
            row = table[scope]
            row["(span name)"][folder.name] = cell("", span["name"])
            status = span.get("status", {})
            row["(status)"][folder.name] = f"{status.get('code', 0)} {cell('', status.get('message', ''))}"
            events = sorted({e["name"] for e in span.get("events", [])})
            if events:
                row["(events)"][folder.name] = cell("", events)
            for attr in span.get("attributes", []):
                if attr["key"] not in content:
                    row[attr["key"]][folder.name] = cell(attr["key"], any_value(attr.get("value", {})))
            for event in span.get("events", []):
                for attr in event.get("attributes", []):
                    key = f"event {event['name']}: {attr['key']}"
                    row[key][folder.name] = cell(attr["key"], any_value(attr.get("value", {})))
        for where, attrs in records({}, _load(folder / "logs.json")):
            logs[where].add(folder.name)
            log_keys[where] |= set(attrs)
    lines = [f"## {lib_id}", "", f"`{' '.join(library['packages'])}`", ""]
    lines += [f"- content by default: {library['content_default']}", f"- setup: `{library['setup']}`"]
    lines += [f"- env: `{json.dumps(library['env'], sort_keys=True)}`", ""]
    for scope in sorted(table):
        lines += [f"### scope `{scope}`", ""] + [f"- span {s}" for s in sorted(shapes[scope])] + [""]
        lines += ["| attribute | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for key in sorted(table[scope], key=lambda k: (not k.startswith("("), k)):
            values = [table[scope][key].get(n, "") for n in names]
            lines.append(f"| `{key}` | " + " | ".join(values) + " |")
        lines.append("")
    lines += ["### content keys (dropped unless content is kept)", ""]
    lines += [f"- span attribute `{k}`" for k in sorted(content)]
    lines += [f"- `{place}`" for place in sorted(other_content)]
    lines += [] if content or other_content else ["- none"]
    lines += ["", "### log records", ""]
    for where, seen in sorted(logs.items()):
        lines.append(
            f"- {where} in {', '.join(n for n in names if n in seen)}; keys: {sorted(log_keys[where])}"
        )
    lines += [] if logs else ["- none"]
    return [*lines, ""]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def render() -> str:
    head = [
        "<!-- Generated from the corpus by scripts/capture/summarise.py. Do not edit. -->",
        "# What each library emits",
        "",
        "One table per library and instrumentation scope: rows are span attributes (content keys",
        "only by name, further down), columns the scenarios, cells the captured values. `(status)` is",
        "the span status code (0 unset, 1 ok, 2 error) and message. See README.md for the format.",
        "",
    ]
    body = [line for lib in LIBRARIES if (CORPUS / lib.id).is_dir() for line in library_section(lib.id)]
    return "\n".join(head + body).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when ATTRIBUTES.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        stale = not OUT.is_file() or OUT.read_text() != text
        if stale:
            print(f"{OUT} is stale: run .venv/bin/python scripts/capture/summarise.py", file=sys.stderr)
        return 1 if stale else 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(CORPUS.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
