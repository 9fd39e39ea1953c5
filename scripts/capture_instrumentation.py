"""Captures the instrumentation corpus: what real GenAI instrumentation libraries export, per scenario.

For each library in LIBRARIES it builds a throw-away venv under .cache/capture/venvs with the exact
pins, runs scripts/capture/runner.py there (the real openai / anthropic client against a local fake
provider, OTLP kept as sent), and writes tests/corpus/<library>/: per scenario `traces.binpb` and
`logs.binpb` (every OTLP request body of the scenario merged into one Export*ServiceRequest),
`traces.json` and `logs.json` (the same as OTLP/JSON) and `truth.json` (the ground truth, plus where
in the capture each true value was found); per library `library.json` (its table row) and
`requirements.txt` (pip freeze of the venv, used as constraints by the next capture so it resolves
the same transitive versions). Then scripts/capture/summarise.py rewrites tests/corpus/ATTRIBUTES.md.
tests/corpus/README.md describes the format and the libraries.

Not part of `make test`: it needs PyPI. Usage:
    .venv/bin/python scripts/capture_instrumentation.py [--library ID ...] [--refresh-lock] [--list]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory import writer

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "scripts" / "capture" / "runner.py"
SUMMARISE = REPO / "scripts" / "capture" / "summarise.py"
CORPUS = REPO / "tests" / "corpus"
VENVS = REPO / ".cache" / "capture" / "venvs"
RUN_TIMEOUT_SECONDS = 300

# The OpenTelemetry SDK the runner configures for libraries that do not build their own.
OTEL_SDK = (
    "opentelemetry-api==1.45.2",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
)
OPENAI_V2_24 = ("opentelemetry-instrumentation-openai-v2==2.4b0", "opentelemetry-util-genai==0.4b0")
# openlit and traceloop-sdk depend on contrib instrumentations that pin opentelemetry-instrumentation
# exactly, and some of those were released at 0.66b1 only: with them the SDK is 1.45.1, that release's.
OTEL_SDK_1451 = (
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
    "opentelemetry-instrumentation==0.66b1",
)
OPENLIT = ("openlit==1.45.0", "openai==2.54.0", "anthropic==0.125.0", *OTEL_SDK_1451)
# traceloop-sdk imports httpx without declaring it (openai 2.x brought it; openai 3.x uses httpx2).
TRACELOOP = ("traceloop-sdk==0.62.4", "httpx==0.28.1", "openai==3.57.0", *OTEL_SDK_1451)


@dataclass(frozen=True)
class Library:
    """One row of the table: a library, how it is installed and how the runner configures it."""

    id: str
    provider: str  # which provider's scenarios run: openai or anthropic
    setup: str  # the set-up function in runner.py
    packages: tuple[str, ...]  # exact pins, installed together
    env: dict[str, str] = field(default_factory=dict)  # set before the library is imported
    content_default: str = ""  # what the library does with message content when not configured
    notes: str = ""  # pins made around incompatibilities, and why


LIBRARIES: tuple[Library, ...] = (
    Library(
        id="openai-v2-2.4",
        provider="openai",
        setup="openai_v2",
        packages=(*OPENAI_V2_24, "openai==2.54.0", *OTEL_SDK),
        env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
        content_default="off: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT defaults to false",
        notes="util-genai pinned to 0.4b0 (same release train): 1.2b0+ lack util.genai.instruments (import "
        "error) and 1.1b0 forces the experimental path; openai 2.x because 2.4b0 imports httpx, which "
        "openai 3.x replaced with httpx2",
    ),
    Library(
        id="openai-v2-2.4-latest",
        provider="openai",
        setup="openai_v2",
        packages=(*OPENAI_V2_24, "openai==2.54.0", *OTEL_SDK),
        env={
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
        },
        content_default="off: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT defaults to NO_CONTENT",
        notes="the same install as openai-v2-2.4, opted into the latest experimental GenAI conventions",
    ),
    Library(
        id="openai-v2-2.3",
        provider="openai",
        setup="openai_v2",
        packages=(
            "opentelemetry-instrumentation-openai-v2==2.3b0",
            "wrapt==1.17.3",
            "openai==2.54.0",
            *OTEL_SDK,
        ),
        env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
        content_default="off: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT defaults to false",
        notes="wrapt 1.x: 2.3b0 calls wrap_function_wrapper(module=...), which wrapt 2 renamed; "
        "openai 2.x, as for 2.4b0",
    ),
    Library(
        id="openllmetry-openai",
        provider="openai",
        setup="openllmetry",
        packages=("opentelemetry-instrumentation-openai==0.62.4", "openai==3.57.0", *OTEL_SDK),
        env={"TRACELOOP_TRACE_CONTENT": "true"},
        content_default="on: TRACELOOP_TRACE_CONTENT defaults to true",
    ),
    Library(
        id="openllmetry-anthropic",
        provider="anthropic",
        setup="openllmetry",
        packages=("opentelemetry-instrumentation-anthropic==0.62.4", "anthropic==2.14.0", *OTEL_SDK),
        env={"TRACELOOP_TRACE_CONTENT": "true"},
        content_default="on: TRACELOOP_TRACE_CONTENT defaults to true",
    ),
    Library(
        id="openinference-openai",
        provider="openai",
        setup="openinference",
        packages=(
            "openinference-instrumentation-openai==0.1.66",
            "openinference-instrumentation==0.1.72",
            "openinference-semantic-conventions==0.1.42",
            "openai==3.57.0",
            *OTEL_SDK,
        ),
        content_default="on: every OPENINFERENCE_HIDE_* setting defaults to false",
    ),
    Library(
        id="openinference-anthropic",
        provider="anthropic",
        setup="openinference",
        packages=(
            "openinference-instrumentation-anthropic==3.1.0",
            "openinference-instrumentation==0.1.72",
            "openinference-semantic-conventions==0.1.42",
            "anthropic==2.14.0",
            *OTEL_SDK,
        ),
        content_default="on: every OPENINFERENCE_HIDE_* setting defaults to false",
    ),
    Library(
        id="anthropic-sdk",
        provider="anthropic",
        setup="sdk",
        packages=("anthropic==2.14.0", *OTEL_SDK),
        env={"ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE": "content"},
        content_default="off: ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE defaults to metadata_only",
        notes="no instrumentation library: the anthropic SDK (1.14.0 and later) traces its own calls "
        "whenever a global TracerProvider is set (ANTHROPIC_OPEN_TELEMETRY=false turns it off), so these "
        "spans also appear beside every Anthropic library's own span",
    ),
    Library(
        id="openlit-openai",
        provider="openai",
        setup="openlit",
        packages=OPENLIT,
        content_default="on: openlit.init(capture_message_content=True) is the default",
        notes="openlit 1.45.0 requires openai<3 and anthropic<1; `pip install openlit` alone fails "
        "(ResolutionImpossible) until the SDK is pinned to 1.45.1 / instrumentation 0.66b1",
    ),
    Library(
        id="openlit-anthropic",
        provider="anthropic",
        setup="openlit",
        packages=OPENLIT,
        content_default="on: openlit.init(capture_message_content=True) is the default",
        notes="openlit 1.45.0 requires openai<3 and anthropic<1; `pip install openlit` alone fails "
        "(ResolutionImpossible) until the SDK is pinned to 1.45.1 / instrumentation 0.66b1",
    ),
    Library(
        id="traceloop-openai",
        provider="openai",
        setup="traceloop",
        packages=TRACELOOP,
        env={"TRACELOOP_TRACE_CONTENT": "true"},
        content_default="on: TRACELOOP_TRACE_CONTENT defaults to true",
        notes="OpenLLMetry through Traceloop.init, the set-up its docs lead with (association properties); "
        "SDK 1.45.1 as for openlit; httpx pinned because traceloop-sdk imports it undeclared",
    ),
    Library(
        id="langchain-openllmetry",
        provider="openai",
        setup="traceloop",
        packages=("langchain==1.5.2", "langchain-openai==1.7.4", "langchain-core==1.8.3", *TRACELOOP),
        env={"TRACELOOP_TRACE_CONTENT": "true"},
        content_default="on: TRACELOOP_TRACE_CONTENT defaults to true",
        notes="LangChain ChatOpenAI / OpenAIEmbeddings traced by Traceloop.init with the LangChain and "
        "OpenAI instrumentations; embeddings with check_embedding_ctx_length=False (tiktoken would "
        "download its encodings); langchain-core 1.8.3 because 1.8.4 needs a langchain-protocol "
        "the index does not have; `langchain` itself is installed because Traceloop.init turns the "
        "LangChain instrumentation on only when langchain or langgraph is installed",
    ),
)


def venv_for(lib: Library) -> Path:
    """Libraries with the same pins share a venv (named after the first of them)."""
    first = next(other for other in LIBRARIES if other.packages == lib.packages)
    return VENVS / first.id


def constraints_for(lib: Library) -> list[str]:
    """The last capture's freeze, minus the packages the table pins (the table wins)."""
    lock = CORPUS / lib.id / "requirements.txt"
    if not lock.is_file():
        return []
    pinned = {re.split(r"[=<>!~\[]", p, maxsplit=1)[0].lower() for p in lib.packages}
    lines = [ln for ln in lock.read_text().splitlines() if ln and not ln.startswith("#")]
    return [ln for ln in lines if ln.split("==")[0].lower() not in pinned]


def ensure_venv(lib: Library, constraints: list[str]) -> Path:
    """The venv's python, installed with exactly these pins (reinstalled when they change)."""
    venv = venv_for(lib)
    python = venv / "bin" / "python"
    wanted = "\n".join([*lib.packages, "--", *constraints]) + "\n"
    marker = venv / "capture-pins.txt"
    if python.exists() and marker.is_file() and marker.read_text() == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(constraints) + "\n")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *lib.packages]
    print(f"{lib.id}: pip install {' '.join(lib.packages)}", flush=True)
    subprocess.run([*pip, "-c", handle.name] if constraints else pip, check=True)
    marker.write_text(wanted)
    return python


def freeze(python: Path) -> str:
    out = subprocess.run([str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True)
    header = "# pip freeze of the capture venv; the next capture installs with these as constraints\n"
    return header + "".join(f"{ln}\n" for ln in sorted(out.stdout.splitlines(), key=str.lower))


# --- OTLP: merge the request bodies of a scenario, and write OTLP/JSON --------------------------------


# Field names of the two request types: resource groups, scope groups, records.
FIELDS = {
    ExportTraceServiceRequest: ("resource_spans", "scope_spans", "spans"),
    ExportLogsServiceRequest: ("resource_logs", "scope_logs", "log_records"),
}


def _key(group: Any, part: str) -> bytes:
    """Identity of a resource or scope group: its resource or scope, and its schema URL."""
    serialized: bytes = getattr(group, part).SerializeToString(deterministic=True)
    return serialized + str(group.schema_url).encode()


def merged(bodies: list[bytes], message_type: type[Message]) -> Message:
    """One request holding every body's records, grouped by resource and scope in arrival order."""
    resource_field, scope_field, record_field = FIELDS[message_type]
    out = message_type()
    groups: dict[tuple[bytes, ...], Any] = {}
    for body in bodies:
        request = message_type()
        request.ParseFromString(body)
        for resource_group in getattr(request, resource_field):
            rkey = (_key(resource_group, "resource"),)
            if rkey not in groups:
                groups[rkey] = getattr(out, resource_field).add(
                    resource=resource_group.resource, schema_url=resource_group.schema_url
                )
            for scope_group in getattr(resource_group, scope_field):
                skey = (*rkey, _key(scope_group, "scope"))
                if skey not in groups:
                    groups[skey] = getattr(groups[rkey], scope_field).add(
                        scope=scope_group.scope, schema_url=scope_group.schema_url
                    )
                getattr(groups[skey], record_field).extend(getattr(scope_group, record_field))
    return out


ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping writes base64."""
    if isinstance(node, dict):
        return {k: (_b64_to_hex(v) if k in ID_KEYS else _hex_ids(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def _b64_to_hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def otlp_json(message: Message) -> dict[str, Any]:
    return _hex_ids(json_format.MessageToDict(message, use_integers_for_enums=True))  # type: ignore[no-any-return]


def dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- where each true value turned up in the capture ----------------------------------------------------


def any_value(value: dict[str, Any]) -> Any:
    """An OTLP/JSON AnyValue as a Python value."""
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: any_value(kv.get("value", {})) for kv in value["kvlistValue"].get("values", [])}
    if "intValue" in value:
        return int(value["intValue"])
    return next(iter(value.values()), None)


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    """Nested maps and lists as dotted keys (`body.message.content`), so a log body reads like attributes."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(f"{prefix}.{key}", item).items()}
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return {k: v for i, item in enumerate(value) for k, v in _flat(f"{prefix}.{i}", item).items()}
    return {prefix: value}


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Attributes by key; a structured value (some libraries log messages as maps) flattened."""
    return {k: v for a in items for k, v in _flat(a["key"], any_value(a.get("value", {}))).items()}


def records(traces: dict[str, Any], logs: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every span, span event and log record as (where, flat attributes)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for group in traces.get("resourceSpans", []):
        for scope in group.get("scopeSpans", []):
            for span in scope.get("spans", []):
                found.append((f"span {span['name']!r}", _attrs(span.get("attributes", []))))
                for event in span.get("events", []):
                    where = f"span {span['name']!r} event {event['name']!r}"
                    found.append((where, _attrs(event.get("attributes", []))))
    for group in logs.get("resourceLogs", []):
        for scope in group.get("scopeLogs", []):
            for record in scope.get("logRecords", []):
                flat = _attrs(record.get("attributes", []))
                if "body" in record:
                    flat |= _flat("body", any_value(record["body"]))
                found.append((f"log {record.get('eventName', '')!r}", flat))
    return found


def _equal(want: Any) -> Any:
    def match(value: Any) -> str | None:
        if value == want or (isinstance(value, list) and want in value):
            return ""
        if isinstance(want, str) and isinstance(value, str) and value.lower() == want.lower():
            return " (other case)"
        if (
            isinstance(want, str)
            and isinstance(value, str)
            and value.startswith(("{", "["))
            and want in value
        ):
            return " (inside a JSON string)"
        return None

    return match


def _contains(want: str) -> Any:
    def match(value: Any) -> str | None:
        return "" if isinstance(value, str) and want in value else None

    return match


def observe(request: dict[str, Any], found: list[tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    """For each true value of a request, the `where: key` places the library wrote it."""
    usage = request["usage"] or {}
    wanted: dict[str, Any] = {
        "provider": _equal(request["provider"]),
        "request_model": _equal(request["request_model"]),
        "response_model": _equal(request["response_model"]) if request["response_model"] else None,
        "http_status": _equal(request["http_status"]) if request["error"] != "none" else None,
        "user_id_request": _contains(request["user_id_request"]) if request["user_id_request"] else None,
        "user_id_context": _contains(request["user_id_context"]) if request["user_id_context"] else None,
    }
    for kind, count in usage.items():
        wanted[f"usage.{kind}"] = _equal(count) if count else None
    raw = (request["provider_usage"] or {}).get("input_tokens")
    if raw is not None and raw != usage.get("input"):
        wanted["provider_usage.input_tokens"] = _equal(raw)  # Anthropic's input without the cached part
    for i, reason in enumerate(request["finish_reasons"]):
        wanted[f"finish_reasons.{i}"] = _equal(reason)
    for name, text in request["content_seeded"].items():
        wanted[f"content.{name}"] = _contains(text)
    for pii in request["pii_seeded"]:
        wanted[f"pii.{pii}"] = _contains(pii)
    observed: dict[str, list[str]] = {}
    for name, match in wanted.items():
        if match is None:
            continue
        places = set()
        for where, attrs in found:
            for key, value in attrs.items():
                how = match(value)
                if how is not None:
                    places.add(f"{where}: {key}{how}")
        observed[name] = sorted(places)
    return observed


# --- capture one library ---------------------------------------------------------------------------------


def scenario_files(folder: Path, prefix: str) -> dict[str, bytes]:
    """The corpus files of one scenario, from the runner's raw request bodies and truth."""
    files: dict[str, bytes] = {}
    docs: dict[str, dict[str, Any]] = {"traces": {}, "logs": {}}
    for signal, message_type in (("traces", ExportTraceServiceRequest), ("logs", ExportLogsServiceRequest)):
        bodies = [p.read_bytes() for p in sorted(folder.glob(f"{signal}-*.binpb"))]
        if not bodies:
            continue
        message = merged(bodies, message_type)
        docs[signal] = otlp_json(message)
        files[f"{prefix}/{signal}.binpb"] = message.SerializeToString(deterministic=True)
        files[f"{prefix}/{signal}.json"] = dumps(docs[signal])
    truth = json.loads((folder / "truth.json").read_text())
    found = records(docs["traces"], docs["logs"])
    truth["observed"] = [observe(request, found) for request in truth["requests"]]
    truth["observed_note"] = (
        "observed[i] lists, for each true value of requests[i], where the capture holds it "
        "(found by value, so a coincidentally equal number can show up too)"
    )
    files[f"{prefix}/truth.json"] = dumps(truth)
    return files


def capture(lib: Library, refresh_lock: bool) -> writer.SyncReport:
    python = ensure_venv(lib, [] if refresh_lock else constraints_for(lib))
    with tempfile.TemporaryDirectory(prefix=f"capture-{lib.id}-") as tmp:
        config = Path(tmp) / "library.json"
        runner_fields = {"id", "provider", "setup", "env", "content_default"}
        config.write_text(json.dumps({k: v for k, v in asdict(lib).items() if k in runner_fields}))
        raw = Path(tmp) / "raw"
        command = [str(python), str(RUNNER), "--config", str(config), "--out", str(raw)]
        subprocess.run(command, check=True, cwd=REPO, timeout=RUN_TIMEOUT_SECONDS)
        files = {
            f"{lib.id}/library.json": dumps(asdict(lib)),
            f"{lib.id}/requirements.txt": freeze(python).encode(),
        }
        for folder in sorted(p for p in raw.iterdir() if p.is_dir()):
            files |= scenario_files(folder, f"{lib.id}/{folder.name}")
    return writer.sync(CORPUS, files, owned=(lib.id,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", action="append", choices=[lib.id for lib in LIBRARIES])
    parser.add_argument("--refresh-lock", action="store_true", help="ignore requirements.txt constraints")
    parser.add_argument("--list", action="store_true", help="print the library table and exit")
    args = parser.parse_args()
    chosen = [lib for lib in LIBRARIES if not args.library or lib.id in args.library]
    if args.list:
        for lib in chosen:
            print(f"{lib.id}: {' '.join(lib.packages)}")
        return 0
    failed: list[str] = []
    for lib in chosen:  # one at a time: pip and the runner each keep a core busy
        try:
            report = capture(lib, args.refresh_lock)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            failed.append(f"{lib.id}: {error}")
            continue
        print(f"{lib.id}: {report.summary()}", flush=True)
    for line in failed:
        print(f"capture failed: {line}", file=sys.stderr)
    subprocess.run([sys.executable, str(SUMMARISE)], check=True)  # ATTRIBUTES.md follows the corpus
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
