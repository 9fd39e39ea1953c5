"""Turns a validated file model into the frozen `Spec`, applying every default from `defaults`.

It also checks the rules that only make sense on resolved values (warm retention shorter than hot
once the defaults are filled in, a p95 objective above the p99 one), returning them as problems
with the path of the field that would have to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TypeVar

from observatory.spec import defaults as d
from observatory.spec import model as m
from observatory.spec import types as t

_T = TypeVar("_T")


def _pick(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _secret(ref: m.SecretRefFile) -> t.SecretRef:
    return t.SecretRef(env=ref.env, file=ref.file)


def _images(f: m.ImagesFile | None) -> t.Images:
    given = f.model_dump(exclude_none=True) if f else {}
    return replace(d.IMAGES, **given)


def _ports(f: m.PortsFile | None) -> t.Ports:
    given = f.model_dump(exclude_none=True) if f else {}
    return t.Ports(**{"bind_address": d.BIND_ADDRESS, **d.PORTS, **given})


def _models(rows: list[m.ModelPriceFile] | None) -> tuple[t.ModelPrice, ...]:
    if rows is None:
        return d.MODEL_PRICES
    return tuple(
        t.ModelPrice(
            provider=r.provider,
            model=r.model,
            model_pattern=r.model_pattern,
            input_usd_per_million_tokens=r.input_usd_per_million_tokens,
            output_usd_per_million_tokens=r.output_usd_per_million_tokens,
            cache_read_usd_per_million_tokens=r.cache_read_usd_per_million_tokens,
            cache_write_usd_per_million_tokens=r.cache_write_usd_per_million_tokens,
            effective_from=_pick(r.effective_from, d.PRICE_EFFECTIVE_FROM),
        )
        for r in rows
    )


def _sampling(f: m.SamplingFile | None) -> t.Sampling:
    f = f or m.SamplingFile()
    default = t.SamplingPolicy(
        baseline_ratio=_pick(f.baseline_ratio, d.SAMPLING_BASELINE_RATIO),
        slow_threshold_seconds=_pick(f.slow_threshold_seconds, d.SAMPLING_SLOW_THRESHOLD_SECONDS),
        keep_errors=_pick(f.keep_errors, d.SAMPLING_KEEP_ERRORS),
    )
    apps = tuple(
        (
            name,
            t.SamplingPolicy(
                baseline_ratio=_pick(o.baseline_ratio, default.baseline_ratio),
                slow_threshold_seconds=_pick(o.slow_threshold_seconds, default.slow_threshold_seconds),
                keep_errors=_pick(o.keep_errors, default.keep_errors),
            ),
        )
        for name, o in sorted(f.applications.items())
    )
    return t.Sampling(
        default=default,
        decision_wait_seconds=_pick(f.decision_wait_seconds, d.SAMPLING_DECISION_WAIT_SECONDS),
        decision_wait_after_root_seconds=_pick(
            f.decision_wait_after_root_seconds, d.SAMPLING_DECISION_WAIT_AFTER_ROOT_SECONDS
        ),
        max_traces_in_memory=_pick(f.max_traces_in_memory, d.SAMPLING_MAX_TRACES_IN_MEMORY),
        block_when_full=_pick(f.block_when_full, d.SAMPLING_BLOCK_WHEN_FULL),
        applications=apps,
    )


def _tiers(f: m.RetentionTiersFile | None, base: t.RetentionTiers) -> t.RetentionTiers:
    if f is None:
        return base
    return t.RetentionTiers(
        hot_days=_pick(f.hot_days, base.hot_days),
        warm_days=_pick(f.warm_days, base.warm_days),
        cold_days=_pick(f.cold_days, base.cold_days),
    )


SIGNALS = ("traces", "logs", "metrics", "requests")


def _retention(f: m.RetentionFile | None) -> t.Retention:
    f = f or m.RetentionFile()
    base = _tiers(f, t.RetentionTiers(d.RETENTION_HOT_DAYS, d.RETENTION_WARM_DAYS, d.RETENTION_COLD_DAYS))
    return t.Retention(**{signal: _tiers(getattr(f, signal), base) for signal in SIGNALS})


def _objectives(f: m.SloOverrideFile, base: t.Objectives) -> t.Objectives:
    return t.Objectives(
        latency_p95_seconds=_pick(f.latency_p95_seconds, base.latency_p95_seconds),
        latency_p99_seconds=_pick(f.latency_p99_seconds, base.latency_p99_seconds),
        ttft_p95_seconds=_pick(f.ttft_p95_seconds, base.ttft_p95_seconds),
        error_ratio=_pick(f.error_ratio, base.error_ratio),
    )


def _slos(f: m.SlosFile | None) -> t.Slos:
    f = f or m.SlosFile()
    base = t.Objectives(
        d.SLO_LATENCY_P95_SECONDS, d.SLO_LATENCY_P99_SECONDS, d.SLO_TTFT_P95_SECONDS, d.SLO_ERROR_RATIO
    )
    default = _objectives(f, base)
    apps = tuple((name, _objectives(o, default)) for name, o in sorted(f.applications.items()))
    return t.Slos(default=default, window_days=_pick(f.window_days, d.SLO_WINDOW_DAYS), applications=apps)


def _receiver(f: m.ReceiverFile) -> t.Receiver:
    for kind in ("webhook", "slack", "pagerduty", "email"):
        block = getattr(f, kind)
        if block is None:
            continue
        settings = {k: v for k, v in block if isinstance(v, str)}
        secrets = {k: _secret(v) for k, v in block if isinstance(v, m.SecretRefFile)}
        return t.Receiver(f.name, kind, tuple(sorted(settings.items())), tuple(sorted(secrets.items())))
    return t.Receiver(f.name, "none")


def _alerting(f: m.AlertingFile | None) -> t.Alerting:
    f = f or m.AlertingFile()
    receivers = tuple(_receiver(r) for r in f.receivers)
    default_receiver = f.default_receiver
    if default_receiver is None:
        default_receiver = d.ALERT_DEFAULT_RECEIVER
        if all(r.name != default_receiver for r in receivers):
            receivers += (t.Receiver(default_receiver, "none"),)
    return t.Alerting(
        default_receiver=default_receiver,
        receivers=receivers,
        routes=tuple(
            t.Route(r.receiver, tuple(sorted(r.matchers.items())), r.continue_matching) for r in f.routes
        ),
        group_by=tuple(_pick(f.group_by, list(d.ALERT_GROUP_BY))),
        group_wait_seconds=_pick(f.group_wait_seconds, d.ALERT_GROUP_WAIT_SECONDS),
        group_interval_seconds=_pick(f.group_interval_seconds, d.ALERT_GROUP_INTERVAL_SECONDS),
        repeat_interval_hours=_pick(f.repeat_interval_hours, d.ALERT_REPEAT_INTERVAL_HOURS),
        runbook_base_url=_pick(f.runbook_base_url, d.ALERT_RUNBOOK_BASE_URL).rstrip("/"),
        heartbeat_receiver=f.heartbeat_receiver,
        thresholds=_thresholds(f.thresholds or m.AlertThresholdsFile()),
    )


def _thresholds(f: m.AlertThresholdsFile) -> t.AlertThresholds:
    return t.AlertThresholds(
        spend_spike_factor=_pick(f.spend_spike_factor, d.ALERT_SPEND_SPIKE_FACTOR),
        spend_spike_min_usd_per_hour=_pick(
            f.spend_spike_min_usd_per_hour, d.ALERT_SPEND_SPIKE_MIN_USD_PER_HOUR
        ),
        error_spike_factor=_pick(f.error_spike_factor, d.ALERT_ERROR_SPIKE_FACTOR),
        error_spike_min_per_minute=_pick(f.error_spike_min_per_minute, d.ALERT_ERROR_SPIKE_MIN_PER_MINUTE),
        slo_min_requests_per_minute=_pick(f.slo_min_requests_per_minute, d.ALERT_SLO_MIN_REQUESTS_PER_MINUTE),
    )


def _pii(f: m.PiiFile | None) -> t.Pii:
    f = f or m.PiiFile()
    builtin = tuple(
        t.PiiPattern(name, regex, replacement)
        for name, (regex, replacement) in d.PII_BUILTIN_PATTERNS.items()
        if name not in f.disable_builtin_patterns
    )
    custom = tuple(t.PiiPattern(p.name, p.regex, p.replacement) for p in f.patterns)
    key = _secret(f.user_id_hash_key) if f.user_id_hash_key else t.SecretRef(env=d.PII_USER_ID_HASH_KEY_ENV)
    return t.Pii(
        keep_message_content=_pick(f.keep_message_content, d.PII_KEEP_MESSAGE_CONTENT),
        hash_user_ids=_pick(f.hash_user_ids, d.PII_HASH_USER_IDS),
        user_id_hash_key=key,
        patterns=builtin + custom,
    )


DASHBOARDS = ("overview", "performance", "cost", "quality", "traces", "logs")


def _dashboards(f: m.DashboardsFile | None) -> t.Dashboards:
    f = f or m.DashboardsFile()
    boards = []
    for name in DASHBOARDS:
        board = getattr(f, name) or m.DashboardFile()
        extra = tuple(t.ExtraPanel(p.title, p.type, p.promql, p.sql, p.unit) for p in board.extra_panels)
        boards.append(t.Dashboard(name, board.enabled, tuple(board.hidden_panels), extra))
    return t.Dashboards(
        group_by=tuple(_pick(f.group_by, list(d.DASHBOARD_GROUP_BY))), dashboards=tuple(boards)
    )


def _storage(f: m.StorageFile | None) -> t.Storage:
    from observatory import names

    f = f or m.StorageFile()
    return t.Storage(
        engine=_pick(f.engine, d.STORAGE_ENGINE),
        host=f.host,
        port=_pick(f.port, d.STORAGE_PORT),
        database=_pick(f.database, names.DB_NAME),
        sslmode=_pick(f.sslmode, d.STORAGE_SSLMODE),
        late_data_days=_pick(f.late_data_days, d.STORAGE_LATE_DATA_DAYS),
    )


def _deploy(f: m.DeployFile | None) -> t.Deploy:
    f = f or m.DeployFile()
    replicas = f.replicas or m.ReplicasFile()
    store = f.object_storage
    return t.Deploy(
        namespace=_pick(f.namespace, d.DEPLOY_NAMESPACE),
        storage_class=f.storage_class,
        object_storage=None
        if store is None
        else t.ObjectStorage(
            endpoint=store.endpoint,
            bucket=store.bucket,
            region=store.region,
            insecure=store.insecure,
            access_key_id=_secret(store.access_key_id),
            secret_access_key=_secret(store.secret_access_key),
        ),
        collector_replicas=_pick(replicas.collector, d.DEPLOY_COLLECTOR_REPLICAS),
        ingester_replicas=_pick(replicas.ingester, d.DEPLOY_INGESTER_REPLICAS),
    )


def _grafana(f: m.GrafanaFile | None) -> t.Grafana:
    f = f or m.GrafanaFile()
    # Served over https: the session cookie must never travel over plain http. Without a root URL the
    # stack is the local one, on http, where a Secure cookie would never be sent back and no one could log in.
    behind_tls = f.root_url is not None and f.root_url.startswith("https://")
    return t.Grafana(
        root_url=f.root_url,
        cookie_secure=_pick(f.cookie_secure, behind_tls),
        cookie_samesite=_pick(f.cookie_samesite, d.GRAFANA_COOKIE_SAMESITE),
    )


def _proxy(f: m.ProxyFile | None) -> t.Proxy:
    f = f or m.ProxyFile()
    return t.Proxy(
        enabled=_pick(f.enabled, d.PROXY_ENABLED),
        openai_base_url=_pick(f.openai_base_url, d.PROXY_OPENAI_BASE_URL).rstrip("/"),
        anthropic_base_url=_pick(f.anthropic_base_url, d.PROXY_ANTHROPIC_BASE_URL).rstrip("/"),
        upstream_timeout_seconds=_pick(f.upstream_timeout_seconds, d.PROXY_UPSTREAM_TIMEOUT_SECONDS),
        stream_idle_timeout_seconds=_pick(f.stream_idle_timeout_seconds, d.PROXY_STREAM_IDLE_TIMEOUT_SECONDS),
        max_request_bytes=_pick(f.max_request_bytes, d.PROXY_MAX_REQUEST_BYTES),
        max_concurrent_calls=_pick(f.max_concurrent_calls, d.PROXY_MAX_CONCURRENT_CALLS),
        queue_spans=_pick(f.queue_spans, d.PROXY_QUEUE_SPANS),
    )


def resolve(f: m.SpecFile, source: str) -> t.Spec:
    """The frozen spec for a file model that passed validation."""
    return t.Spec(
        source=source,
        images=_images(f.images),
        ports=_ports(f.ports),
        models=_models(f.models),
        sampling=_sampling(f.sampling),
        retention=_retention(f.retention),
        slos=_slos(f.slos),
        budgets=tuple(t.Budget(b.application, b.team, b.daily_usd, b.monthly_usd) for b in f.budgets),
        alerting=_alerting(f.alerting),
        pii=_pii(f.pii),
        dashboards=_dashboards(f.dashboards),
        storage=_storage(f.storage),
        deploy=_deploy(f.deploy),
        grafana=_grafana(f.grafana),
        proxy=_proxy(f.proxy),
    )


def _tier_problems(
    tiers: t.RetentionTiers, path: tuple[str, ...], set_here: m.RetentionTiersFile
) -> Iterator[m.Problem]:
    """Tier order problems; only those involving a field set at `path` (the others belong higher up)."""
    pairs = (("hot_days", "warm_days", "warm"), ("warm_days", "cold_days", "cold"))
    for shorter, longer, label in pairs:
        low, high = getattr(tiers, shorter), getattr(tiers, longer)
        involved = getattr(set_here, shorter) is not None or getattr(set_here, longer) is not None
        if high < low and involved:
            other = shorter.removesuffix("_days")
            yield (
                (*path, longer),
                (f"{label} retention ({high} days) is shorter than {other} retention ({low} days)"),
            )


def resolved_problems(spec: t.Spec, f: m.SpecFile) -> Iterator[m.Problem]:
    """Rules that hold between resolved values; paths name the field a user would change."""
    retention = f.retention or m.RetentionFile()
    yield from _tier_problems(_tiers(retention, _retention(None).traces), ("retention",), retention)
    for signal in SIGNALS:
        override = getattr(retention, signal)
        if override is not None:
            yield from _tier_problems(getattr(spec.retention, signal), ("retention", signal), override)
    yield from _port_problems(spec.ports, f.ports or m.PortsFile())
    if spec.sampling.decision_wait_after_root_seconds > spec.sampling.decision_wait_seconds:
        yield (
            ("sampling", "decision_wait_after_root_seconds"),
            (
                f"{spec.sampling.decision_wait_after_root_seconds:g} s after the root is longer than the "
                f"whole decision_wait_seconds ({spec.sampling.decision_wait_seconds:g} s)"
            ),
        )

    for name, obj in (("", spec.slos.default), *spec.slos.applications):
        if obj.latency_p95_seconds > obj.latency_p99_seconds:
            path = ("slos", "applications", name) if name else ("slos",)
            yield (
                (*path, "latency_p95_seconds"),
                (
                    f"p95 objective ({obj.latency_p95_seconds:g} s) is above the p99 objective "
                    f"({obj.latency_p99_seconds:g} s)"
                ),
            )
    yield from _grafana_problems(spec.grafana)
    yield from _storage_problems(spec, f)
    seen: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(spec.models):
        key = (row.provider, row.model, row.model_pattern, row.effective_from)
        if key in seen:
            yield (
                ("models", i),
                (
                    f"same provider, model and effective_from as models[{seen[key]}]: "
                    "which price applies is ambiguous"
                ),
            )
        seen.setdefault(key, i)


# TimescaleDB refuses a refresh policy whose window is shorter than two buckets past its end offset
# (1 hour): 2 days and 1 hour for the daily rollup. The window must also end a day inside raw
# retention, so no refresh reaches a dropped chunk (observatory.sql.schema.refresh_start_offset).
TIMESCALEDB_MIN_WARM_DAYS = 4
# The same rule for the monthly rollups, whose refresh window ends a day inside the daily rollups'
# (cold) retention: TimescaleDB counts a month as 30 days, so two need 62 days of daily rollups.
TIMESCALEDB_MIN_COLD_DAYS = 62


def _storage_problems(spec: t.Spec, f: m.SpecFile) -> Iterator[m.Problem]:
    """A late-data window past raw retention; raw or daily-rollup retention too short for TimescaleDB's
    refresh policies."""
    storage, retention = f.storage or m.StorageFile(), f.retention or m.RetentionFile()
    warm = spec.retention.requests.warm_days
    if storage.late_data_days is not None and storage.late_data_days >= warm:
        yield (
            ("storage", "late_data_days"),
            f"{storage.late_data_days} days reaches past the requests' warm retention ({warm} days): "
            "older rows are dropped, not rolled up; must be less than it",
        )
    if spec.storage.engine != "timescaledb":
        return
    if warm < TIMESCALEDB_MIN_WARM_DAYS:
        yield (
            _requests_tier(retention, "warm_days"),
            f"the timescaledb engine keeps raw requests at least {TIMESCALEDB_MIN_WARM_DAYS} days "
            f"(the daily rollup refreshes two whole days inside raw retention), got {warm}",
        )
    cold = spec.retention.requests.cold_days
    if cold < TIMESCALEDB_MIN_COLD_DAYS:
        yield (
            _requests_tier(retention, "cold_days"),
            f"the timescaledb engine keeps daily rollups at least {TIMESCALEDB_MIN_COLD_DAYS} days "
            f"(the monthly rollups refresh two whole months inside their retention), got {cold}",
        )


def _requests_tier(retention: m.RetentionFile, tier: str) -> tuple[str, ...]:
    """Where the requests' `tier` is set: retention.requests if there, else retention."""
    requests = retention.requests
    set_in_requests = requests is not None and getattr(requests, tier) is not None
    return ("retention", "requests", tier) if set_in_requests else ("retention", tier)


def _grafana_problems(grafana: t.Grafana) -> Iterator[m.Problem]:
    """Cookie settings a browser would refuse or never send back: nobody could log in."""
    if grafana.cookie_samesite == "none" and not grafana.cookie_secure:
        yield (
            ("grafana", "cookie_samesite"),
            "none needs cookie_secure: true (browsers drop a SameSite=None cookie that is not Secure)",
        )
    if grafana.cookie_secure and grafana.root_url is not None and grafana.root_url.startswith("http://"):
        yield (
            ("grafana", "cookie_secure"),
            f"true with an http root_url ({grafana.root_url}): browsers never send a Secure cookie "
            "over http, so no one could log in; serve Grafana over https or set cookie_secure: false",
        )


def _port_problems(ports: t.Ports, set_here: m.PortsFile) -> Iterator[m.Problem]:
    """Two components on one host port; blamed on the one the user set, so the error points at it."""
    used: dict[int, str] = {}
    for name in d.PORTS:
        port = getattr(ports, name)
        if port in used:
            first = used[port]
            blamed, other = (first, name) if getattr(set_here, name) is None else (name, first)
            yield ("ports", blamed), f"port {port} is also the port of {other}"
        used.setdefault(port, name)
