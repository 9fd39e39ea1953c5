"""tests/dashboard_queries.py imitates Grafana's frontend for the plan test and the dashboard benchmark:
these pin the parts of Grafana it follows (variable formats, custom all values, interval rounding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests import dashboard_queries as dq

MULTI = {"type": "query", "multi": True, "includeAll": True, "allValue": ".*"}
NO_ALL_VALUE = {"type": "query", "multi": True, "includeAll": True}
VARIABLES = {"model": MULTI, "team": NO_ALL_VALUE}
OPTIONS = {"model": ["gemini-2.5-flash", "gpt-4o"], "team": ["data", "o'brien"]}


def test_a_selected_value_is_regex_escaped_as_grafana_escapes_it_and_several_are_an_alternation() -> None:
    sql = "model ~ '^(${model:regex})$'"
    one = dq.interpolate(sql, VARIABLES, {"model": ["gemini-2.5-flash"]}, OPTIONS)
    assert one == "model ~ '^(gemini-2\\.5-flash)$'"
    two = dq.interpolate(sql, VARIABLES, {"model": ["gemini-2.5-flash", "a/b"]}, OPTIONS)
    assert two == "model ~ '^((gemini-2\\.5-flash|a\\/b))$'"


def test_all_is_the_custom_all_value_verbatim_in_every_format_or_else_every_option() -> None:
    assert dq.interpolate("${model:regex} $model ${model:sqlstring}", VARIABLES, {}, OPTIONS) == ".* .* .*"
    assert (
        dq.interpolate("team IN (${team:sqlstring})", VARIABLES, {}, OPTIONS) == "team IN ('data','o''brien')"
    )
    assert dq.interpolate("team ~ '${team:regex}'", VARIABLES, {}, OPTIONS) == "team ~ '(data|o'brien)'"


def test_without_a_format_the_sql_datasource_quotes_each_value_of_a_multi_value_variable() -> None:
    assert (
        dq.interpolate("team IN ($team)", VARIABLES, {"team": ["o'brien"]}, OPTIONS) == "team IN ('o''brien')"
    )


def test_names_that_are_not_the_dashboards_variables_are_left_for_the_backend() -> None:
    sql = "SELECT $__timeGroupAlias(time, $__interval) WHERE $__timeFilter(time) AND x ~ '^a$'"
    assert dq.interpolate(sql, VARIABLES, {}, OPTIONS) == sql


def test_the_interval_is_grafanas_rounding_of_range_over_points_and_never_under_the_minimum() -> None:
    assert dq.round_interval(7 * 86400 / 900) == timedelta(minutes=10)
    assert dq.round_interval(365 * 86400 / 450) == timedelta(hours=12)
    assert dq.round_interval(0.5) == timedelta(milliseconds=500)
    end = datetime(2026, 3, 20, tzinfo=UTC)
    query = dq.Query("cost", "x", "", 900, timedelta(minutes=1), {})
    assert dq.interval(query, end - timedelta(hours=1), end) == timedelta(minutes=1)
    assert dq.interval(query, end - timedelta(days=30), end) == timedelta(hours=1)
