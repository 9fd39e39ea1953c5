"""The OpenTelemetry SDK as LLM Observatory wants it: resource, sampler, propagators, exporter.

One function, `setup`, used by both `init()` and the `opentelemetry-instrument` configurator, so an
application gets the same pipeline either way:

- resource: `service.name` (the stack's application), `team`, `deployment.environment.name`, from the
  arguments, else OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; a warning names what is missing;
- sampler: parent-based always-on (the collector tail-samples; a span dropped here is a request the
  stack never counts), unless OTEL_TRACES_SAMPLER says otherwise;
- propagators: W3C trace context and baggage (baggage carries the end user), unless OTEL_PROPAGATORS;
- export: OTLP/HTTP protobuf to http://localhost:4318 (where `observatory local up` and compose publish
  the collector), everything OTEL_EXPORTER_OTLP_* says honoured by the exporter itself; a batch
  processor with a bounded queue, so a collector that is down or slow costs dropped spans, never a
  blocked or failing application.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
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


def _exporter(endpoint: str | None) -> SpanExporter:
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


def shutdown_within(provider: TracerProvider, seconds: float) -> None:
    """Shut the provider down (exporting what is queued), waiting at most `seconds`: the rest happens
    in a daemon thread, which a dead or hanging collector keeps busy at most until the process ends."""
    worker = threading.Thread(target=provider.shutdown, name="observatory-sdk-shutdown", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _log.warning("LLM Observatory: the collector did not take the last spans within %.0f s", seconds)


def _log_pipeline(res: Resource) -> None:
    """With content capture asked for, the official instrumentations write prompts and completions as
    log records (not span attributes): those need a logger provider. Without it nothing is logged."""
    from opentelemetry import _logs
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=res)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(), max_queue_size=MAX_QUEUE_SIZE)
    )
    _logs.set_logger_provider(provider)


def setup(
    application: str | None = None,
    team: str | None = None,
    environment: str | None = None,
    *,
    endpoint: str | None = None,
    capture_content: bool | None = None,
    instrument: bool = True,
    exporter: SpanExporter | None = None,
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
    atexit.register(shutdown_within, provider, EXIT_FLUSH_SECONDS)
    provider.add_span_processor(UserSpanProcessor())
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
    if _instrument.content_on():
        _log_pipeline(res)
    done = Setup(provider, res, missing)
    if instrument:
        done.instrumented = _instrument.instrument_installed()
    return done
