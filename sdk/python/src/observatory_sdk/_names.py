"""The attribute names the LLM Observatory stack reads, as this distro writes them.

The same strings as the stack's own `observatory.semconv` (the SDK does not depend on the stack's
package, so they are spelled here; tests/processes/test_sdk.py proves they land in the stack's rows).
"""

from __future__ import annotations

SERVICE_NAME = "service.name"  # the stack's `application`
TEAM = "team"  # the team that owns the application: team budgets and cost per team
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
DEPLOYMENT_ENVIRONMENT_LEGACY = "deployment.environment"  # older conventions; the collector renames it
USER_ID = "user.id"  # on spans; the collector hashes it before it leaves the collector
# User feedback: the GenAI conventions' evaluation event (a log record), which the stack stores as a rating.
EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
RESPONSE_ID = "gen_ai.response.id"
USER_FEEDBACK = "user_feedback"  # the evaluation name of an end user's rating
USER_BAGGAGE_KEY = "user.id"  # the W3C baggage entry that carries the end user to downstream services

# What each resource attribute is called in init() and why the stack needs it, for the start-up warning.
REQUIRED_RESOURCE = (
    (SERVICE_NAME, "application", "every panel, rule and row groups by application"),
    (TEAM, "team", "team budgets and cost per team"),
    (DEPLOYMENT_ENVIRONMENT, "environment", "the environment filter on every dashboard"),
)
