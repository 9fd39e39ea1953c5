"""The file model: exactly what a user may write in `observatory.yaml`, and nothing more.

Every field is optional unless the spec cannot mean anything without it; `None` means "take the
default" and `resolve` fills it in. Each section may add `problems()`: rules that need more than one
field (warm retention shorter than hot, a route to a receiver that does not exist). The loader runs
them per section, so one bad section does not hide the problems of another.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

# A problem found by a rule: the path below the section that owns the rule, and the message.
Problem = tuple[tuple[str | int, ...], str]

NonNegativeFloat = Annotated[float, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Ratio = Annotated[float, Field(ge=0, le=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Names that become Prometheus label values, Alertmanager receiver names and file names: keep them
# to letters, digits, dot, dash and underscore, starting with a letter or digit.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]
# YAML reads an unquoted 2025-01-01 as a date; a quoted one is a string, which is fine too.
LooseDate = Annotated[date, Strict(False)]


class FileModel(BaseModel):
    """Base of every section: unknown keys are errors, and types are not silently coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def problems(self) -> Iterator[Problem]:
        """Rules across fields of this section; none by default."""
        return iter(())


def _reject_plain_secret(value: Any) -> Any:
    if isinstance(value, str | int | float):
        raise PydanticCustomError(
            "secret_inline",
            "secrets are never written in the spec: give a reference, {env: VARIABLE} or {file: /path}",
        )
    return value


class SecretRefFile(FileModel):
    """Where a secret is at run time: an environment variable or a mounted file, never its value."""

    env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    file: Annotated[str, Field(pattern=r"^/")] | None = None

    def problems(self) -> Iterator[Problem]:
        if (self.env is None) == (self.file is None):
            yield (), "give exactly one of env or file"


SecretRef = Annotated[SecretRefFile, BeforeValidator(_reject_plain_secret)]


def _pinned_image(value: str) -> str:
    # repository[:tag][@digest]; a digest or a tag other than `latest` is required for reproducibility.
    name, _, digest = value.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if not digest and (not tag or tag == "latest"):
        raise PydanticCustomError(
            "image_unpinned",
            "must pin a version tag or digest (not latest), got {value}",
            {"value": repr(value)},
        )
    return value


Image = Annotated[
    str, Field(min_length=3), BeforeValidator(lambda v: _pinned_image(v) if isinstance(v, str) else v)
]


class ImagesFile(FileModel):
    grafana: Image | None = None
    prometheus: Image | None = None
    alertmanager: Image | None = None
    tempo: Image | None = None
    loki: Image | None = None
    timescaledb: Image | None = None
    otel_collector: Image | None = None


class PortsFile(FileModel):
    bind_address: Annotated[str, Field(pattern=r"^[0-9.:a-fA-F]+$")] | None = None
    grafana: Port | None = None
    prometheus: Port | None = None
    alertmanager: Port | None = None
    tempo: Port | None = None
    loki: Port | None = None
    timescaledb: Port | None = None
    otlp_grpc: Port | None = None
    otlp_http: Port | None = None
    ingester: Port | None = None
    api: Port | None = None
    proxy: Port | None = None


# Constructs Go's RE2 engine (which the collector uses) does not support; Python would accept them.
_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not a regex both Python and the collector's RE2 accept, or None."""
    if _RE2_UNSUPPORTED.search(pattern):
        return "lookarounds and back-references are not supported by the collector's RE2 engine"
    try:
        re.compile(pattern)
    except re.error as err:
        return f"invalid regular expression: {err}"
    return None


class ModelPriceFile(FileModel):
    """One row of the price table: what a model costs from a date on."""

    provider: Name
    model: Annotated[str, Field(min_length=1)] | None = None
    model_pattern: Annotated[str, Field(min_length=1)] | None = None
    input_usd_per_million_tokens: NonNegativeFloat
    output_usd_per_million_tokens: NonNegativeFloat
    cache_read_usd_per_million_tokens: NonNegativeFloat | None = None
    cache_write_usd_per_million_tokens: NonNegativeFloat | None = None
    effective_from: LooseDate | None = None

    def problems(self) -> Iterator[Problem]:
        if (self.model is None) == (self.model_pattern is None):
            yield (), "give exactly one of model (an exact name) or model_pattern (a regex)"
        if self.model_pattern is not None and (why := regex_problem(self.model_pattern)):
            yield ("model_pattern",), why


class SamplingOverrideFile(FileModel):
    baseline_ratio: Ratio | None = None
    slow_threshold_seconds: PositiveFloat | None = None
    keep_errors: bool | None = None


class SamplingFile(SamplingOverrideFile):
    decision_wait_seconds: PositiveFloat | None = None
    decision_wait_after_root_seconds: PositiveFloat | None = None
    max_traces_in_memory: PositiveInt | None = None
    block_when_full: bool | None = None
    applications: dict[Name, SamplingOverrideFile] = Field(default_factory=dict)


class RetentionTiersFile(FileModel):
    hot_days: PositiveInt | None = None
    warm_days: PositiveInt | None = None
    cold_days: PositiveInt | None = None


class RetentionFile(RetentionTiersFile):
    traces: RetentionTiersFile | None = None
    logs: RetentionTiersFile | None = None
    metrics: RetentionTiersFile | None = None
    requests: RetentionTiersFile | None = None


class SloOverrideFile(FileModel):
    latency_p95_seconds: PositiveFloat | None = None
    latency_p99_seconds: PositiveFloat | None = None
    ttft_p95_seconds: PositiveFloat | None = None
    error_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None


class SlosFile(SloOverrideFile):
    window_days: Annotated[int, Field(ge=1, le=90)] | None = None
    applications: dict[Name, SloOverrideFile] = Field(default_factory=dict)


class BudgetFile(FileModel):
    application: Name | None = None
    team: Name | None = None
    daily_usd: PositiveFloat | None = None
    monthly_usd: PositiveFloat | None = None

    def problems(self) -> Iterator[Problem]:
        if (self.application is None) == (self.team is None):
            yield (), "give exactly one of application or team"
        if self.daily_usd is None and self.monthly_usd is None:
            yield (), "give daily_usd, monthly_usd or both"
        if self.daily_usd and self.monthly_usd and self.daily_usd > self.monthly_usd:
            yield (
                ("daily_usd",),
                (f"daily budget {self.daily_usd:g} USD exceeds the monthly budget {self.monthly_usd:g} USD"),
            )


class WebhookFile(FileModel):
    url: Annotated[str, Field(pattern=r"^https?://")]


def _file_only(ref: SecretRefFile | None, key: str) -> Iterator[Problem]:
    # Alertmanager reads secrets from files (`*_file` keys) and never expands environment variables.
    if ref is not None and ref.env is not None:
        yield (key,), "Alertmanager reads secrets only from files: mount it and give {file: /path}"


class SlackFile(FileModel):
    api_url: SecretRef
    channel: Annotated[str, Field(min_length=1)]

    def problems(self) -> Iterator[Problem]:
        return _file_only(self.api_url, "api_url")


class PagerDutyFile(FileModel):
    routing_key: SecretRef

    def problems(self) -> Iterator[Problem]:
        return _file_only(self.routing_key, "routing_key")


class EmailFile(FileModel):
    to: Annotated[str, Field(min_length=3)]
    sender: Annotated[str, Field(min_length=3)]
    smarthost: Annotated[str, Field(pattern=r"^[^:\s]+:[0-9]+$")]
    auth_username: str | None = None
    auth_password: SecretRef | None = None

    def problems(self) -> Iterator[Problem]:
        return _file_only(self.auth_password, "auth_password")


class ReceiverFile(FileModel):
    name: Name
    webhook: WebhookFile | None = None
    slack: SlackFile | None = None
    pagerduty: PagerDutyFile | None = None
    email: EmailFile | None = None

    def problems(self) -> Iterator[Problem]:
        kinds = [k for k in ("webhook", "slack", "pagerduty", "email") if getattr(self, k) is not None]
        if len(kinds) > 1:
            yield (), f"a receiver has one integration, this one has {', '.join(kinds)}"


class RouteFile(FileModel):
    receiver: Name
    # Label name to exact value, e.g. {severity: critical, team: search}.
    matchers: dict[Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")], str] = Field(min_length=1)
    continue_matching: bool = False


SpikeFactor = Annotated[float, Field(gt=1)]  # at or below 1 any steady traffic would be a "spike"


class AlertThresholdsFile(FileModel):
    # Spend over the last hour against the same hour a week earlier (LLMSpendSpike).
    spend_spike_factor: SpikeFactor | None = None
    spend_spike_min_usd_per_hour: NonNegativeFloat | None = None
    # Errors of one type over 10 minutes against the 3 hours before (LLMProviderErrorSpike).
    error_spike_factor: SpikeFactor | None = None
    error_spike_min_per_minute: NonNegativeFloat | None = None
    # SLO burn-rate alerts stay quiet below this request rate over their long window.
    slo_min_requests_per_minute: NonNegativeFloat | None = None


class AlertingFile(FileModel):
    default_receiver: Name | None = None
    receivers: list[ReceiverFile] = Field(default_factory=list)
    routes: list[RouteFile] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait_seconds: PositiveInt | None = None
    group_interval_seconds: PositiveInt | None = None
    repeat_interval_hours: PositiveInt | None = None
    # Where each alert's runbook_url points: <runbook_base_url>/<AlertName>.md.
    runbook_base_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # A receiver for the always-firing Watchdog alert (a dead man's switch service); None: default route.
    heartbeat_receiver: Name | None = None
    thresholds: AlertThresholdsFile | None = None

    def problems(self) -> Iterator[Problem]:
        names: set[str] = set()
        for i, receiver in enumerate(self.receivers):
            if receiver.name in names:
                yield ("receivers", i, "name"), f"receiver {receiver.name!r} is defined twice"
            names.add(receiver.name)
        for i, route in enumerate(self.routes):
            if route.receiver not in names:
                yield ("routes", i, "receiver"), _unknown("receiver", route.receiver, names)
        if self.default_receiver is not None and self.default_receiver not in names:
            yield ("default_receiver",), _unknown("receiver", self.default_receiver, names)
        if self.heartbeat_receiver is not None and self.heartbeat_receiver not in names:
            yield ("heartbeat_receiver",), _unknown("receiver", self.heartbeat_receiver, names)


# The names of defaults.PII_BUILTIN_PATTERNS (tests/unit/test_pii_patterns.py holds them equal).
BuiltinPattern = Literal["email", "iban", "ssn", "phone", "card_number", "api_key", "bearer_token", "jwt"]


class PiiPatternFile(FileModel):
    name: Name
    regex: Annotated[str, Field(min_length=1)]
    replacement: str = "<redacted>"

    def problems(self) -> Iterator[Problem]:
        if why := regex_problem(self.regex):
            yield ("regex",), why


class PiiFile(FileModel):
    keep_message_content: bool | None = None
    hash_user_ids: bool | None = None
    user_id_hash_key: SecretRef | None = None
    disable_builtin_patterns: list[BuiltinPattern] = Field(default_factory=list)
    patterns: list[PiiPatternFile] = Field(default_factory=list)

    def problems(self) -> Iterator[Problem]:
        names = set(BuiltinPattern.__args__)  # type: ignore[attr-defined]
        for i, pattern in enumerate(self.patterns):
            if pattern.name in names:
                yield ("patterns", i, "name"), f"pattern name {pattern.name!r} is already taken"
            names.add(pattern.name)


GroupBy = Literal["application", "environment", "provider", "model", "operation", "team", "user"]


class ExtraPanelFile(FileModel):
    title: Annotated[str, Field(min_length=1)]
    type: Literal["timeseries", "stat", "table", "barchart", "bargauge", "piechart"] = "timeseries"
    promql: Annotated[str, Field(min_length=1)] | None = None
    sql: Annotated[str, Field(min_length=1)] | None = None
    unit: str | None = None

    def problems(self) -> Iterator[Problem]:
        if (self.promql is None) == (self.sql is None):
            yield (), "give exactly one of promql or sql"


class DashboardFile(FileModel):
    enabled: bool = True
    hidden_panels: list[str] = Field(default_factory=list)
    extra_panels: list[ExtraPanelFile] = Field(default_factory=list)

    def problems(self) -> Iterator[Problem]:
        titles: set[str] = set()
        for i, panel in enumerate(self.extra_panels):
            if panel.title in titles:
                yield ("extra_panels", i, "title"), f"panel title {panel.title!r} is used twice"
            titles.add(panel.title)


class DashboardsFile(FileModel):
    group_by: list[GroupBy] | None = None
    overview: DashboardFile | None = None
    performance: DashboardFile | None = None
    cost: DashboardFile | None = None
    quality: DashboardFile | None = None
    traces: DashboardFile | None = None
    logs: DashboardFile | None = None

    def problems(self) -> Iterator[Problem]:
        """A hidden panel must be one its dashboard has: a built-in panel or one of its extra panels."""
        from observatory.dashboards_catalog import PANELS, extra_panel_slug

        for name, slugs in PANELS.items():
            board = getattr(self, name)
            if board is None:
                continue
            known = [*slugs, *(extra_panel_slug(p.title) for p in board.extra_panels)]
            for i, slug in enumerate(board.hidden_panels):
                if slug not in known:
                    close = difflib.get_close_matches(slug, known, n=1, cutoff=0.6)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    yield (name, "hidden_panels", i), f"the {name} dashboard has no panel {slug!r}{hint}"


class StorageFile(FileModel):
    engine: Literal["timescaledb", "postgres"] | None = None
    # An external (managed) database; left out, the stack runs its own.
    host: str | None = None
    port: Port | None = None
    database: Name | None = None
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] | None = None
    # How many days late a row may arrive and still reach the rollups on its own (later: a backfill).
    late_data_days: PositiveInt | None = None


class ObjectStorageFile(FileModel):
    endpoint: Annotated[str, Field(min_length=1)]
    bucket: Name
    region: str | None = None
    insecure: bool = False
    access_key_id: SecretRef
    secret_access_key: SecretRef


class ReplicasFile(FileModel):
    collector: PositiveInt | None = None
    ingester: PositiveInt | None = None


class DeployFile(FileModel):
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)] | None = None
    storage_class: str | None = None
    object_storage: ObjectStorageFile | None = None
    replicas: ReplicasFile | None = None


CookieSameSite = Literal["lax", "strict", "none", "disabled"]
# scheme://host[:port][/path]: what Grafana builds its links and redirects from.
_ROOT_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def _root_url(value: Any) -> Any:
    if isinstance(value, str) and not _ROOT_URL.match(value):
        raise PydanticCustomError(
            "root_url",
            "must be the URL users open, http:// or https:// then the host, got {value}",
            {"value": repr(value)},
        )
    return value


class GrafanaFile(FileModel):
    """Grafana's server settings that depend on where it is deployed (behind TLS or not)."""

    # The address users open, e.g. https://grafana.example.com/ behind a TLS-terminating proxy.
    root_url: Annotated[str, BeforeValidator(_root_url)] | None = None
    cookie_secure: bool | None = None
    cookie_samesite: CookieSameSite | None = None


# An absolute http(s) base URL with no query: what the proxy joins each forwarded path to.
_BASE_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


def _base_url(value: Any) -> Any:
    if isinstance(value, str) and not _BASE_URL.match(value):
        raise PydanticCustomError(
            "base_url",
            "must be http:// or https:// then the host, and a path, got {value}",
            {"value": repr(value)},
        )
    return value


BaseUrl = Annotated[str, BeforeValidator(_base_url)]


class ProxyFile(FileModel):
    """The LLM proxy: an OpenAI- and Anthropic-compatible gateway that emits a GenAI span per call."""

    enabled: bool | None = None
    openai_base_url: BaseUrl | None = None
    anthropic_base_url: BaseUrl | None = None
    upstream_timeout_seconds: PositiveFloat | None = None
    stream_idle_timeout_seconds: PositiveFloat | None = None
    max_request_bytes: PositiveInt | None = None
    max_concurrent_calls: PositiveInt | None = None
    queue_spans: PositiveInt | None = None


class SpecFile(FileModel):
    """The whole of `observatory.yaml`."""

    # The descriptions are what an editor shows on hover (the JSON Schema, `observatory schema`).
    version: Literal["v1"] = Field(description="The spec format; `v1` is the only one.")
    images: ImagesFile | None = Field(
        None, description="The pinned image of every component: a tag other than `latest`, or a digest."
    )
    ports: PortsFile | None = Field(
        None, description="Host ports of the local stack and the address they are published on (loopback)."
    )
    models: list[ModelPriceFile] | None = Field(
        None,
        description="The price table: provider, `model` or `model_pattern`, USD per million tokens of each "
        "kind, `effective_from`. Listing it replaces the built-in table.",
    )
    sampling: SamplingFile | None = Field(
        None,
        description="Tail sampling of traces: the baseline ratio, what counts as slow, keeping errors, "
        "per-application overrides and the collector's memory for traces awaiting a decision.",
    )
    retention: RetentionFile | None = Field(
        None,
        description="`hot_days`, `warm_days`, `cold_days` for every store, with overrides per signal "
        "(`traces`, `logs`, `metrics`, `requests`).",
    )
    slos: SlosFile | None = Field(
        None,
        description="Objectives: latency p95/p99, time-to-first-token p95, error ratio; per-application "
        "overrides. Alerts and dashboard thresholds follow them.",
    )
    budgets: list[BudgetFile] = Field(
        default_factory=list, description="Daily and monthly USD budgets per application or team."
    )
    alerting: AlertingFile | None = Field(
        None,
        description="Receivers (webhook, Slack, PagerDuty, email) and routes; secrets are `{file: /path}` "
        "or `{env: NAME}` references; thresholds of the spike and burn-rate alerts.",
    )
    pii: PiiFile | None = Field(
        None,
        description="Redaction: built-in and custom patterns, whether message content is kept, "
        "user-id hashing.",
    )
    dashboards: DashboardsFile | None = Field(
        None,
        description="Which dashboards and panels (panel slugs: `observatory panels`), group-by "
        "dimensions, extra panels.",
    )
    storage: StorageFile | None = Field(
        None,
        description="The request store: `engine` `timescaledb`, or `postgres` for PostgreSQL without "
        "TimescaleDB; `late_data_days`.",
    )
    deploy: DeployFile | None = Field(
        None,
        description="Kubernetes: namespace, storage class, object storage for the cold tier, replicas.",
    )
    grafana: GrafanaFile | None = Field(
        None, description="Grafana behind TLS: `root_url`, `cookie_secure`, `cookie_samesite`."
    )
    proxy: ProxyFile | None = Field(
        None,
        description="The LLM proxy for applications that cannot be instrumented: `enabled`, the providers' "
        "base URLs, the upstream timeout, request size, concurrent calls and span queue limits.",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value != "v1":
            raise PydanticCustomError(
                "version", "this observatory reads spec version v1, got {value}", {"value": repr(value)}
            )
        return value


def _unknown(kind: str, name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (defined: {', '.join(sorted(known)) or 'none'})"
    return f"no {kind} named {name!r}{hint}"


def walk_problems(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    """Every `problems()` of `node` and of the models nested in it, with paths from `node`."""
    if isinstance(node, FileModel):
        for sub, message in node.problems():
            yield path + sub, message
        for name in type(node).model_fields:
            yield from walk_problems(getattr(node, name), (*path, name))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk_problems(item, (*path, i))
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from walk_problems(item, (*path, key))
