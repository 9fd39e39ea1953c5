"""The Python distro (sdk/python) on a real application: the real `openai` and `anthropic` clients
against the capture corpus's fake provider, instrumented both ways a user would (`init()` in code,
and `opentelemetry-instrument` with the environment), in the venv `make sdk` builds from the
repository with the pinned extras.

First into an OTLP endpoint owned by the test, which keeps exactly what the application sent: the
resource, one GenAI span per call with the user of its own thread or task, no message content, W3C
trace context and baggage, and nothing raised or held up while the collector is unreachable. Then
into the local stack (`observatory local up`: collector, ingester, PostgreSQL, Prometheus): the rows
and the metrics carry the application, team and environment, and the rows the user's keyed hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from observatory import names
from observatory.local import env_file, stack
from observatory.local import postgres as local_pg
from observatory.spec import load
from tests.conftest import REPO, collector_binary, missing_tool, poll_until, require_tool
from tests.otlp_capture import OtlpCapture

SDK_VENV = REPO / ".cache" / "sdk-venv"
APP = REPO / "sdk" / "python" / "tests" / "sample_app.py"
RESOURCE = {"application": "sdk-sample", "team": "sdk-team", "environment": "sdk-test"}
# Strings the sample application sends to the provider or gets back; none may leave it.
CONTENT = ("You are a terse assistant", "Say hello.", "How can I help")
EXIT_FLUSH_SECONDS = 3.0  # observatory_sdk._setup.EXIT_FLUSH_SECONDS
PROVIDER_SDK_SCOPE = "com.anthropic.sdk.python"


def sdk_python() -> Path:
    """The SDK venv's python, built by `make sdk` from the current sdk/python (skip, or fail in CI)."""
    python = SDK_VENV / "bin" / "python"
    current = subprocess.run(
        [str(REPO / "scripts/sdk-venv.sh"), "--stamp"], capture_output=True, text=True, check=True
    ).stdout.strip()
    stamp = SDK_VENV / ".stamp"
    if not python.exists() or not stamp.exists() or stamp.read_text().strip() != current:
        missing_tool("the SDK venv is not built from the current sdk/python (make sdk builds it)")
    return python


@dataclass
class Run:
    manifest: dict[str, Any]
    stderr: str
    exit_seconds: float  # from the application's last line to the end of the process


def run_app(how: str, endpoint: str, tag: str, *, resource: bool = True, extra: tuple[str, ...] = ()) -> Run:
    """The sample application instrumented by `init()` or by `opentelemetry-instrument`."""
    python = sdk_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    argv = [str(python), str(APP), "--tag", tag, *extra]
    if how == "init":
        argv.insert(2, "--init")
        if resource:
            argv += [f"--{key}={value}" for key, value in RESOURCE.items()]
    else:
        argv = [str(python.parent / "opentelemetry-instrument"), *argv]
        if resource:
            env["OTEL_SERVICE_NAME"] = RESOURCE["application"]
            env["OTEL_RESOURCE_ATTRIBUTES"] = (
                f"team={RESOURCE['team']},deployment.environment.name={RESOURCE['environment']}"
            )
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    ended = time.time()
    assert result.returncode == 0, f"the sample application failed:\n{result.stderr[-3000:]}"
    manifest = json.loads(result.stdout.strip().splitlines()[-1])
    return Run(manifest, result.stderr, ended - manifest["finished_at"])


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value")) if any_value.WhichOneof("value") else None


def _spans(capture: OtlpCapture) -> list[dict[str, Any]]:
    out = []
    for request in capture.traces:
        for rs in request.resource_spans:
            res = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {kv.key: _value(kv.value) for kv in span.attributes}
                    out.append(
                        {
                            "scope": ss.scope.name,
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "attrs": attrs,
                            "resource": res,
                        }
                    )
    return out


def _provider(span: dict[str, Any]) -> str | None:
    a = span["attrs"]
    return a.get("gen_ai.system") or a.get("gen_ai.provider.name") or a.get("llm.provider")


@pytest.fixture
def capture() -> Iterator[tuple[OtlpCapture, str]]:
    receiver = OtlpCapture()
    try:
        yield receiver, receiver.url
    finally:
        receiver.close()


@pytest.mark.parametrize("how", ["init", "opentelemetry-instrument"])
def test_each_llm_call_is_one_genai_span_with_the_resource_its_own_user_and_no_content(
    capture: tuple[OtlpCapture, str], how: str
) -> None:
    receiver, url = capture
    run = run_app(how, url, "u")
    calls = run.manifest["calls"]
    want = Counter((c["provider"], c["user"]) for c in calls)
    poll_until(
        lambda: sum(1 for s in _spans(receiver) if _provider(s)) >= len(calls),
        f"{len(calls)} GenAI spans at the test's OTLP endpoint",
        10,
    )
    spans = _spans(receiver)
    llm = [s for s in spans if _provider(s)]
    assert Counter((_provider(s), s["attrs"].get("user.id")) for s in llm) == want
    assert {s["scope"] for s in llm} == {
        "opentelemetry.instrumentation.openai_v2",
        "openinference.instrumentation.anthropic",
    }
    assert not [s for s in spans if s["scope"] == PROVIDER_SDK_SCOPE], "the anthropic client's own spans"
    for span in spans:
        assert span["resource"]["service.name"] == RESOURCE["application"]
        assert span["resource"]["team"] == RESOURCE["team"]
        assert span["resource"]["deployment.environment.name"] == RESOURCE["environment"]
    assert "LLM Observatory: the resource lacks" not in run.stderr
    for text in CONTENT:  # message content stays in the application unless asked for
        assert not [body for body in receiver.raw if text.encode() in body], f"{text!r} was exported"
    # Downstream services get the trace and the user: W3C trace context and baggage.
    version, trace_id, span_id, flags = run.manifest["carrier"]["traceparent"].split("-")
    assert (version, len(trace_id), len(span_id)) == ("00", 32, 16), run.manifest["carrier"]
    assert int(flags, 16) & 1, f"not sampled: {run.manifest['carrier']}"  # bit 0: sampled
    assert run.manifest["carrier"]["baggage"] == "user.id=u-downstream"


def test_message_content_is_exported_when_asked_for(capture: tuple[OtlpCapture, str]) -> None:
    # The other side of "no content unless asked": the switch reaches both instrumentations
    # (OpenInference writes it on spans, openai-v2 as log records through the distro's logger provider).
    receiver, url = capture
    run_app("init", url, "k", extra=("--capture-content",))
    poll_until(lambda: receiver.logs, "log records at the test's OTLP endpoint", 10)
    spans = b"".join(r.SerializeToString() for r in receiver.traces)
    logs = b"".join(r.SerializeToString() for r in receiver.logs)
    assert CONTENT[1].encode() in spans, "the Anthropic spans lack the prompt"
    assert CONTENT[1].encode() in logs, "the OpenAI log records lack the prompt"


def _records(capture: OtlpCapture) -> list[dict[str, Any]]:
    out = []
    for request in capture.logs:
        for rl in request.resource_logs:
            res = {kv.key: _value(kv.value) for kv in rl.resource.attributes}
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    attrs = {kv.key: _value(kv.value) for kv in record.attributes}
                    out.append(
                        {
                            "event_name": record.event_name,
                            "trace_id": record.trace_id.hex(),
                            "span_id": record.span_id.hex(),
                            "attrs": attrs,
                            "resource": res,
                        }
                    )
    return out


@pytest.mark.parametrize("how", ["init", "opentelemetry-instrument"])
def test_feedback_is_the_genai_evaluation_event_on_the_rated_trace_with_the_rating_user(
    capture: tuple[OtlpCapture, str], how: str
) -> None:
    receiver, url = capture
    run = run_app(how, url, "f", extra=("--feedback",))
    ratings = run.manifest["ratings"]
    poll_until(lambda: len(_records(receiver)) >= len(ratings), "the ratings at the test's OTLP endpoint", 10)
    records = _records(receiver)
    assert len(records) == len(ratings), records
    rated_traces = {
        s["trace_id"] for s in _spans(receiver) if _provider(s) and s["attrs"].get("user.id") == "f-rater"
    }
    for want, got in zip(ratings, records, strict=True):
        assert got["event_name"] == "gen_ai.evaluation.result"
        assert got["trace_id"] == want["trace_id"] and want["trace_id"] in rated_traces
        assert got["span_id"] in ("", "0" * 16), "a trace's rating names no span"
        expected = {
            "gen_ai.evaluation.name": "user_feedback",
            "gen_ai.evaluation.score.value": want["score"],
            "user.id": want["user"],
        }
        if want["label"]:
            expected["gen_ai.evaluation.score.label"] = want["label"]
        if want["comment"]:
            expected["gen_ai.evaluation.explanation"] = want["comment"]
        assert got["attrs"] == expected
        assert got["resource"]["service.name"] == RESOURCE["application"]


@pytest.mark.parametrize("collector", ["refusing connections", "accepting and never answering"])
def test_feedback_refuses_what_it_cannot_send_in_the_caller_and_never_raises_for_the_collector(
    collector: str,
) -> None:
    # Bad arguments raise at once (a bug in the caller); an unreachable collector never does.
    script = """
import observatory_sdk
from opentelemetry import trace
observatory_sdk.init(application="a", team="t", environment="e")
errors = []
for kwargs in ({"score": "good"}, {"score": float("nan")}, {"score": 1, "trace_id": "xyz"},
               {"score": 1, "trace_id": "0" * 32}, {"score": 1, "span_id": "00f067aa0ba902b7"},
               {"score": 1, "comment": 5}, {"score": 1}):
    try:
        observatory_sdk.feedback(**kwargs)
    except (TypeError, ValueError) as err:
        errors.append(type(err).__name__ + ": " + str(err))
with trace.get_tracer("t").start_as_current_span("answer"):
    observatory_sdk.feedback(False, "meh")
observatory_sdk.feedback(4, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")
for e in errors:
    print(e)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    hole = Blackhole() if collector.startswith("accepting") else None
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = hole.url if hole else _closed_port_url()
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(sdk_python()), "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        if hole:
            hole.close()
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 15
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "TypeError: feedback(): score must be a bool (thumbs) or a number, not str",
        "ValueError: feedback(): score must be finite, not nan",
        "ValueError: feedback(): trace_id 'xyz' is not 32 hex digits",
        f"ValueError: feedback(): trace_id '{'0' * 32}' is not a valid id (zero or too large)",
        "ValueError: feedback(): span_id needs the trace_id it belongs to",
        "TypeError: feedback(): comment must be a string, not int",
        "ValueError: feedback(): no trace to rate: call it inside the traced request, or pass the "
        "trace_id that observatory_sdk.current_trace_id() gave then",
    ]


@pytest.mark.parametrize("how", ["init", "opentelemetry-instrument"])
def test_start_up_names_the_resource_attributes_the_stack_needs_and_lacks(
    capture: tuple[OtlpCapture, str], how: str
) -> None:
    _, url = capture
    stderr = run_app(how, url, "m", resource=False).stderr
    line = next((x for x in stderr.splitlines() if "LLM Observatory: the resource lacks" in x), "")
    for attribute in ("service.name", "team", "deployment.environment.name"):
        assert attribute in line, f"the warning does not name {attribute}: {stderr[-2000:]}"


class Blackhole:
    """A collector that accepts connections and never answers (a hung or overloaded one)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _closed_port_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once this is closed


@pytest.mark.parametrize("collector", ["refusing connections", "accepting and never answering"])
def test_an_unreachable_collector_neither_raises_into_the_application_nor_holds_it_up(collector: str) -> None:
    hole = Blackhole() if collector.startswith("accepting") else None
    try:
        url = hole.url if hole else _closed_port_url()
        run = run_app("init", url, "d", extra=("--extra-spans", "20000"))
    finally:
        if hole:
            hole.close()
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert len(run.manifest["calls"]) == 21
    # 21 calls take about a second here; an export in the application's thread would add the
    # exporter's 10 s timeout (or its retries) to them.
    assert run.manifest["calls_seconds"] < 8, run.manifest
    # The exit waits for the last export at most EXIT_FLUSH_SECONDS.
    assert run.exit_seconds < EXIT_FLUSH_SECONDS + 2, run.exit_seconds
    # 20,000 spans that cannot leave: the batch queue keeps at most 2,048 (about 2 KB each).
    assert run.manifest["extra_spans_rss_growth_kb"] < 16_000, run.manifest


SUPERSEDED_CHECK = """
import json, sys
from importlib.metadata import EntryPoint
from observatory_sdk import _instrument
preferred = ["opentelemetry.instrumentation.openai_v2", "openinference.instrumentation.anthropic"]
def ep(value):
    return EntryPoint(name="x", value=value + ":Instrumentor", group=_instrument.GROUP)
print(json.dumps({v: _instrument.superseded(ep(v), preferred) for v in sys.argv[1:]}))
"""


def test_a_second_library_for_an_instrumented_client_is_not_loaded_beside_the_preferred_one() -> None:
    # Two instrumentations of one client would make each call two LLM spans, counted twice.
    modules = [
        "opentelemetry.instrumentation.openai",  # OpenLLMetry's OpenAI: openai-v2 is there
        "openinference.instrumentation.openai",
        "opentelemetry.instrumentation.anthropic",  # OpenLLMetry's Anthropic: OpenInference's is there
        "openinference.instrumentation.langchain",  # LangChain's preferred library is absent here
        "opentelemetry.instrumentation.openai_v2",  # the preferred ones themselves
        "opentelemetry.instrumentation.requests",  # not a GenAI instrumentation
    ]
    out = subprocess.run(
        [str(sdk_python()), "-c", SUPERSEDED_CHECK, *modules], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == dict(zip(modules, [True, True, True, False, False, False], strict=True))


def test_init_under_opentelemetry_instrument_keeps_the_one_pipeline(capture: tuple[OtlpCapture, str]) -> None:
    receiver, url = capture
    run = run_app("opentelemetry-instrument", url, "b", extra=("--init",))
    assert "already set up" in run.stderr
    poll_until(
        lambda: sum(1 for s in _spans(receiver) if _provider(s)) >= len(run.manifest["calls"]),
        "every call's GenAI span, exported once, through the first pipeline",
        10,
    )
    assert sum(1 for s in _spans(receiver) if _provider(s)) == len(run.manifest["calls"])


# --- Into the real local stack.


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # What `observatory local up` starts (as tests/processes/test_e2e_local.py requires it).
    collector_binary()
    require_tool("prometheus")
    require_tool("prometheus-alertmanager")
    if not local_pg.available():
        require_tool("initdb")
    sdk_python()
    state_dir = tmp_path_factory.mktemp("sdk-local-stack")
    state = stack.up(
        REPO, load(REPO / "observatory.yaml"), state_dir, out=io.StringIO(), env_file=state_dir / ".env"
    )
    try:
        state["hash_key"] = env_file.read(state_dir / ".env")[names.ENV_USER_ID_HASH_KEY]
        yield state
    finally:
        stack.down(state_dir)


def test_rows_and_metrics_carry_application_team_environment_and_the_hashed_user(
    local_stack: dict[str, Any],
) -> None:
    key = local_stack["hash_key"]
    calls = []
    for how, tag in (("init", "si"), ("opentelemetry-instrument", "sx")):
        calls += run_app(how, local_stack["urls"]["otlp_http"], tag).manifest["calls"]
    want = Counter(
        (c["provider"], hashlib.sha256(f"{key}:{c['user']}".encode()).hexdigest() if c["user"] else None)
        for c in calls
    )
    query = f"SELECT provider, user_id, application, team, environment FROM {names.TABLE_REQUESTS}"
    with psycopg.connect(local_stack["database_url"], autocommit=True) as conn:
        poll_until(
            lambda: len(conn.execute(query).fetchall()) >= len(calls),
            f"{len(calls)} rows in {names.TABLE_REQUESTS}",
            60,
        )
        rows = conn.execute(query).fetchall()
    assert Counter((r[0], r[1]) for r in rows) == want
    assert {r[2:] for r in rows} == {(RESOURCE["application"], RESOURCE["team"], RESOURCE["environment"])}
    # Requests by application and environment; team is a label of the cost counter (team budgets).
    requests_by = f"sum by (application, environment) ({names.METRIC_REQUESTS})"
    cost_by = f"sum by (application, team) ({names.METRIC_COST}) > 0"
    url = f"{local_stack['urls']['prometheus']}/api/v1/query"

    def series(promql: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
        result = requests.get(url, params={"query": promql}, timeout=5).json()["data"]["result"]
        return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}

    def counted() -> bool:
        got = series(requests_by, ("application", "environment"))
        assert got == {(RESOURCE["application"], RESOURCE["environment"]): float(len(calls))}, got
        costs = series(cost_by, ("application", "team"))
        assert set(costs) == {(RESOURCE["application"], RESOURCE["team"])}, costs
        return True

    poll_until(counted, f"{requests_by} = {len(calls)} and {cost_by} for the team in Prometheus", 90)


def test_ratings_reach_the_store_through_the_collector_joined_to_the_answer_they_rate(
    local_stack: dict[str, Any],
) -> None:
    # After the test above (its counts are of its own calls): the ratings' rows, hashed and redacted.
    key = local_stack["hash_key"]
    run = run_app("init", local_stack["urls"]["otlp_http"], "fb", extra=("--feedback",))
    ratings = {r["trace_id"]: r for r in run.manifest["ratings"]}
    query = (
        f"SELECT f.trace_id, f.score, f.label, f.comment, f.rater_id, f.source, f.request_span_id,"
        f" f.application, f.team, f.user_id, f.request_model, f.duration_ms,"
        f" (SELECT r.span_id FROM {names.TABLE_REQUESTS} r WHERE r.trace_id = f.trace_id"
        f"  ORDER BY r.time + r.duration_ms * INTERVAL '1 millisecond' DESC LIMIT 1),"
        f" (SELECT count(*) FROM {names.TABLE_REQUESTS} r WHERE r.trace_id = f.trace_id)"
        f" FROM {names.TABLE_FEEDBACK} f WHERE f.trace_id = ANY(%s) AND f.request_span_id IS NOT NULL"
    )
    with psycopg.connect(local_stack["database_url"], autocommit=True) as conn:
        poll_until(
            lambda: len(conn.execute(query, (list(ratings),)).fetchall()) == len(ratings),
            f"{len(ratings)} ratings joined to their requests in {names.TABLE_FEEDBACK}",
            60,
        )
        rows = conn.execute(query, (list(ratings),)).fetchall()
    hashed = hashlib.sha256(f"{key}:{run.manifest['ratings'][0]['user']}".encode()).hexdigest()
    for trace_id, score, label, comment, rater, source, rated, app, team, user, model, ms, last, _n in rows:
        want = ratings[trace_id]
        assert (score, label) == (want["score"], want["label"])
        # The comment is redacted like every other text: the address in it never reaches the store.
        assert comment == (
            want["comment"].replace("jane.doe@example.com", "<email>") if want["comment"] else None
        )
        assert rater == user == hashed, "the rating user and the answered user, both hashed"
        assert (source, app, team) == (RESOURCE["application"], RESOURCE["application"], RESOURCE["team"])
        assert rated == last, "a trace's rating joins its request that ended last"
        assert model and ms > 0
    assert sorted(n for *_, n in rows) == [1, 2]
