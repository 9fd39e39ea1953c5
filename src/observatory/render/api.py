"""The query API's GraphQL schema (SDL), committed so a change to it shows in review and clients can
generate code from it; `render --check` fails when it is stale."""

from __future__ import annotations

from observatory.render.artifact import Artifact
from observatory.spec.types import Spec

SDL_PATH = "stack/api/schema.graphql"


def render(spec: Spec) -> list[Artifact]:
    from observatory.api.schema import sdl

    return [Artifact(SDL_PATH, sdl(), "text")]
