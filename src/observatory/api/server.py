"""`observatory api`: the GraphQL schema over HTTP (an ASGI app on uvicorn), behind bearer tokens.

- `POST /graphql` (and GET for queries): every request needs `Authorization: Bearer <token>`, compared
  by its SHA-256 digest in constant time with each accepted token's; without one, or with a wrong one,
  401. Tokens come from a file (one per line, for rotation) or an environment variable, never from the
  command line or a default. Without any, the API starts only on a loopback address and only with
  `--insecure-loopback`, which says so.
- `GET /healthz`: the process answers. `GET /readyz`: the database answers a query too.
- The database is read through its own role (`observatory_api`), with a statement timeout and read-only
  transactions set on every pooled connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from strawberry.asgi import GraphQL

from observatory import names
from observatory.api.schema import SCHEMA, Context
from observatory.spec.types import Spec

log = logging.getLogger(__name__)

ENV_TOKEN = names.ENV_API_TOKEN
ENV_DSN = names.ENV_API_DATABASE_URL
ENV_PROMETHEUS = names.ENV_API_PROMETHEUS_URL
ENV_TEMPO = names.ENV_API_TEMPO_URL
STATEMENT_TIMEOUT_MS = 5000

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ApiConfigError(Exception):
    """The API cannot start as configured; the message says what to change."""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_tokens(token_file: Path | None, env: MutableMapping[str, str] | None = None) -> list[bytes]:
    """The accepted tokens' digests: the file's non-empty lines, else $OBSERVATORY_API_TOKEN."""
    env = os.environ if env is None else env
    if token_file is not None:
        try:
            lines = token_file.read_text().splitlines()
        except OSError as err:
            raise ApiConfigError(f"--token-file {token_file}: {err.strerror}") from None
        tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not tokens:
            raise ApiConfigError(f"--token-file {token_file} holds no token")
    else:
        tokens = [env[ENV_TOKEN].strip()] if env.get(ENV_TOKEN, "").strip() else []
    short = [t for t in tokens if len(t) < 16]
    if short:
        raise ApiConfigError(f"an API token must be at least 16 characters; {len(short)} is shorter")
    return [digest(t) for t in tokens]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, tokens: list[bytes], insecure_loopback: bool) -> None:
    if tokens:
        return
    if not insecure_loopback:
        raise ApiConfigError(
            f"no API token: set {ENV_TOKEN} or give --token-file (or, on a loopback address only,"
            " --insecure-loopback to serve without one)"
        )
    if not is_loopback(host):
        raise ApiConfigError(f"--insecure-loopback serves without a token on loopback only, not on {host}")


def authorised(header: str | None, tokens: list[bytes]) -> bool:
    if not tokens:
        return True  # --insecure-loopback
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    got = digest(token.strip())
    return any(hmac.compare_digest(got, t) for t in tokens)  # every one compared: no early exit


@dataclass
class App:
    """The ASGI app: health endpoints, then the token check, then GraphQL."""

    pool: ConnectionPool
    spec: Spec
    tokens: list[bytes]
    prometheus_url: str | None = None
    tempo_url: str | None = None

    def __post_init__(self) -> None:
        context = Context(self.pool, self.spec, self.prometheus_url, self.tempo_url)

        class _GraphQL(GraphQL[Context, None]):
            async def get_context(self, request: Any, response: Any) -> Context:
                return context

        self.graphql = _GraphQL(SCHEMA, graphql_ide=None, allow_queries_via_get=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/") or "/"
        if path == "/healthz":
            await _text(send, 200, "ok")
        elif path == "/readyz":
            ready = await self._ready()
            await _text(send, 200 if ready else 503, "ok" if ready else "database unavailable")
        elif path != "/graphql":
            await _text(send, 404, "not found: the API is at /graphql")
        elif not authorised(_header(scope, b"authorization"), self.tokens):
            await _json(
                send,
                401,
                {"errors": [{"message": "missing or wrong bearer token"}]},
                [(b"www-authenticate", b'Bearer realm="observatory"')],
            )
        else:
            await self.graphql(scope, receive, send)

    async def _ready(self) -> bool:
        def ping() -> bool:
            try:
                with self.pool.connection(timeout=2) as conn:
                    conn.execute("SELECT 1")
                return True
            except Exception:
                return False

        return await asyncio.to_thread(ping)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _text(send: Send, status: int, body: str) -> None:
    await _respond(send, status, body.encode() + b"\n", b"text/plain; charset=utf-8", [])


async def _json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    await _respond(send, status, json.dumps(body).encode(), b"application/json", headers)


async def _respond(
    send: Send, status: int, body: bytes, kind: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def configure(conn: psycopg.Connection) -> None:
    """Every pooled connection: read-only, a statement timeout, no JIT (its compile time outweighs
    these short queries)."""
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SET jit = off")
    conn.commit()


def make_pool(dsn: str, size: int = 8) -> ConnectionPool:
    return ConnectionPool(
        dsn,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "prepare_threshold": None},
        configure=configure,
        open=True,
    )


@dataclass(frozen=True)
class Backends:
    """Where latency and traces come from; either may be absent (the query then says so)."""

    prometheus_url: str | None = None
    tempo_url: str | None = None


def run(spec: Spec, dsn: str, host: str, port: int, tokens: list[bytes], backends: Backends) -> int:
    import uvicorn

    pool = make_pool(dsn)
    app = App(pool, spec, tokens, backends.prometheus_url, backends.tempo_url)
    if not tokens:
        log.warning("serving without a token on %s (--insecure-loopback)", host)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="on")
    return 0
