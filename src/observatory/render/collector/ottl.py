"""OTTL statements for the collector's transform processors: normalise, price, drop content and hash users.

Each function returns transform "groups" ({context, conditions, statements}); a group's conditions
are checked once per span, so spans that need no work (a current instrumentation, a span that is not
an LLM call) skip all of the group's statements. Literals are written so OTTL types line up: token
counts are wrapped in Double() before they meet a float price, and prices are decimal literals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from observatory import names, pricing
from observatory import semconv as sc
from observatory.dialects import Alias, Dialects
from observatory.spec.types import ModelPrice, Spec
from observatory.sql import feedback

Group = dict[str, Any]


def lit(value: str) -> str:
    """An OTTL string literal; `$` is doubled because the collector expands `${...}` in its config."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


def decimal_lit(value: Decimal) -> str:
    """A float literal OTTL parses as float64 (never `0`, which would be an int)."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def attr(name: str, context: str = "span") -> str:
    return f"{context}.attributes[{lit(name)}]"


def one_of(target: str, values: tuple[str, ...] | list[str]) -> str:
    """`target` equals one of `values`: string comparisons, far cheaper per span than a regex."""
    return "(" + " or ".join(f"{target} == {lit(v)}" for v in values) + ")"


def llm_request_rule(dialects: Dialects) -> str:
    """What makes a span an LLM request, from normalised attributes every library sets, even on a
    failed call: an inference operation, and a provider or a model; and not a provider SDK's own span
    of a call an instrumentation library also traces (dialects.yaml). Evaluated once per span, at the
    end of normalisation, which marks the span with `llm.request`."""
    named = (
        f"{attr(sc.PROVIDER)} != nil or {attr(sc.REQUEST_MODEL)} != nil or {attr(sc.RESPONSE_MODEL)} != nil"
    )
    sdk = "".join(
        f" and instrumentation_scope.name != {lit(scope)}" for scope in dialects.provider_sdk_scopes
    )
    return f"{one_of(attr(sc.OPERATION), dialects.llm_operations)} and ({named}){sdk}"


def is_llm_span(dialects: Dialects) -> str:
    """The condition every stage after normalisation uses: the span's `llm.request` mark, one
    comparison where the rule is a dozen (conditions run many times per span: a metric each)."""
    return f"{attr(sc.IS_REQUEST)} == true"


def is_rating() -> str:
    """A log record that is a rating (user feedback): the GenAI evaluation event, named in the record's
    event name or, by older SDKs, in an `event.name` attribute."""
    event = lit(feedback.EVENT_NAME)
    return f'log.event_name == {event} or log.attributes["event.name"] == {event}'


def _rename(alias: Alias, context: str) -> list[str]:
    src, dst = attr(alias.alias, context), attr(alias.canonical, context)
    value = f"[{src}]" if alias.wrap else src
    return [
        f"set({dst}, {value}) where {dst} == nil and {src} != nil",
        f"set({attr(sc.NORMALISED_FROM, context)}, {lit(alias.dialect)}) where {src} != nil",
        f"delete_key({context}.attributes, {lit(alias.alias)})",
    ]


def normalise_groups(dialects: Dialects) -> list[Group]:
    """Rename dialect attributes to the pinned conventions and canonicalise provider and operation values."""
    span_aliases = dialects.attributes
    kind = attr(dialects.span_kind_attribute)
    span_group: Group = {
        "context": "span",
        "conditions": [f"{attr(a.alias)} != nil" for a in span_aliases] + [f"{kind} != nil"],
        "statements": [s for a in span_aliases for s in _rename(a, "span")]
        + [
            f"set({attr(sc.OPERATION)}, {lit(op)}) where {attr(sc.OPERATION)} == nil and {kind} == {lit(k)}"
            for k, op in dialects.span_kind_operations
        ]
        + [f"set({attr(sc.NORMALISED_FROM)}, {lit(dialects.span_kind_dialect)}) where {kind} != nil"]
        + json_statements(dialects),
    }
    span_group["conditions"] += [f"{attr(j.attribute)} != nil" for j in dialects.json_attributes]
    value_statements = []
    for name, mapping in dialects.values:
        target = attr(name)
        value_statements.append(f'set({target}, ConvertCase({target}, "lower")) where {target} != nil')
        value_statements += [
            f"set({target}, {lit(new)}) where {target} == {lit(old)}" for old, new in mapping
        ]
    # Every LLM span has an operation after renaming, so this group also carries what is inferred and
    # the `llm.request` mark: each group is a pass over every span, which costs more than a condition.
    events, inferred = derived(dialects)
    values_group: Group = {
        "context": "span",
        "conditions": [f"{attr(name)} != nil" for name, _ in dialects.values]
        + [f"{attr(sc.IS_REQUEST)} != nil"],
        "statements": value_statements + inferred,
    }
    resource_group: Group = {
        "context": "resource",
        "conditions": [f"{attr(a.alias, 'resource')} != nil" for a in dialects.resource_attributes],
        "statements": [s for a in dialects.resource_attributes for s in _rename(a, "resource")],
    }
    return [resource_group, span_group, events, values_group]


OBJECT_START = r"^\s*\{"  # a JSON object's first character, after white space


def json_statements(dialects: Dialects) -> list[str]:
    """Canonical attributes out of JSON-valued ones (OpenInference's invocation parameters): the
    object is parsed once into a scratch attribute; a key it lacks sets nothing."""
    scratch = attr("llm.scratch.json")
    statements = []
    for j in dialects.json_attributes:
        src = attr(j.attribute)
        is_object = f"IsMatch({src}, {lit(OBJECT_START)})"  # ParseJSON of anything else is an error
        statements.append(f"set({scratch}, ParseJSON({src})) where {src} != nil and {is_object}")
        for key, canonical in j.keys:
            dst = attr(canonical)
            statements.append(
                f"set({dst}, {scratch}[{lit(key)}]) where {scratch} != nil and {dst} == nil"
                f" and {scratch}[{lit(key)}] != nil"
            )
        statements.append(f"delete_key(span.attributes, {lit('llm.scratch.json')}) where {scratch} != nil")
    return statements


def _input_with_cache(dialects: Dialects) -> list[str]:
    """Input tokens with the cached ones added back, for each library that counts them apart."""
    tokens, read, write = attr(sc.INPUT_TOKENS), attr(sc.CACHE_READ_TOKENS), attr(sc.CACHE_WRITE_TOKENS)
    out = []
    for _, match in dialects.input_excludes_cache:
        when = " and ".join(f"{attr(k)} == {lit(v)}" for k, v in match) + f" and {tokens} != nil"
        out += [
            f"set({tokens}, {tokens} + {read}) where {read} != nil and {when}",
            f"set({tokens}, {tokens} + {write}) where {write} != nil and {when}",
        ]
    return out


def derived(dialects: Dialects) -> tuple[Group, list[str]]:
    """What normalisation infers: the request model from the response model when only that is known,
    time to first token from a first-token event, and no time to first token on a call that was not
    streamed (some libraries measure one on every call, embeddings included)."""
    ttft, stream = attr(sc.TIME_TO_FIRST_CHUNK), attr(sc.REQUEST_STREAM)
    first_token = one_of("spanevent.name", dialects.first_token_events)
    span_ttft, span_stream = (
        f"span.attributes[{lit(sc.TIME_TO_FIRST_CHUNK)}]",
        f"span.attributes[{lit(sc.REQUEST_STREAM)}]",
    )
    span_error = f"span.attributes[{lit(sc.ERROR_TYPE)}]"
    exception_type = f"spanevent.attributes[{lit(dialects.exception_type_attribute)}]"
    exception = f"spanevent.name == {lit(dialects.exception_event)}"
    events: Group = {
        "context": "spanevent",
        "conditions": [exception, first_token],
        "statements": [
            f"set({span_error}, {exception_type}) where {exception} and {span_error} == nil"
            f" and {exception_type} != nil and span.status.code == STATUS_CODE_ERROR",
            f"set({span_ttft}, Double(spanevent.time_unix_nano - span.start_time_unix_nano)"
            f" / 1000000000.0) where {first_token} and {span_ttft} == nil",
            f"set({span_stream}, true) where {first_token} and {span_stream} == nil",
        ],
    }
    inferred = [
        f"set({attr(sc.REQUEST_MODEL)}, {attr(sc.RESPONSE_MODEL)})"
        f" where {attr(sc.REQUEST_MODEL)} == nil and {attr(sc.RESPONSE_MODEL)} != nil",
        f"delete_key(span.attributes, {lit(sc.TIME_TO_FIRST_CHUNK)})"
        f' where {ttft} != nil and ({stream} == false or {attr(sc.OPERATION)} == "embeddings")',
        *_input_with_cache(dialects),
        # The `llm.request` mark is the collector's alone: one that arrives is dropped first.
        f"delete_key(span.attributes, {lit(sc.IS_REQUEST)}) where {attr(sc.IS_REQUEST)} != nil",
        f"set({attr(sc.IS_REQUEST)}, true) where {llm_request_rule(dialects)}",
    ]
    return events, inferred


def price_model_match(row: ModelPrice) -> str:
    """Which spans a price row is for: its provider, and `pricing.model_regex` of the priced model.

    An exact `model` also matches its dated snapshots (`gpt-4o-2024-08-06` for `gpt-4o`), which is
    how providers report the model that actually answered.
    """
    # OTTL has no conditional expression, so `pricing_groups` first copies the response model, or
    # else the request model, to llm.cost.model.
    pricing_model = attr("llm.cost.model")
    pattern = pricing.model_regex(row)
    return f"{attr(sc.PROVIDER)} == {lit(row.provider)} and IsMatch({pricing_model}, {lit(pattern)})"


def _per_token(usd_per_million: float | None) -> Decimal | None:
    return None if usd_per_million is None else Decimal(str(usd_per_million)) / Decimal(1_000_000)


def cost_expression(row: ModelPrice) -> str:
    """USD for one request: uncached input, cache reads and writes priced apart, plus output.

    uncached = input - cache_read - cache_write. A cache price the table lacks falls back to the
    input price (the provider bills those tokens, at least, as input).
    """
    p_in = _per_token(row.input_usd_per_million_tokens)
    p_out = _per_token(row.output_usd_per_million_tokens)
    assert p_in is not None and p_out is not None
    p_read = _per_token(row.cache_read_usd_per_million_tokens) or p_in
    p_write = _per_token(row.cache_write_usd_per_million_tokens) or p_in
    t_in, t_out = f"Double({attr(sc.INPUT_TOKENS)})", f"Double({attr('llm.cost.output')})"
    t_read, t_write = f"Double({attr('llm.cost.cache_read')})", f"Double({attr('llm.cost.cache_write')})"
    return (
        f"({t_in} - {t_read} - {t_write}) * {decimal_lit(p_in)}"
        f" + {t_read} * {decimal_lit(p_read)} + {t_write} * {decimal_lit(p_write)}"
        f" + {t_out} * {decimal_lit(p_out)}"
    )


def _unix_nanos(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9


def pricing_groups(spec: Spec, dialects: Dialects) -> list[Group]:
    """Price every LLM span from the spec's table; a span no row matches is marked unpriced, not zero.

    Rows are tried in `pricing.precedence` order (oldest `effective_from` first), each guarded by
    the span's start time, so the row the rule picks is the last to set its number in `llm.cost.row`;
    each row's match is evaluated once, and the cost statements then only compare that number.
    """

    # Input tokens are enough: an embedding has no output. A failed call without tokens costs nothing
    # (providers bill nothing for it) and is not unpriced, whatever its model.
    # Only counts that can be true are priced: a span with a negative, fractional or non-number count
    # stays unpriced here, and the ingester refuses its row and says why.
    def count(name: str) -> str:
        return f"IsInt({attr(name)}) and {attr(name)} >= 0"

    def count_or_none(name: str) -> str:
        return f"({attr(name)} == nil or ({count(name)}))"

    optional = (sc.OUTPUT_TOKENS, sc.CACHE_READ_TOKENS, sc.CACHE_WRITE_TOKENS)
    priced = " and ".join([count(sc.INPUT_TOKENS), *map(count_or_none, optional)])
    no_tokens = f"{attr(sc.INPUT_TOKENS)} == nil and {attr(sc.OUTPUT_TOKENS)} == nil"
    failed_unbilled = f"span.status.code == STATUS_CODE_ERROR and {no_tokens}"
    row_marker = attr("llm.cost.row")

    def copy_when_set(dst: str, src: str) -> str:
        return f"set({attr(dst)}, {attr(src)}) where {attr(src)} != nil"

    prepare = [
        # The collector is the only pricer: a cost an application sent is not taken on trust.
        f"delete_key(span.attributes, {lit(sc.COST_USD)})",
        f"delete_key(span.attributes, {lit(sc.PRICE_VERSION)})",
        f"set({attr('llm.cost.model')}, {attr(sc.REQUEST_MODEL)})",
        copy_when_set("llm.cost.model", sc.RESPONSE_MODEL),
        f"set({attr('llm.cost.cache_read')}, 0)",
        copy_when_set("llm.cost.cache_read", sc.CACHE_READ_TOKENS),
        f"set({attr('llm.cost.cache_write')}, 0)",
        copy_when_set("llm.cost.cache_write", sc.CACHE_WRITE_TOKENS),
        f"set({attr('llm.cost.output')}, 0)",
        copy_when_set("llm.cost.output", sc.OUTPUT_TOKENS),
        f"set({row_marker}, -1)",
        f"set({attr(sc.UNPRICED)}, true)",
    ]
    rows = pricing.precedence(spec.models)
    match = [
        f"set({row_marker}, {i}) where {price_model_match(row)} and "
        f"span.start_time_unix_nano >= {_unix_nanos(row.effective_from)}"
        for i, row in rows
    ]
    # Evaluated once, after the match, rather than in every row's statements.
    match.append(f"set({row_marker}, -1) where not ({priced})")
    apply = []
    for i, row in rows:
        when = f"{row_marker} == {i}"
        apply += [
            f"set({attr(sc.COST_USD)}, {cost_expression(row)}) where {when}",
            f"set({attr(sc.PRICE_VERSION)}, {lit(row.effective_from.isoformat())}) where {when}",
            f"set({attr(sc.UNPRICED)}, false) where {when}",
        ]
    cleanup = [
        f"delete_key(span.attributes, {lit(k)})"
        for k in (
            "llm.cost.model",
            "llm.cost.cache_read",
            "llm.cost.cache_write",
            "llm.cost.output",
            "llm.cost.row",
        )
    ]
    unbilled = [
        f"set({attr(sc.COST_USD)}, 0.0) where {failed_unbilled}",
        f"set({attr(sc.UNPRICED)}, false) where {failed_unbilled}",
    ]
    return [
        {
            "context": "span",
            "conditions": [is_llm_span(dialects)],
            "statements": prepare + match + apply + unbilled + cleanup,
        }
    ]


def error_type_group(dialects: Dialects) -> Group:
    """`error.type` of a failed LLM span in the closed vocabulary of `dialects.yaml`, the library's own
    value kept in llm.error.raw_type. A failed span without one is classified by its HTTP status
    code, else gets the conventions' fallback `_OTHER` (which the vocabulary maps to `other`)."""
    error, raw = attr(sc.ERROR_TYPE), attr(sc.ERROR_RAW_TYPE)
    failed = "span.status.code == STATUS_CODE_ERROR"
    statements = [
        f'set({error}, Format("%v", [{attr(a)}])) where {failed} and {error} == nil and {attr(a)} != nil'
        for a in dialects.http_status_attributes
    ]
    statements += [
        f'set({error}, "_OTHER") where {failed} and {error} == nil',
        f"set({raw}, {error}) where {error} != nil and {raw} == nil",
        f"set({error}, {lit(dialects.error_type_other)}) where {raw} != nil",
    ]
    # The first pattern that matches wins: set in reverse order, so an earlier match overwrites a later.
    statements += [
        f"set({error}, {lit(e.type)}) where {raw} != nil and IsMatch({raw}, {lit('(?i)' + e.pattern)})"
        for e in reversed(dialects.error_types)
    ]
    return {
        "context": "span",
        "conditions": [f"({is_llm_span(dialects)}) and ({failed} or {error} != nil)"],
        "statements": statements,
    }


def _content_regex(dialects: Dialects) -> str:
    """One anchored regex for all content keys. Anchoring the whole alternation (not each branch)
    lets Go's engine reject a key at its first characters instead of retrying at every position,
    which profiling showed was a quarter of the collector's CPU."""
    assert all(k.startswith("^") for k in dialects.content_keys), "content_keys must be anchored"
    return "^(?:" + "|".join(k[1:] for k in dialects.content_keys) + ")"


def redaction_groups(spec: Spec, dialects: Dialects) -> list[Group]:
    """What OTTL does well before the `redact` processor hashes user ids and masks patterns: content
    keys dropped from spans and span events. Groups with nothing to do are left out."""
    out: list[Group] = []
    for context in ("span", "spanevent"):
        if not spec.pii.keep_message_content:
            statements = [f"delete_matching_keys({context}.attributes, {lit(_content_regex(dialects))})"]
            out.append({"context": context, "statements": statements})
    return out


def log_redaction_groups(spec: Spec, dialects: Dialects) -> list[Group]:
    """Content out of logs (the patterns are the `redact` processor's): content keys dropped, GenAI
    content events lose their body. Empty when message content is kept."""
    if spec.pii.keep_message_content:
        return []
    statements = [
        f"delete_matching_keys(log.attributes, {lit(_content_regex(dialects))})",
        # GenAI instrumentations emit prompts and completions as log events named gen_ai.*.
        'set(log.body, "") where IsMatch(log.event_name, "^gen_ai\\\\.")',
    ]
    return [{"context": "log", "statements": statements}]


def metric_label_statements() -> list[str]:
    """Datapoint labels from the names module: resource attributes copied in, GenAI keys shortened."""
    copies = [
        (names.LABEL_APPLICATION, attr(sc.SERVICE_NAME, "resource")),
        (names.LABEL_ENVIRONMENT, attr(sc.DEPLOYMENT_ENVIRONMENT, "resource")),
    ]
    renames = [
        (names.LABEL_PROVIDER, sc.PROVIDER),
        (names.LABEL_MODEL, sc.REQUEST_MODEL),
        (names.LABEL_OPERATION, sc.OPERATION),
        (names.LABEL_ERROR_TYPE, sc.ERROR_TYPE),
        (names.LABEL_DIALECT, sc.NORMALISED_FROM),
    ]
    out = [f"set(datapoint.attributes[{lit(label)}], {source})" for label, source in copies]
    team = f"resource.attributes[{lit(sc.TEAM)}]"  # only the cost counter's resource has it
    out.append(f"set(datapoint.attributes[{lit(names.LABEL_TEAM)}], {team}) where {team} != nil")
    for label, key in renames:
        src = f"datapoint.attributes[{lit(key)}]"
        out += [
            f"set(datapoint.attributes[{lit(label)}], {src}) where {src} != nil",
            f"delete_key(datapoint.attributes, {lit(key)})",
        ]
    return out
