"""The per-request database's migration files: `V<nnn>__*.sql` and `R__*.sql` under stack/<engine>/.

The SQL itself is `observatory.sql.schema`'s; this module only names the files. Files named
`V<nnn>__*.sql` are versioned migrations (applied once, never edited: a change is a new file);
`R__*.sql` files hold what the spec decides (policies, grants) and are applied every time.
`observatory.storage.migrate` runs exactly these texts.
"""

from __future__ import annotations

from observatory.render.artifact import Artifact
from observatory.spec.types import Spec
from observatory.sql.schema import migrations


def folder(spec: Spec) -> str:
    return "stack/timescaledb" if spec.storage.engine == "timescaledb" else "stack/postgres"


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(f"{folder(spec)}/{m.filename}", m.text, "sql") for m in migrations(spec)]
