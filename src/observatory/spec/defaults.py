"""Every default the spec applies, each with the reason it was chosen.

`resolve` is the only reader of this module: a field the user leaves out of `observatory.yaml` takes
its value from here, so this file is the whole answer to "what happens if I don't say".
"""

from __future__ import annotations

from datetime import date
from typing import Final

from observatory import names
from observatory.spec.types import Images, ModelPrice

# Images: one coherent set, pinned. Grafana Labs ships Grafana 13.2, Prometheus 3.14, Loki 3.7.6
# together (grafana/docker-otel-lgtm). The collector entry's tag is also the collector release the
# project's own distribution is built from (the builder manifest's module versions): compose and
# Kubernetes' sampling tier run that distribution (docker/collector/Dockerfile), because the contrib
# image lacks the project's redact processor; only Kubernetes' load-balancing tier, which routes and
# needs the contrib load_balancing exporter, runs this image itself.
IMAGES: Final = Images(
    grafana="grafana/grafana:13.2.0",
    prometheus="prom/prometheus:v3.14.0",
    alertmanager="prom/alertmanager:v0.34.0",
    # 2.10 is the maintained 2.x line; its single-binary config (ingester and compactor blocks) is
    # documented key by key, while 3.0 monolithic mode changed where retention lives.
    tempo="grafana/tempo:3.0.3",
    loki="grafana/loki:3.7.6",
    # Alpine image with PostgreSQL 17: TimescaleDB 2.29 dropped PostgreSQL 15.
    timescaledb="timescale/timescaledb:2.29.2-pg17",
    otel_collector="otel/opentelemetry-collector-contrib:0.161.0",
)

# Host ports: the usual port of each component, so documentation and muscle memory apply.
PORTS: Final = {
    "grafana": 3000,
    "prometheus": 9090,
    "alertmanager": 9093,
    "tempo": 3200,
    "loki": 3100,
    "timescaledb": 5432,
    "otlp_grpc": 4317,
    "otlp_http": 4318,
    "ingester": 8088,
    "api": 8090,
    "proxy": 8094,  # the LLM proxy (observatory proxy): next to the project's other services
}
# Published on loopback only: a laptop stack must not expose unauthenticated backends to the LAN.
BIND_ADDRESS: Final = "127.0.0.1"

# Sampling: the design note's figures. Errors and slow calls are what people debug; 1% of the rest
# keeps representative examples at a hundredth of the storage.
SAMPLING_BASELINE_RATIO: Final = 0.01
SAMPLING_SLOW_THRESHOLD_SECONDS: Final = 5.0
SAMPLING_KEEP_ERRORS: Final = True
# Agent chains finish within seconds; 30 s (the tail_sampling default) also covers long generations.
SAMPLING_DECISION_WAIT_SECONDS: Final = 30.0
# Once a trace's root span (the application request, which ends after its LLM calls) has arrived,
# decide 2 s later instead of waiting the whole decision_wait: memory then holds about 2-3 s of
# traces, not 30 s (measured: docs/BENCHMARKS.md).
SAMPLING_DECISION_WAIT_AFTER_ROOT_SECONDS: Final = 2.0
# tail_sampling's own default. It must cover (new traces per second) x (seconds a trace waits).
SAMPLING_MAX_TRACES_IN_MEMORY: Final = 50_000
# When that many traces wait, slow intake down (the receiver pushes back, senders retry) instead
# of evicting undecided traces: eviction would silently lose error and slow traces.
SAMPLING_BLOCK_WHEN_FULL: Final = True

# Retention: the design note's tiers. Hot is full resolution on fast disk, warm is compressed or
# downsampled, cold is object storage for audits and yearly cost reviews.
RETENTION_HOT_DAYS: Final = 7
RETENTION_WARM_DAYS: Final = 30
RETENTION_COLD_DAYS: Final = 365

# Objectives: interactive chat calls. A p95 of 10 s and p99 of 30 s tolerate long generations; a
# streaming user notices a first token later than 2 s. 1% errors is the usual availability SLO start.
SLO_LATENCY_P95_SECONDS: Final = 10.0
SLO_LATENCY_P99_SECONDS: Final = 30.0
SLO_TTFT_P95_SECONDS: Final = 2.0
SLO_ERROR_RATIO: Final = 0.01
# Error budgets are counted over 30 days, the window the SRE workbook's burn-rate factors assume.
SLO_WINDOW_DAYS: Final = 30

# Alerting: group notifications per alert and application so one outage pages once.
ALERT_GROUP_BY: Final = ("alertname", "application", "severity")
ALERT_GROUP_WAIT_SECONDS: Final = 30
ALERT_GROUP_INTERVAL_SECONDS: Final = 300
ALERT_REPEAT_INTERVAL_HOURS: Final = 4
# Runbooks are versioned with the rules that link to them, so the default is the repository's own folder.
ALERT_RUNBOOK_BASE_URL: Final = "https://github.com/llm-observatory/llm-observatory/blob/main/docs/runbooks"
# Spend spike: the last hour at twice the same hour a week earlier; below 1 USD an hour doubling is
# noise (and a fresh application without a week of history is for budgets to catch).
ALERT_SPEND_SPIKE_FACTOR: Final = 2.0
ALERT_SPEND_SPIKE_MIN_USD_PER_HOUR: Final = 1.0
# Provider error spike: one error type over 10 minutes at 3 times its rate over the 3 hours before;
# below one error a minute, 0 -> 2 errors would be "infinitely many times" the baseline.
ALERT_ERROR_SPIKE_FACTOR: Final = 3.0
ALERT_ERROR_SPIKE_MIN_PER_MINUTE: Final = 1.0
# SLO burn-rate alerts stay quiet below one request a minute over the long window: a ratio of a
# handful of requests would page on one failure. Such budgets are better watched on the dashboards.
ALERT_SLO_MIN_REQUESTS_PER_MINUTE: Final = 1.0

# PII: message content is the riskiest attribute and the least needed for operations; drop it.
PII_KEEP_MESSAGE_CONTENT: Final = False
# Keyed hashing keeps per-user cost attribution without storing who the user is.
PII_HASH_USER_IDS: Final = True
PII_USER_ID_HASH_KEY_ENV: Final = names.ENV_USER_ID_HASH_KEY
# The built-in patterns every spec gets unless it turns one off; each regex is RE2 syntax because
# the collector evaluates them. `replacement` is what a match becomes.
PII_BUILTIN_PATTERNS: Final = {
    # local@domain.tld, the RFC 5322 subset that real addresses use.
    "email": (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "<email>"),
    # IBAN: a country that issues IBANs (the SWIFT registry's codes, so a word like "AB12..." does
    # not match), 2 check digits, then 11 to 30 capital letters or digits, written compact or in
    # groups of 4 separated by single spaces. Capitals only: lower-case hex ids (trace ids start
    # with a country code 1 time in 256) must not match. Before card_number and phone, whose
    # patterns match runs of an IBAN's digits and would leave the rest of it behind.
    "iban": (
        r"\b(?:A[DELTZ]|B[AEGHIRY]|C[HRYZ]|D[EJKO]|E[EGS]|F[IKOR]|G[BEILRT]|H[NRU]|I[ELQST]|JO|K[WZ]"
        r"|L[BCITUVY]|M[CDEKNRTU]|N[ILO]|OM|P[KLST]|QA|R[OSU]|S[ACDEIKMOTV]|T[LNR]|UA|V[AG]|XK|YE)"
        r"[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b",
        "<iban>",
    ),
    # US social security number, written NNN-NN-NNNN (without dashes it is any 9-digit number).
    # Numbers the SSA never issues are left alone: area 000, 666 and 900-999, group 00, serial 0000.
    "ssn": (
        r"\b(?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-5][0-9]|66[0-57-9]|6[7-9][0-9]|[78][0-9]{2})"
        r"-(?:0[1-9]|[1-9][0-9])-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})\b",
        "<ssn>",
    ),
    # International numbers (+, country code, 2 to 5 groups) or North American (555) 555-0134 forms;
    # written so dates and versions (2024-08-06, 1.2.3) do not match.
    "phone": (
        r"(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4})"
        r"|(?:\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})",
        "<phone>",
    ),
    # Card numbers by issuer prefix (Visa 4, Mastercard 51-55 and 22-27, Amex 34/37, Discover
    # 6011/65) and 13 to 19 digits with optional space or dash separators; plain long ids do not match.
    "card_number": (
        r"\b(?:4[0-9]{3}|5[1-5][0-9]{2}|2[2-7][0-9]{2}|3[47][0-9]{2}|6(?:011|5[0-9]{2}))"
        r"(?:[ -]?[0-9]){9,15}\b",
        "<card>",
    ),
    # Provider key prefixes (sk-, sk-ant-, AKIA, ghp_, xox?-) followed by the key body.
    "api_key": (
        r"\b(?:sk-(?:ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|xox[abpr]-[A-Za-z0-9-]{10,})",
        "<api-key>",
    ),
    # An Authorization header value: the word Bearer and an opaque token.
    "bearer_token": (r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}", "Bearer <token>"),
    # A JSON Web Token without its header name: base64url header and payload that both start with
    # `{"` (eyJ), and a signature (empty for unsigned tokens). Nothing else starts eyJ...eyJ.
    "jwt": (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "<jwt>"),
}

# Dashboards: all six are on; these dimensions are bounded, so grouping by them is cheap.
DASHBOARD_GROUP_BY: Final = ("application", "model")

# Storage: TimescaleDB is what compose runs; `postgres` is for managed PostgreSQL without it.
STORAGE_ENGINE: Final = "timescaledb"
# A request row may reach the database this many days after it started and still be counted in the
# hourly and daily rollups without a backfill: a sender's retry queue across a weekend outage. Every
# rollup refresh looks this far back, so more days cost more work on every run.
STORAGE_LATE_DATA_DAYS: Final = 3

# Deploy: a namespace of its own, the cluster's default storage class, replicas that survive one
# node going away.
DEPLOY_NAMESPACE: Final = "llm-observatory"
DEPLOY_COLLECTOR_REPLICAS: Final = 2
DEPLOY_INGESTER_REPLICAS: Final = 2

# Grafana's session cookie: lax (Grafana's own default) keeps links from chat and e-mail working
# while a cross-site form cannot post with it. Whether it is Secure follows grafana.root_url
# (https: yes; none given: the local http stack, no), so it is decided in resolve, not here.
GRAFANA_COOKIE_SAMESITE: Final = "lax"

# A price row with no effective_from has always applied.
PRICE_EFFECTIVE_FROM: Final = date(2024, 1, 1)


def _price(
    provider: str,
    model: str,
    usd_in: float,
    usd_out: float,
    read: float | None = None,
    write: float | None = None,
) -> ModelPrice:
    """A list-price row: `model` is an exact name, or a regular expression when it starts with `^`."""
    pattern = model.startswith("^")
    return ModelPrice(
        provider=provider,
        model=None if pattern else model,
        model_pattern=model if pattern else None,
        input_usd_per_million_tokens=usd_in,
        output_usd_per_million_tokens=usd_out,
        cache_read_usd_per_million_tokens=read,
        cache_write_usd_per_million_tokens=write,
        effective_from=PRICE_EFFECTIVE_FROM,
    )


# The price table a spec gets when it lists no `models`: public list prices in USD per million
# tokens (input, output, cache read, cache write). A spec that lists `models` replaces it whole,
# so a team's negotiated prices never mix with list prices by accident.
MODEL_PRICES: Final = (
    _price("openai", "gpt-4o", 2.50, 10.00, read=1.25),
    _price("openai", "gpt-4o-mini", 0.15, 0.60, read=0.075),
    _price("openai", "gpt-4.1", 2.00, 8.00, read=0.50),
    _price("openai", "gpt-4.1-mini", 0.40, 1.60, read=0.10),
    _price("openai", "o4-mini", 1.10, 4.40, read=0.275),  # a reasoning model: its reasoning is output
    _price("openai", "text-embedding-3-small", 0.02, 0.0),
    _price("anthropic", "^claude-sonnet-4", 3.00, 15.00, read=0.30, write=3.75),
    _price("anthropic", "^claude-opus-4", 15.00, 75.00, read=1.50, write=18.75),
    _price("anthropic", "^claude-3-5-haiku", 0.80, 4.00, read=0.08, write=1.00),
    _price("gcp.gemini", "gemini-2.5-pro", 1.25, 10.00, read=0.31),
    _price("gcp.gemini", "gemini-2.5-flash", 0.30, 2.50, read=0.075),
)

STORAGE_PORT: Final = 5432
STORAGE_SSLMODE: Final = "disable"  # the stack's own database is reached over its private network
# Receiver used when the spec names none: Alertmanager needs a root receiver; this one drops alerts.
ALERT_DEFAULT_RECEIVER: Final = "blackhole"

# The LLM proxy (observatory proxy): off unless asked for, since applications must be pointed at it.
PROXY_ENABLED: Final = False
PROXY_OPENAI_BASE_URL: Final = "https://api.openai.com"  # the client's own default, without /v1
PROXY_ANTHROPIC_BASE_URL: Final = "https://api.anthropic.com"
# The wait for a provider's response headers only: long generations are not streamed and answer late.
PROXY_UPSTREAM_TIMEOUT_SECONDS: Final = 600.0
# The wait for a response body's next bytes (stream events): providers send keep-alive events well
# within a minute, so 5 minutes of silence is a stalled stream, cut and recorded as a timeout.
PROXY_STREAM_IDLE_TIMEOUT_SECONDS: Final = 300.0
PROXY_MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024  # OpenAI accepts request bodies up to about 32 MiB
# Calls in flight at once; more get 503 with Retry-After. Bounds memory (docs/BENCHMARKS.md: streams).
PROXY_MAX_CONCURRENT_CALLS: Final = 4096
# Spans waiting for the collector: about 2 s of 4,000 calls/s; beyond it spans are dropped and counted.
PROXY_QUEUE_SPANS: Final = 8192
