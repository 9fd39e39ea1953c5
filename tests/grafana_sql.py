"""What Grafana does to a dashboard's SQL before PostgreSQL sees it, so tests can run the real query.

Grafana cannot run here; this follows its PostgreSQL datasource (`pkg/tsdb/grafana-postgresql-datasource
/macros.go` and sqleng's `Interpolate`, see stack-reference §6.2): the frontend first substitutes
dashboard variables, then the backend replaces `$__interval`, and then the macros, whose expansion of
`$__timeGroup` depends on the datasource's `jsonData.timescaledb`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from observatory.render.dashboards.panels import USER_ALL

# $__name(args): Grafana's own pattern, arguments up to the first closing parenthesis.
_MACRO = re.compile(r"\$__(\w+)\(([^)]*)\)")
# ${name:format} or ${name} or $name (a dashboard variable; `$__` names are Grafana's own).
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)")
# Characters Grafana's regex format escapes with a backslash (kbn.regexEscape).
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros, `Z` for the zone."""
    text = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _seconds(interval: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", interval.strip().strip("'\""))
    assert match, f"not a Grafana interval: {interval!r}"
    return float(match[1]) * _UNITS[match[2]]


def _group(column: str, interval: str, timescaledb: bool) -> str:
    seconds = _seconds(interval)
    if timescaledb:
        return f"time_bucket('{seconds:.3f}s',{column})"
    return f"floor(extract(epoch from {column})/{seconds:g})*{seconds:g}"


def expand(
    sql: str,
    *,
    timescaledb: bool,
    start: datetime,
    end: datetime,
    interval: timedelta = timedelta(minutes=1),
    variables: dict[str, str | list[str]] | None = None,
) -> str:
    """`sql` as PostgreSQL receives it; unnamed dashboard variables are at All: their custom all value
    (`.*`, or the user variable's quoted sentinel), which Grafana writes unformatted. A variable's
    value (or values) are as selected, formatted here as Grafana's formats do: `sqlstring` quoted,
    `regex` escaped (and in a group when several), `pipe` joined by `|`; no format, as they are."""
    given = {k: [v] if isinstance(v, str) else v for k, v in (variables or {}).items()}

    def variable(match: re.Match[str]) -> str:
        name, fmt = match[1] or match[3], match[2]
        if name not in given:
            return USER_ALL if name == "user" else ".*"
        values = given[name]
        if fmt == "sqlstring":
            return ",".join("'" + v.replace("'", "''") + "'" for v in values)
        if fmt == "regex":
            escaped = [_REGEX_SPECIAL.sub(lambda m: "\\" + m[0], v) for v in values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        if fmt == "pipe":
            return "|".join(values)
        assert fmt is None and len(values) == 1, (
            f"${{{name}:{fmt}}} with {values}: not a format this test knows"
        )
        return values[0]

    sql = _VARIABLE.sub(variable, sql)
    seconds = interval.total_seconds()
    sql = sql.replace("$__interval_ms", str(int(seconds * 1000)))
    sql = sql.replace("$__interval", f"{int(seconds // 60)}m" if seconds % 60 == 0 else f"{seconds:g}s")

    def macro(match: re.Match[str]) -> str:
        name, args = match[1], [a.strip() for a in match[2].split(",")]
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "timeFilter":
            return f"{args[0]} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
        if name == "timeFrom":
            return f"'{_rfc3339(start)}'"
        if name == "timeTo":
            return f"'{_rfc3339(end)}'"
        if name == "timeGroup":
            return _group(args[0], args[1], timescaledb)
        if name == "timeGroupAlias":
            return _group(args[0], args[1], timescaledb) + ' AS "time"'
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        raise AssertionError(f"macro $__{name} is not one this test knows how Grafana expands")

    sql = _MACRO.sub(macro, sql)
    assert "$__" not in sql and "${" not in sql, f"unexpanded Grafana syntax left in: {sql}"
    return sql
