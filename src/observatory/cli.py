"""The `observatory` command: parses arguments and calls the package; no logic of its own.

Exit status: 0 ok, 1 the spec is invalid or the generated files are stale, 2 a usage error.
The spec is `--spec PATH` before or after the command (`validate` and `render` also take it as their
argument); a command line that names two different specs is a usage error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from observatory import __version__, names, writer
from observatory.render import RenderError, editor, render_files
from observatory.render.artifact import to_json
from observatory.spec import Spec, SpecInvalid, load
from observatory.spec.load import SpecError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
ENV_DSN = "OBSERVATORY_DATABASE_URL"
SPEC_HELP = "the spec file (default: ./observatory.yaml, or the built-in default if absent)"


class UsageError(Exception):
    """The command line lacks something the command needs."""


def _cmd_validate(spec: Spec, args: argparse.Namespace) -> int:
    if args.format == "json":
        print(json.dumps({"file": spec.source, "valid": True, "problems": []}, indent=2))
    else:
        print(f"{spec.source}: valid")
    return EXIT_OK


def _problems_json(errors: list[SpecError], source: str) -> str:
    """The problems as editors read them: a JSON object with one entry per problem (1-based line and
    column, the dotted path in the spec, the message, the severity)."""
    problems = [
        {
            "file": e.file or source,
            "line": e.line,
            "column": e.column,
            "path": e.path,
            "message": e.message,
            "severity": "error",
        }
        for e in errors
    ]
    return json.dumps({"file": source, "valid": False, "problems": problems}, indent=2)


def _cmd_render(spec: Spec, args: argparse.Namespace) -> int:
    files = render_files(spec)
    report = writer.sync(Path(args.root), files, check=args.check)
    if args.format == "json":
        stale = args.check and report.changed
        listing = {"created": report.created, "updated": report.updated, "deleted": report.deleted}
        data = {"check": args.check, "stale": stale, **listing, "unchanged": len(report.unchanged)}
        print(json.dumps(data, indent=2))
        return EXIT_INVALID if stale else EXIT_OK
    if args.check:
        if report.changed:
            sys.stdout.write(report.diff)
            print(
                f"generated files are stale ({report.summary()}); run `make render` (observatory render) "
                "and commit the result",
                file=sys.stderr,
            )
            return EXIT_INVALID
        print(f"generated files are up to date ({len(report.unchanged)} files)")
        return EXIT_OK
    for label, paths in (
        ("created", report.created),
        ("updated", report.updated),
        ("deleted", report.deleted),
    ):
        for path in paths:
            print(f"{label:8} {path}")
    print(report.summary())
    return EXIT_OK


def _cmd_show(spec: Spec, args: argparse.Namespace) -> int:
    files = render_files(spec)
    if args.list:
        print("\n".join(sorted(files)))
        return EXIT_OK
    if args.file is None:
        raise UsageError("name a generated file, or give --list to print them all")
    if args.file not in files:
        close = difflib.get_close_matches(args.file, sorted(files), n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]}?" if close else f"; generated files: {', '.join(sorted(files))}"
        print(f"observatory show: {args.file} is not a generated file{hint}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(files[args.file].decode("utf-8"))
    return EXIT_OK


def _dsn(args: argparse.Namespace) -> str:
    dsn: str | None = args.dsn or os.environ.get(ENV_DSN)
    if not dsn:
        raise UsageError(f"give --dsn or set {ENV_DSN} (a postgresql:// URL; keep its password out of files)")
    return dsn


def _cmd_migrate(spec: Spec, args: argparse.Namespace) -> int:
    import psycopg

    from observatory.storage.migrate import MigrationError, migrate

    try:
        with psycopg.connect(_dsn(args)) as conn:
            report = migrate(
                conn,
                spec,
                os.environ.get(names.ENV_DB_READER_PASSWORD),
                os.environ.get(names.ENV_DB_API_PASSWORD),
            )
    except (psycopg.Error, MigrationError) as err:
        print(f"observatory migrate: {err}", file=sys.stderr)
        return EXIT_INVALID
    for label, files in (
        ("applied", report.applied),
        ("unchanged", report.unchanged),
        ("re-applied", report.repeated),
    ):
        for name in files:
            print(f"{label:10} {name}")
    return EXIT_OK


def _cmd_maintain(spec: Spec, args: argparse.Namespace) -> int:
    import psycopg

    from observatory.storage.backfill import backfill
    from observatory.storage.maintain import maintain

    if args.backfill is not None and args.backfill[0] >= args.backfill[1]:
        raise UsageError(
            f"--backfill FROM TO: FROM ({args.backfill[0]}) must be before TO ({args.backfill[1]})"
        )
    try:
        with psycopg.connect(_dsn(args), autocommit=True) as conn:
            report = maintain(conn, spec) if args.backfill is None else backfill(conn, spec, *args.backfill)
    except psycopg.Error as err:
        print(f"observatory maintain: {err}", file=sys.stderr)
        return EXIT_INVALID
    print(report.summary())
    return EXIT_OK


def _ingest_limits_wrong(args: argparse.Namespace) -> list[str]:
    """Every ingest limit that cannot work, each naming its flag: a timeout of 0 makes every socket
    non-blocking, a negative age refuses every span, a zero queue or batch never writes."""
    at_least = [
        ("--max-body-bytes", args.max_body_bytes, 1),
        ("--max-queue-rows", args.max_queue_rows, 1),
        ("--max-inflight-requests", args.max_inflight_requests, 1),
        ("--max-connections", args.max_connections, 1),
        ("--max-inflight-bytes", args.max_inflight_bytes, 1),
        ("--batch-rows", args.batch_rows, 1),
        ("--decode-workers", args.decode_workers, 0),
        ("--max-future-seconds", args.max_future_seconds, 0),
    ]
    if args.max_age_days is not None:
        at_least.append(("--max-age-days", args.max_age_days, 1))
    wrong = [f"{flag} must be >= {low}, got {value:g}" for flag, value, low in at_least if not value >= low]
    # Finite too: a socket cannot wait for ever by a timeout (settimeout(inf) raises OverflowError).
    if not 0 < args.socket_timeout_seconds < math.inf:
        wrong.append(f"--socket-timeout-seconds must be > 0 and finite, got {args.socket_timeout_seconds:g}")
    return wrong


def _cmd_ingest(spec: Spec, args: argparse.Namespace) -> int:
    from observatory.ingest import server
    from observatory.ingest.convert import native_missing

    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        raise UsageError(f"--listen wants host:port, got {args.listen!r}")
    if args.decoder == "native" and (why := native_missing()):
        raise UsageError(why)
    if wrong := _ingest_limits_wrong(args):
        raise UsageError("; ".join(wrong))
    options = server.Options(
        dsn=_dsn(args),
        host=host or "0.0.0.0",
        port=int(port),
        max_body_bytes=args.max_body_bytes,
        max_queue_rows=args.max_queue_rows,
        max_inflight_requests=args.max_inflight_requests,
        max_connections=args.max_connections,
        max_inflight_bytes=args.max_inflight_bytes,
        decode_workers=args.decode_workers,
        decoder=args.decoder,
        batch_rows=args.batch_rows,
        max_age_days=args.max_age_days,
        max_future_seconds=args.max_future_seconds,
        socket_timeout_seconds=args.socket_timeout_seconds,
        migrate=not args.no_migrate,
        maintain_interval_seconds=args.maintain_interval_seconds,
        reader_password=os.environ.get(names.ENV_DB_READER_PASSWORD),
        api_password=os.environ.get(names.ENV_DB_API_PASSWORD),
    )
    return server.run(spec, options)


def _cmd_demo(spec: Spec, args: argparse.Namespace) -> int:
    from observatory import demo
    from observatory.local.stack import DEFAULT_STATE_DIR

    if args.traces < 1 or (args.rate is not None and args.rate <= 0):
        raise UsageError("--traces must be >= 1 and --rate > 0")
    endpoint, logs, note = demo.target(args.endpoint, not args.no_logs, DEFAULT_STATE_DIR)
    print(f"observatory demo: {note}", file=sys.stderr)
    options = demo.Options(endpoint=endpoint, traces=args.traces, rate=args.rate, seed=args.seed, logs=logs)
    try:
        traffic, report = demo.send(spec, options)
    except demo.DemoError as err:
        print(f"observatory demo: {err}", file=sys.stderr)
        return EXIT_INVALID
    if args.manifest:
        demo.write_manifest(args.manifest, traffic, options, report)
    print(report.summary())
    return EXIT_OK


def _cmd_local(spec: Spec, args: argparse.Namespace) -> int:
    from observatory.local import stack

    state_dir = Path(args.state_dir)
    if args.fresh and args.action != "up":
        raise UsageError("--fresh goes with `local up` (it deletes the data the next up would reuse)")
    if args.action == "up":
        try:
            state = stack.up(Path(args.root).resolve(), spec, state_dir.resolve(), fresh=args.fresh)
        except (stack.StackError, TimeoutError, RuntimeError) as err:
            print(f"observatory local up: {err}", file=sys.stderr)
            return EXIT_INVALID
        print(stack.describe(state))
    elif args.action == "down":
        stopped = stack.down(state_dir, sys.stdout)
        print(f"stopped {len(stopped)} processes" if stopped else "no local stack was running")
        if stopped:
            print(f"its data stays in {state_dir} for the next up (local up --fresh deletes it)")
    else:
        services = stack.status(state_dir)
        for name, alive in services.items():
            print(f"{name:13} {'running' if alive else 'stopped'}")
        if not services:
            print("no local stack is running")
        return EXIT_OK if services and all(services.values()) else EXIT_INVALID
    return EXIT_OK


def _cmd_push(spec: Spec, args: argparse.Namespace) -> int:
    from observatory import push

    env = os.environ
    try:
        target = push.target_from(
            args.url or env.get(push.ENV_URL),
            args.token or env.get(push.ENV_TOKEN),
            args.user or env.get(push.ENV_USER),
            env.get(push.ENV_PASSWORD),
        )
        urls = dict(item.partition("=")[::2] for item in args.datasource_url)
        report = push.push(spec, target, env, overwrite=args.overwrite, urls=urls)
    except push.PushError as err:
        print(f"observatory push: {err}", file=sys.stderr)
        return EXIT_INVALID
    for status, kind, name in report.lines:
        print(f"{status:9} {kind:10} {name}")
    print(report.summary())
    return EXIT_OK


def _cmd_proxy(spec: Spec, args: argparse.Namespace) -> int:
    from observatory import proxy

    try:
        proxy.exec_proxy(spec, args.listen or f"127.0.0.1:{spec.ports.proxy}", args.otlp_endpoint)
    except proxy.ProxyNotBuilt as err:
        raise UsageError(str(err)) from None
    return EXIT_OK  # not reached: the proxy replaced this process


def _cmd_api(spec: Spec, args: argparse.Namespace) -> int:
    from observatory.api import server

    host, _, port = args.listen.rpartition(":")
    if not port.isdigit() or not host:
        raise UsageError(f"--listen wants host:port, got {args.listen!r}")
    dsn = args.dsn or os.environ.get(server.ENV_DSN) or os.environ.get(ENV_DSN)
    if not dsn:
        raise UsageError(f"give --dsn or set {server.ENV_DSN} (a postgresql:// URL for the API's own role)")
    try:
        tokens = server.load_tokens(args.token_file)
        server.check_exposure(host, tokens, args.insecure_loopback)
    except server.ApiConfigError as err:
        raise UsageError(str(err)) from None
    backends = server.Backends(
        args.prometheus_url or os.environ.get(server.ENV_PROMETHEUS),
        args.tempo_url or os.environ.get(server.ENV_TEMPO),
    )
    return server.run(spec, dsn, host, int(port), tokens, backends)


def _cmd_report(spec: Spec, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import psycopg

    from observatory.api import report
    from observatory.api.store import QueryError
    from observatory.local.stack import DEFAULT_STATE_DIR, running_state

    try:
        since = report.parse_since(args.since)
    except ValueError as err:
        raise UsageError(str(err)) from None
    dsn = args.dsn or os.environ.get(ENV_DSN)
    if not dsn and (state := running_state(DEFAULT_STATE_DIR)) is not None:
        dsn = state.get("database_url")
    dsn = dsn or _compose_database_url(Path("."))
    if not dsn:
        raise UsageError(f"give --dsn or set {ENV_DSN}, or start the stack (make up) here")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            built = report.build(conn, spec, datetime.now(UTC), since)
    except (psycopg.Error, QueryError) as err:
        print(f"observatory report: {err}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(report.to_json(built) if args.format == "json" else report.to_table(built))
    return EXIT_OK


def _compose_database_url(root: Path) -> str | None:
    """The compose stack's published database, as the query API's read-only role, from the checkout's
    settings and secrets (`make up` writes both); None when either is missing."""
    from observatory.local import env_file
    from observatory.render.compose_env import SETTINGS_ENV

    settings, secrets = env_file.read(root / SETTINGS_ENV), env_file.read(root / ".env")
    password = secrets.get(names.ENV_DB_API_PASSWORD)
    if not password or "TIMESCALEDB_PORT" not in settings:
        return None
    host = settings.get("BIND_ADDRESS", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    database = settings.get("POSTGRES_DB", names.DB_NAME)
    return f"postgresql://{names.DB_API_USER}:{password}@{host}:{settings['TIMESCALEDB_PORT']}/{database}"


def _cmd_schema(args: argparse.Namespace) -> int:
    # The bytes `render` commits into the VS Code extension (editors/vscode/schema/).
    sys.stdout.write(to_json(editor.json_schema()))
    return EXIT_OK


def _cmd_panels(spec: Spec, args: argparse.Namespace) -> int:
    from observatory.render.dashboards import panel_index

    index = panel_index(spec)
    if args.format == "json":
        print(json.dumps({"dashboards": index}, indent=2))
        return EXIT_OK
    for board in index:
        if not board["enabled"]:
            print(f"{board['name']}: disabled")
            continue
        print(f"{board['name']}: {board['file']}")
        for panel in board["panels"]:
            print(f"  {panel['id']:>3}  {panel['slug']:38} {panel['title']}")
        for slug in board["hidden"]:
            print(f"  {'-':>3}  {slug:38} (hidden by the spec)")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="observatory", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"observatory {__version__}")
    parser.add_argument("--spec", type=Path, default=None, help=SPEC_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = sub.add_parser("validate", help="check the spec and report every problem")
    _spec_argument(validate)
    validate.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: one object with every problem's file, line, column, path, message, severity",
    )
    render = sub.add_parser("render", help="write the generated folders from the spec")
    _spec_argument(render)
    render.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if the committed files are stale",
    )
    render.add_argument("--root", default=".", help="repository root to write into (default: .)")
    render.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the files created, updated and deleted (with --check: what would be) as one object",
    )
    show = sub.add_parser("show", help="print one generated file as the spec renders it now")
    show.add_argument("file", nargs="?", help="a generated path, e.g. stack/prometheus/prometheus.yml")
    show.add_argument("--list", action="store_true", help="print the path of every generated file instead")
    panels = sub.add_parser("panels", help="list each dashboard's file and its panels: slug, id, title")
    panels.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: every dashboard with its file, drawn panels (slug, title, id) and hidden slugs",
    )
    sub.add_parser("schema", help="print the JSON Schema of the spec, for editors")
    for name, text in (
        ("migrate", "apply the database schema and policies (idempotent)"),
        ("maintain", "postgres storage: partitions, rollups, retention; --backfill: rollups of past days"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--dsn", help=f"postgresql:// URL (default: ${ENV_DSN})")
    sub.choices["maintain"].add_argument(
        "--backfill",
        nargs=2,
        type=date.fromisoformat,
        metavar=("FROM", "TO"),
        help="either engine, instead of maintenance: recompute the rollups over the UTC days [FROM, TO)"
        " (YYYY-MM-DD) where raw rows are still kept and buckets are complete; says what it skipped",
    )
    from observatory.ingest.server import add_arguments

    add_arguments(sub.add_parser("ingest", help="serve OTLP/HTTP traces and write one row per LLM request"))
    _demo_parser(sub.add_parser("demo", help="send synthetic LLM traffic to a stack; write its ground truth"))
    _push_parser(
        sub.add_parser("push", help="push the dashboards, their folder and datasources to a Grafana")
    )
    _api_parser(sub.add_parser("api", help="serve the GraphQL query API over the store (bearer tokens)"))
    llm_proxy = sub.add_parser(
        "proxy", help="run the OpenAI- and Anthropic-compatible LLM proxy (the spec's proxy section)"
    )
    llm_proxy.add_argument("--listen", help="host:port (default: 127.0.0.1 and the spec's ports.proxy)")
    llm_proxy.add_argument(
        "--otlp-endpoint",
        default="http://127.0.0.1:4318",
        help="the collector's OTLP/HTTP base URL; spans go to /v1/traces (default: http://127.0.0.1:4318)",
    )
    report = sub.add_parser("report", help="print spend, latency, errors and budgets for a recent window")
    report.add_argument(
        "--since", default="24h", help="the window ending now: 30m, 24h, 7d, 2w (default: 24h)"
    )
    report.add_argument("--format", choices=("table", "json"), default="table")
    report.add_argument(
        "--dsn", help=f"postgresql:// URL (default: ${ENV_DSN}, else the running local stack's database)"
    )
    local = sub.add_parser("local", help="run the stack as local processes, without Docker")
    local.add_argument("action", choices=("up", "down", "status"))
    local.add_argument("--state-dir", default=".cache/local-stack", help="where state.json and logs go")
    local.add_argument("--root", default=".", help="repository root with the rendered files (default: .)")
    local.add_argument(
        "--fresh",
        action="store_true",
        help="up: delete the data earlier runs kept (database, Prometheus, Alertmanager, collector queue)",
    )
    for name, command in sub.choices.items():
        if name != "schema":  # every command but `schema` reads the spec
            command.add_argument(
                "--spec", dest="spec_after", type=Path, default=None, metavar="SPEC", help=SPEC_HELP
            )
    return parser


def _spec_argument(command: argparse.ArgumentParser) -> None:
    """The spec as an optional positional argument, for the commands a new user runs first."""
    command.add_argument("spec_file", nargs="?", type=Path, default=None, metavar="SPEC", help=SPEC_HELP)


def _spec_path(args: argparse.Namespace) -> Path | None:
    """The one spec the command line names, or None for the default; a usage error if it names two."""
    given = [
        (f"--spec {value}", value)
        for value in (args.spec, getattr(args, "spec_after", None))
        if value is not None
    ]
    if (positional := getattr(args, "spec_file", None)) is not None:
        given.append((str(positional), positional))
    if len({value.resolve() for _, value in given}) > 1:
        raise UsageError(
            f"the command line names different specs: {' and '.join(what for what, _ in given)}; give one"
        )
    return given[0][1] if given else None


def _push_parser(push: argparse.ArgumentParser) -> None:
    # No --password flag: a command line is visible to every user of the machine; the environment is not.
    push.add_argument("--url", help="Grafana base URL (default: $GRAFANA_URL)")
    push.add_argument("--token", help="service-account token (default: $GRAFANA_TOKEN; prefer the variable)")
    push.add_argument("--user", help="basic-auth user (default: $GRAFANA_USER; password: $GRAFANA_PASSWORD)")
    push.add_argument(
        "--datasource-url",
        action="append",
        default=[],
        metavar="UID=URL",
        help="point a datasource at a URL that Grafana can reach (repeatable), e.g. prometheus=https://prom:9090",
    )
    push.add_argument(
        "--overwrite",
        action="store_true",
        help="replace dashboards even if they changed in Grafana since read",
    )


def _api_parser(api: argparse.ArgumentParser) -> None:
    from observatory.api.server import ENV_DSN as API_DSN
    from observatory.api.server import ENV_TOKEN

    api.add_argument("--listen", default="127.0.0.1:8090", help="host:port (default: 127.0.0.1:8090)")
    api.add_argument("--dsn", help=f"postgresql:// URL of the API's read-only role (default: ${API_DSN})")
    api.add_argument(
        "--token-file",
        type=Path,
        help=f"accepted bearer tokens, one per line (default: ${ENV_TOKEN}); no token, no start",
    )
    api.add_argument(
        "--prometheus-url",
        help="Prometheus base URL, for latency (default: $OBSERVATORY_API_PROMETHEUS_URL; none: no latency)",
    )
    api.add_argument(
        "--tempo-url",
        help="Tempo base URL, for traces by id (default: $OBSERVATORY_API_TEMPO_URL; none: no traces)",
    )
    api.add_argument(
        "--insecure-loopback",
        action="store_true",
        help="serve without a token; only on a loopback address, for a first try on one machine",
    )


def _demo_parser(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--endpoint",
        help="OTLP/HTTP base URL (default: the running local stack's, else http://127.0.0.1:4318)",
    )
    demo.add_argument("--traces", type=int, default=1000, help="application traces to send (default: 1000)")
    demo.add_argument(
        "--rate", type=float, default=None, help="traces per second (default: as fast as taken)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed sends the same traffic")
    demo.add_argument("--no-logs", action="store_true", help="send traces only")
    demo.add_argument("--manifest", type=Path, help="write the ground truth (totals, trace ids) as JSON here")


COMMANDS: dict[str, Callable[[Spec, argparse.Namespace], int]] = {
    "validate": _cmd_validate,
    "render": _cmd_render,
    "show": _cmd_show,
    "panels": _cmd_panels,
    "migrate": _cmd_migrate,
    "ingest": _cmd_ingest,
    "maintain": _cmd_maintain,
    "demo": _cmd_demo,
    "local": _cmd_local,
    "push": _cmd_push,
    "api": _cmd_api,
    "proxy": _cmd_proxy,
    "report": _cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        return _cmd_schema(args)
    try:
        path = _spec_path(args)
    except UsageError as err:
        print(f"observatory {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        spec = load(path)
    except SpecInvalid as invalid:
        if args.command in ("validate", "render") and args.format == "json":
            print(_problems_json(invalid.errors, str(path or "observatory.yaml")))
            return EXIT_INVALID
        for error in invalid.errors:
            print(error, file=sys.stderr)
        count = len(invalid.errors)
        print(f"{count} problem{'s' if count != 1 else ''} in the spec", file=sys.stderr)
        return EXIT_INVALID
    try:
        return COMMANDS[args.command](spec, args)
    except RenderError as err:
        print(f"observatory: {err}", file=sys.stderr)
        return EXIT_INVALID
    except UsageError as err:
        print(f"observatory {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
