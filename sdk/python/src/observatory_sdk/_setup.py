"""The OpenTelemetry SDK as LLM Observatory wants it: resource, sampler, propagators, exporter.

One function, `setup`, used by both `init()` and the `opentelemetry-instrument` configurator, so an
application gets the same pipeline either way:

- resource: `service.name` (the stack's application), `team`, `deployment.environment.name`, from the
  arguments, else OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; a warning names what is missing;
- sampler: parent-based always-on (the collector tail-samples; a span dropped here is a request the
  stack never counts), unless OTEL_TRACES_SAMPLER says otherwise;
- propagators: W3C trace context and baggage (baggage carries the end user), unless OTEL_PROPAGATORS;
- export: OTLP/HTTP protobuf to http://localhost:4318 (where `observatory local up` and compose publish
  the collector), everything OTEL_EXPORTER_OTLP_* says honoured by the exporter itself, and
  OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER `console` or `none`; a batch processor with a bounded
  queue, so a collector that is down or slow costs dropped spans, never a blocked or failing
  application;
- log records (user feedback, `observatory_sdk.feedback`; content when captured) through a pipeline
  bounded the same way, to /v1/logs of the same collector.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import _instrument
from ._names import (
    DEPLOYMENT_ENVIRONMENT,
    DEPLOYMENT_ENVIRONMENT_LEGACY,
    REQUIRED_RESOURCE,
    SERVICE_NAME,
    TEAM,
)
from ._user import UserSpanProcessor

_log = logging.getLogger("observatory_sdk")

# Bounds of the batch processor: at most this many finished spans wait in memory (about 2 KB each for
# an LLM span without content, so a few MB), the rest are dropped while the collector is unreachable.
MAX_QUEUE_SIZE = 2048
MAX_EXPORT_BATCH_SIZE = 512
SCHEDULE_DELAY_MILLIS = 1000  # a finished call reaches the collector within about a second
# At exit, what is queued gets this long to reach the collector. The exporter alone would retry an
# unreachable collector for its whole timeout (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s) and hold up the exit.
EXIT_FLUSH_SECONDS = 3.0


@dataclass
class Setup:
    """What `setup` built, for `shutdown()` and the tests."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider  # user feedback; prompts and completions too when content is captured
    resource: Resource
    missing: list[str]
    instrumented: list[str] = field(default_factory=list)


def resource(application: str | None, team: str | None, environment: str | None) -> Resource:
    """Arguments win over OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which Resource.create reads."""
    given: dict[str, Any] = {}
    if application:
        given[SERVICE_NAME] = application
    if team:
        given[TEAM] = team
    if environment:
        given[DEPLOYMENT_ENVIRONMENT] = environment
    built = Resource.create(given)
    legacy = built.attributes.get(DEPLOYMENT_ENVIRONMENT_LEGACY)
    if DEPLOYMENT_ENVIRONMENT not in built.attributes and legacy:
        built = built.merge(Resource({DEPLOYMENT_ENVIRONMENT: legacy}))
    return built


def missing_attributes(res: Resource) -> list[str]:
    """The resource attributes the stack groups by that `res` lacks (the SDK's `unknown_service`
    placeholder counts as missing), each as `<attribute> (<init() argument>: <why>)`."""
    out = []
    for attribute, argument, why in REQUIRED_RESOURCE:
        value = str(res.attributes.get(attribute) or "")
        if not value or value.startswith("unknown_service"):
            out.append(f"{attribute} ({argument}=...: {why})")
    return out


def chosen_exporter(signal: str) -> str:
    """What OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER (`signal`: traces, logs) asks for: `otlp` (the
    default), `console` (stdout, for a look at what is sent) or `none`. The first of a list is taken;
    another name is warned about and taken as otlp."""
    value = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").split(",")[0].strip().lower()
    if value not in ("otlp", "console", "none"):
        _log.warning(
            "LLM Observatory: OTEL_%s_EXPORTER=%s is not otlp, console or none; using otlp",
            signal.upper(),
            value,
        )
        return "otlp"
    return value


def _exporter(endpoint: str | None) -> SpanExporter:
    if chosen_exporter("traces") == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if protocol == "grpc":
        # The `grpc` extra; not in the tested set, so the type checker does not see it.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter as GrpcExporter,
        )

        exporter: SpanExporter = GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # An explicit endpoint is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.
    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()


def shutdown_within(providers: list[TracerProvider | LoggerProvider], seconds: float) -> None:
    """Shut the providers down at once (each exporting what is queued), waiting at most `seconds` in
    all: the rest happens in daemon threads, which a dead or hanging collector keeps busy at most
    until the process ends."""
    workers = [
        threading.Thread(target=p.shutdown, name="observatory-sdk-shutdown", daemon=True) for p in providers
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + seconds
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        _log.warning("LLM Observatory: the collector did not take the last spans within %.0f s", seconds)


def _log_pipeline(res: Resource, endpoint: str | None, exporter: LogExporter | None) -> LoggerProvider:
    """The log records' pipeline, bounded like the spans': user feedback is sent through it. With
    content capture asked for it becomes the global one too: the official instrumentations write
    prompts and completions as log records (not span attributes), and without it log nothing."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    provider = LoggerProvider(resource=res, shutdown_on_exit=False)
    chosen = chosen_exporter("logs")
    if exporter is None and chosen == "none":
        return provider  # ratings are dropped, as OTEL_LOGS_EXPORTER=none asks
    # Any: the exporters' base class was renamed (LogExporter, later LogRecordExporter) and the
    # distro supports both sides of the rename.
    sink: Any = exporter
    if sink is None and chosen == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogExporter

        sink = ConsoleLogExporter()
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if sink is None and protocol == "grpc":
        # The `grpc` extra, as for the spans: a gRPC collector port takes no OTLP/HTTP.
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # type: ignore[import-not-found]
            OTLPLogExporter as GrpcLogExporter,
        )

        sink = GrpcLogExporter(endpoint=endpoint) if endpoint else GrpcLogExporter()
    if sink is None:
        sink = OTLPLogExporter(endpoint=f"{endpoint.rstrip('/')}/v1/logs") if endpoint else OTLPLogExporter()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            sink,
            max_queue_size=MAX_QUEUE_SIZE,
            max_export_batch_size=MAX_EXPORT_BATCH_SIZE,
            schedule_delay_millis=SCHEDULE_DELAY_MILLIS,
        )
    )
    if _instrument.content_on():
        _logs.set_logger_provider(provider)
    return provider


def setup(
    application: str | None = None,
    team: str | None = None,
    environment: str | None = None,
    *,
    endpoint: str | None = None,
    capture_content: bool | None = None,
    instrument: bool = True,
    exporter: SpanExporter | None = None,
    log_exporter: LogExporter | None = None,
) -> Setup:
    _instrument.configure_content(capture_content)
    _instrument.configure_provider_sdks()
    res = resource(application, team, environment)
    missing = missing_attributes(res)
    if missing:
        _log.warning(
            "LLM Observatory: the resource lacks %s; pass them to observatory_sdk.init() or set "
            "OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES",
            "; ".join(missing),
        )
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(ALWAYS_ON)
    provider = TracerProvider(resource=res, sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(UserSpanProcessor())
    if exporter is not None or chosen_exporter("traces") != "none":
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter or _exporter(endpoint),
                max_queue_size=MAX_QUEUE_SIZE,
                max_export_batch_size=MAX_EXPORT_BATCH_SIZE,
                schedule_delay_millis=SCHEDULE_DELAY_MILLIS,
            )
        )
    trace.set_tracer_provider(provider)
    if not os.environ.get("OTEL_PROPAGATORS"):
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
    done = Setup(provider, _log_pipeline(res, endpoint, log_exporter), res, missing)
    # At exit, spans and log records get EXIT_FLUSH_SECONDS together to reach the collector.
    atexit.register(shutdown_within, [done.tracer_provider, done.logger_provider], EXIT_FLUSH_SECONDS)
    if instrument:
        done.instrumented = _instrument.instrument_installed()
    return done
