"""The ingester's HTTP service: OTLP/HTTP traces in, rows out, health, readiness and metrics.

POST /v1/traces takes protobuf or JSON, optionally gzip. Answers: 200 once the request's rows are
committed, with OTLP's partial success (rejected_spans and the reasons) when some spans could not be
stored (malformed, values that cannot be true, rows the database refuses); 400 when the body cannot be
read at all, 408 a body that does not arrive in time, 411 no length, 413 too large, 415 wrong content
type or encoding, 503 with Retry-After when the queue is full, the database is down or the service is
stopping. POST /v1/logs takes user feedback the same way (`observatory.ingest.feedback`): ratings
stored and committed before the 200. GET /healthz (alive), /readyz (database reachable and taking
rows), /metrics.
SIGTERM stops intake, finishes what was accepted, then exits.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from typing import Any

import psycopg
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from observatory.ingest import decode, feedback
from observatory.ingest.convert import DECODERS, Converted, convert
from observatory.ingest.metrics import Metrics
from observatory.ingest.rows import Window
from observatory.ingest.writer import Writer
from observatory.spec.types import Spec
from observatory.storage.migrate import MigrationError, migrate

log = logging.getLogger("observatory.ingest")
RETRY_AFTER_SECONDS = 5
_LAST_NS = 2**64 - 1  # the latest start time a span can carry (fixed64 nanoseconds since 1970)
_M_ARENA_MAX = -8  # mallopt's parameter number for the arena cap (glibc malloc.h)


@dataclass(frozen=True)
class Options:
    dsn: str
    host: str = "0.0.0.0"
    port: int = 8088
    max_body_bytes: int = 16 * 2**20  # the collector's default batch is far smaller
    max_decompressed_bytes: int = 64 * 2**20
    # Memory is bounded by these two: rows waiting for the database, and requests being decoded or
    # waiting for their commit (each holds its body and rows). Past them the answer is 503.
    max_queue_rows: int = 50_000
    max_inflight_requests: int = 32
    # Connections open at once, each served by a thread of its own (an idle one, or one that is still
    # sending its headers, costs a thread too); past it a new connection is answered 503 and closed.
    max_connections: int = 1024
    # Bytes of request bodies held at once (as received). With the count above alone, 32 bodies of
    # the largest size would hold 512 MiB; the collector's batches are about 150 KiB gzipped.
    max_inflight_bytes: int = 64 * 2**20
    batch_rows: int = 10_000
    # Processes that decode bodies into rows (0: in the request's thread). The native decoder releases
    # the GIL, so request threads decode in parallel and processes only add memory (measured in
    # docs/BENCHMARKS.md); the python decoder needs processes to use more than one core.
    decode_workers: int = 0
    decoder: str = "native"  # or "python": the reference decoder (ingest/convert.py)
    write_timeout_seconds: float = 30
    # A connection that sends nothing for this long is closed, and a body must arrive whole within
    # this long of its headers (at 16 MiB, the largest body, that is about 0.5 MiB/s).
    socket_timeout_seconds: float = 30
    # Rows may start this far back (default: the raw rows' retention, spec.retention.requests
    # warm_days) and this far ahead (clocks disagree; a span from the future is a broken clock).
    max_age_days: int | None = None
    max_future_seconds: float = 600
    migrate: bool = True
    maintain_interval_seconds: float = 300
    reader_password: str | None = None
    api_password: str | None = None  # the query API's role's


class ByteBudget:
    """Bytes held by requests at once; one request is always let in, however large (up to the body
    limit), so a single large body is slow, never refused for ever."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used and self.used + size > self.limit:
                return False
            self.used += size
            return True

    def grow(self, size: int, own: int) -> bool:
        """More bytes for a request already holding `own`: granted within the limit, or whatever
        the size when that request is the only one holding any (as `take` lets one in)."""
        with self._lock:
            if self.used > own and self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


class Service:
    def __init__(self, spec: Spec, options: Options) -> None:
        self.spec, self.options = spec, options
        self.metrics = Metrics()
        self.writer = Writer(
            options.dsn,
            spec.storage.engine == "postgres",
            self.metrics,
            options.max_queue_rows,
            options.batch_rows,
        )
        self.ratings = feedback.Store(
            options.dsn,
            lambda n: self.metrics.inc(
                "ingester_ratings_matched_total", "Ratings joined to the request they rate", n
            ),
        )
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.fatal: str | None = None  # set when the service cannot go on (e.g. a failed migration)
        self.inflight = threading.BoundedSemaphore(options.max_inflight_requests)
        self.body_bytes = ByteBudget(options.max_inflight_bytes)
        self.metrics.gauge(
            "ingester_inflight_body_bytes", "Bytes of request bodies held now", lambda: self.body_bytes.used
        )
        # Decoding in request threads: as many at a time as there are cores. More would not go faster
        # (it is CPU work), and each holds a decompressed body, its parse and its rows in memory,
        # while a request waiting here holds only its body as received.
        self._decoding = threading.BoundedSemaphore(len(os.sched_getaffinity(0)))
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.max_age_days = (
            options.max_age_days if options.max_age_days is not None else spec.retention.requests.warm_days
        )
        self.server = _Server(
            (options.host, options.port),
            _handler(self),
            options.max_connections,
            lambda: self.reject("too_many_connections"),
        )
        self.server.daemon_threads = False  # shutdown waits for requests in flight
        self.server.block_on_close = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def window(self) -> Window:
        """The start times rows may have now, within what a start time can be (an unsigned 64-bit
        count of nanoseconds): unclamped, a horizon of 30,000 days or a future of 1e30 seconds
        overflowed the native decoder's arguments and every request's thread died unanswered."""
        now = time.time_ns()
        ahead = min(self.options.max_future_seconds * 10**9, _LAST_NS - now)
        return Window(max(0, now - self.max_age_days * 86_400 * 10**9), now + int(ahead))

    def convert(
        self, body: bytes, media: str, encoding: str, charge: Callable[[int], bool] | None = None
    ) -> Converted:
        """The request's rows as COPY data, converted in a worker process when there are workers.
        A gzip body is inflated here first, its bytes charged to the request (`charge`)."""
        if encoding == "gzip":
            body, encoding = decode.gunzip(body, self.options.max_decompressed_bytes, charge), "identity"
        args = (
            body,
            media,
            encoding,
            self.options.max_decompressed_bytes,
            self.options.decoder,
            self.window(),
        )
        if self.options.decode_workers <= 0:
            with self._decoding:
                return convert(*args)
        with self._pool_lock:
            if self._pool is None:
                # spawn, not fork: this process has threads, and a forked copy of a held lock deadlocks.
                self._pool = ProcessPoolExecutor(self.options.decode_workers, mp_context=get_context("spawn"))
            pool = self._pool
        try:
            return pool.submit(convert, *args).result()
        except BrokenProcessPool:
            with self._pool_lock:  # a worker died (killed, out of memory): start a fresh pool next time
                if self._pool is pool:
                    self._pool = None
            raise

    def warm_decoders(self) -> None:
        """Start every decoding process now, so the first requests do not wait for them."""
        if self.options.decode_workers <= 0:
            return
        self.convert(b"", decode.PROTOBUF, "identity")  # creates the pool
        assert self._pool is not None
        # Submitted together, so the pool has to start a process for each.
        args = (b"", decode.PROTOBUF, "identity", 1, self.options.decoder)
        for future in [self._pool.submit(convert, *args) for _ in range(self.options.decode_workers)]:
            future.result()

    def reject(self, reason: str) -> None:
        self.metrics.inc("ingester_requests_rejected_total", "Requests refused, by reason", reason=reason)

    def prepare_database(self) -> None:
        """Migrate (retrying while the database is not up yet), then start writing."""
        delay = 1.0
        while self.options.migrate and not self.stopping.is_set():
            try:
                with psycopg.connect(self.options.dsn, connect_timeout=5) as conn:
                    migrate(conn, self.spec, self.options.reader_password, self.options.api_password)
                break
            except psycopg.OperationalError as err:
                log.warning("database not reachable for migration, retrying in %.0fs: %s", delay, err)
                self.stopping.wait(delay)
                delay = min(delay * 2, 30)
            except (psycopg.Error, MigrationError) as err:
                self.fatal = f"migration failed: {err}"
                return
        self.warm_decoders()
        self.writer.start()
        threading.Thread(
            target=self.ratings.match_forever, args=(self.stopping,), name="match-ratings", daemon=True
        ).start()
        self.ready.set()

    def maintain_forever(self) -> None:
        from observatory.storage.maintain import maintain

        while not self.stopping.wait(self.options.maintain_interval_seconds):
            try:
                with psycopg.connect(self.options.dsn, autocommit=True, connect_timeout=5) as conn:
                    log.info("maintenance: %s", maintain(conn, self.spec).summary())
            except psycopg.Error as err:
                log.warning("maintenance failed, will retry: %s", err)

    def serve(self) -> None:
        threading.Thread(target=self.prepare_database, name="migrate", daemon=True).start()
        if self.spec.storage.engine == "postgres" and self.options.maintain_interval_seconds > 0:
            threading.Thread(target=self.maintain_forever, name="maintain", daemon=True).start()
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.stopping.set()
        # Stop accepting. socketserver's shutdown() waits for serve_forever to notice, forever if it
        # never started (a SIGTERM right at start-up), so it gets a few seconds, not more.
        stopper = threading.Thread(target=self.server.shutdown, name="stop-accepting", daemon=True)
        stopper.start()
        stopper.join(5)
        self.server.server_close()  # waits for requests in flight
        self.writer.stop()
        self.ratings.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_READ_CHUNK = 2**20  # bytes per read of a body


class _DeadlineReader(io.RawIOBase):
    """A connection's reads, each given only the time left until `deadline` when one is set: a
    timeout per read alone lets a client that sends a byte now and then hold its connection and
    thread for ever."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline: float | None = None  # time.monotonic() seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request line and headers did not arrive in time")
            self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a burst of collector connections would be refused.
    request_queue_size = 1024
    _BUSY = (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n" % RETRY_AFTER_SECONDS
    )

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        refused: Callable[[], None],
    ) -> None:
        super().__init__(address, handler)
        self._connections = threading.BoundedSemaphore(max_connections)
        self._refused = refused

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection, but not without bound: many connections that send nothing (or
        # trickle) would each hold a thread until their deadline.
        if not self._connections.acquire(blocking=False):
            self._refused()
            with contextlib.suppress(OSError):
                request.sendall(self._BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


def _partial_success(media: str, rejected: int, message: str) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if media == decode.JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def _refusal_message(refused: dict[str, int], notes: dict[str, str], unit: str = "span") -> str:
    """'3 spans refused: 2 bad_id (resource 0 scope 0 span 3), 1 malformed (resource 1 scope 0
    span 0: why)': the count of each reason and where its first span was, short and bounded."""
    total = sum(refused.values())
    parts = ", ".join(
        f"{n} {reason} ({notes[reason][:150]})" if notes.get(reason) else f"{n} {reason}"
        for reason, n in refused.items()
    )
    return f"{total} {unit}{'s' if total != 1 else ''} refused: {parts}"[:1000]


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = service.options.socket_timeout_seconds  # per read and write on the connection

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def setup(self) -> None:
            super().setup()
            self._reader = _DeadlineReader(self.connection)
            self.rfile = io.BufferedReader(self._reader)

        def handle_one_request(self) -> None:
            # The request line and headers must arrive whole within the timeout (the body has a
            # deadline of its own); http.server closes the connection when they do not.
            self._reader.deadline = time.monotonic() + service.options.socket_timeout_seconds
            super().handle_one_request()

        def parse_request(self) -> bool:
            parsed = super().parse_request()  # reads the headers
            self._reader.deadline = None
            self.connection.settimeout(service.options.socket_timeout_seconds)
            return parsed

        def _reply(
            self,
            status: int,
            body: bytes = b"",
            media: str = "text/plain",
            headers: dict[str, str] | None = None,
        ) -> None:
            # The body is done with once the answer is known: its bytes go back to the budget before
            # the answer goes out, or a client sending its next request straight away could find
            # them still held and be told 503 (seen in the fuzz run).
            self._give_back()
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                # Said, so that the client does not send its next request on a connection about to
                # close (it would fail, and a POST is not retried by most clients).
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, b"ok\n")
            elif self.path == "/readyz":
                ok = service.ready.is_set() and service.writer.healthy and not service.stopping.is_set()
                self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            elif self.path == "/metrics":
                self._reply(200, service.metrics.render().encode(), "text/plain; version=0.0.4")
            else:
                self._reply(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path not in ("/v1/traces", "/v1/logs"):
                self._reply(404, b"only /v1/traces and /v1/logs are served\n")
                return
            if service.stopping.is_set():
                # Requests already in flight finish; one that starts after SIGTERM is turned away.
                self.close_connection = True
                self._unavailable("stopping", "the ingester is shutting down")
                return
            if not service.inflight.acquire(blocking=False):
                self.close_connection = True  # the body is not read: the connection cannot be reused
                self._unavailable("busy", "too many requests in flight")
                return
            self._held = self._peak_held = 0
            try:
                self._handle()
            finally:
                self._give_back()
                service.inflight.release()
                if self._peak_held >= TRIM_AFTER_BYTES:
                    release_free_memory()

        def _give_back(self) -> None:
            held = getattr(self, "_held", 0)
            if held:
                self._peak_held = max(self._peak_held, held)
                service.body_bytes.give(held)
                self._held = 0

        def _handle(self) -> None:
            self._body_read = False
            try:
                media, body, encoding = self._read()
                if body is None:
                    self.close_connection = True  # the body is not read: the connection cannot be reused
                    self._unavailable("busy", "too many request bytes in flight")
                    return
                if self.path == "/v1/logs":
                    self._ratings(media, body, encoding)
                    return
                batch = service.convert(body, media, encoding, self._charge)
            except decode.BadRequest as bad:
                if bad.status == 503:
                    self._unavailable("busy", bad.reason)
                    return
                service.reject(
                    {
                        400: "malformed",
                        408: "timeout",
                        411: "no_length",
                        413: "too_large",
                        415: "unsupported",
                    }.get(bad.status, "bad")
                )
                # An unread (or half-read) body would be read as the next request: the connection
                # closes after any answer given before the body was read whole (411, 413, 415, 408).
                self.close_connection = not self._body_read or self.close_connection
                self._reply(bad.status, f"{bad.reason}\n".encode())
                return
            except BrokenProcessPool:
                self._unavailable("decoder_failed", "a decoding process failed")
                return
            self._media = media
            self._accept(batch)

        def _read(self) -> tuple[str, bytes | None, str]:
            """Media type, body (None: not read, the byte budget is spent) and content encoding."""
            media = decode.content_type(self.headers.get("Content-Type"))
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise decode.BadRequest(411, "Content-Length is required")
            if int(length) > service.options.max_body_bytes:
                raise decode.BadRequest(
                    413, f"body of {length} bytes exceeds {service.options.max_body_bytes}"
                )
            encoding = (self.headers.get("Content-Encoding") or "identity").lower()
            if not service.body_bytes.take(int(length)):
                return media, None, encoding
            self._held = int(length)
            body = self._read_body(int(length))
            self._body_read = True
            return media, body, encoding

        def _read_body(self, length: int) -> bytes:
            """The body, which must arrive whole within the socket timeout of its headers: a
            per-read timeout alone lets a client that trickles a byte at a time hold a request
            slot for ever (and 32 such clients turn every other sender away)."""
            limit = service.options.socket_timeout_seconds
            deadline = time.monotonic() + limit
            chunks, received = [], 0
            try:
                while received < length:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    self.connection.settimeout(remaining)
                    # read1: at most one recv, so no read waits past the deadline.
                    chunk = self.rfile.read1(min(length - received, _READ_CHUNK))
                    if not chunk:
                        raise decode.BadRequest(400, f"body ended after {received} of {length} bytes")
                    chunks.append(chunk)
                    received += len(chunk)
            except TimeoutError:
                raise decode.BadRequest(
                    408, f"the body did not arrive within {limit:g} s ({received} of {length} bytes)"
                ) from None
            finally:
                self.connection.settimeout(limit)
            return b"".join(chunks)

        def _charge(self, size: int) -> bool:
            """Counts `size` more bytes (a decompressed chunk) against the in-flight budget."""
            if not service.body_bytes.grow(size, self._held):
                return False
            self._held += size
            return True

        def _ratings(self, media: str, body: bytes, encoding: str) -> None:
            """User feedback: the ratings in a logs export request, stored before the answer."""
            body = decode.inflate(body, encoding, service.options.max_decompressed_bytes, self._charge)
            now = time.time_ns()
            oldest = now - service.spec.retention.requests.cold_days * 86_400 * 10**9
            future = int(min(service.options.max_future_seconds * 10**9, _LAST_NS - now))
            got = feedback.ratings(feedback.parse(body, media), now, oldest, future)
            counted = "Ratings (user feedback) received, by outcome (not_a_rating: another log record)"
            service.metrics.inc("ingester_ratings_total", counted, got.skipped, outcome="not_a_rating")
            for reason, n in got.refused.items():
                service.metrics.inc("ingester_ratings_total", counted, n, outcome=reason)
            if got.rows:
                try:
                    service.ratings.write(got.rows)
                except psycopg.Error as err:
                    log.warning("ratings not stored, the sender will retry: %s", err)
                    self._unavailable("database_down", "the database is unavailable")
                    return
                service.metrics.inc("ingester_ratings_total", counted, len(got.rows), outcome="stored")
            message = _refusal_message(dict(got.refused), got.first, "log record") if got.refused else ""
            refused = sum(got.refused.values())
            self._reply(200, feedback.response(media, refused, message), media)

        def _ok(self, refused: dict[str, int] | None = None, notes: dict[str, str] | None = None) -> None:
            rejected = sum((refused or {}).values())
            message = _refusal_message(refused, notes or {}) if refused else ""
            self._reply(200, _partial_success(self._media, rejected, message), self._media)

        def _unavailable(self, reason: str, why: str) -> None:
            service.reject(reason)
            self._reply(
                503, f"{why}; retry later\n".encode(), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )

        def _accept(self, batch: Converted) -> None:
            service.metrics.inc("ingester_spans_received_total", "Spans received", batch.spans)
            service.metrics.inc(
                "ingester_spans_skipped_total",
                "Spans that are not LLM requests",
                batch.spans - batch.rows - batch.rejected,
            )
            refused = dict(batch.refused)
            notes = dict(batch.first)  # the first span of each reason: where, and why when it does not parse
            for reason, n in refused.items():
                service.metrics.inc(
                    "ingester_spans_refused_total", "Spans refused, by reason", n, reason=reason
                )
            if batch.repaired:
                service.metrics.inc(
                    "ingester_values_repaired_total",
                    "Text values changed to be stored, by rule (nul: NUL became U+FFFD)",
                    batch.repaired,
                    rule="nul",
                )
            if not batch.rows:
                self._ok(refused, notes)
                return
            pending = service.writer.submit(batch)
            if pending is None:
                why = "the write queue is full" if service.writer.healthy else "the database is unavailable"
                self._unavailable("queue_full" if service.writer.healthy else "database_down", why)
                return
            if not pending.done.wait(service.options.write_timeout_seconds):
                self._unavailable("write_failed", "the write did not finish in time")
                return
            if pending.error:
                self._unavailable("write_failed", pending.error)
                return
            if pending.refused_rows:
                reason = "refused_by_database"
                refused[reason], notes[reason] = pending.refused_rows, pending.refused_detail
                service.metrics.inc(
                    "ingester_spans_refused_total",
                    "Spans refused, by reason",
                    pending.refused_rows,
                    reason=reason,
                )
            self._ok(refused, notes)

    return Handler


def command(spec_path: str | os.PathLike[str], listen: str, *flags: str) -> list[str]:
    """The command line that runs `observatory ingest` as a process of its own, on this interpreter."""
    return [
        sys.executable,
        "-m",
        "observatory",
        "--spec",
        str(spec_path),
        "ingest",
        f"--listen={listen}",
        *flags,
    ]


# A request that held this much (a large body, or a bomb inflated to its limit) hands its freed
# memory back to the system: glibc keeps freed heap memory for reuse, so without it every gzip bomb
# left the ingester's resident memory higher (docs/BENCHMARKS.md).
TRIM_AFTER_BYTES = 8 * 2**20


def release_free_memory() -> None:
    """glibc's malloc_trim(0); a no-op off glibc."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        return


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Caps glibc's malloc arenas, unless MALLOC_ARENA_MAX already does; a no-op off glibc.

    glibc gives threads that allocate at the same time heaps of their own, up to 8 per core, and
    memory freed in one heap is not reused by the others: with a thread per connection, an
    overloaded ingester's resident memory grew to 1.7 times what two arenas hold, at the same
    throughput (docs/BENCHMARKS.md). Must run before the threads start.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        return


def run(spec: Spec, options: Options) -> int:
    """Serve until SIGTERM or SIGINT, then stop gracefully; the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()
    service = Service(spec, options)
    done = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping intake, finishing accepted requests", signum)
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = threading.Thread(target=service.serve, name="http", daemon=True)
    server.start()
    log.info("ingester listening on %s:%d", options.host, service.port)
    while not done.wait(0.5) and service.fatal is None:
        pass
    started = time.monotonic()
    service.shutdown()
    if service.fatal:
        log.error("%s", service.fatal)
        return 1
    log.info("stopped in %.1fs", time.monotonic() - started)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="postgresql:// URL (default: $OBSERVATORY_DATABASE_URL)")
    parser.add_argument("--listen", default="0.0.0.0:8088", help="host:port to serve OTLP/HTTP on")
    parser.add_argument("--max-body-bytes", type=int, default=Options.max_body_bytes)
    parser.add_argument("--max-queue-rows", type=int, default=Options.max_queue_rows)
    parser.add_argument("--max-inflight-requests", type=int, default=Options.max_inflight_requests)
    parser.add_argument(
        "--max-connections",
        type=int,
        default=Options.max_connections,
        help="connections open at once (a thread each); past it a new one gets 503",
    )
    parser.add_argument(
        "--max-inflight-bytes",
        type=int,
        default=Options.max_inflight_bytes,
        help="bytes of request bodies held at once; past it requests get 503",
    )
    parser.add_argument(
        "--decode-workers",
        type=int,
        default=Options.decode_workers,
        help="processes that decode bodies (0: in the request's thread; use 2+ with --decoder=python)",
    )
    parser.add_argument(
        "--decoder",
        choices=DECODERS,
        default=Options.decoder,
        help="native (Rust, the default) or python (the slower reference implementation)",
    )
    parser.add_argument("--batch-rows", type=int, default=Options.batch_rows)
    parser.add_argument(
        "--max-age-days",
        type=int,
        default=None,
        help="refuse rows that start earlier than this many days ago (default: the spec's raw-row retention)",
    )
    parser.add_argument(
        "--max-future-seconds",
        type=float,
        default=Options.max_future_seconds,
        help="refuse rows that start later than this many seconds from now",
    )
    parser.add_argument(
        "--socket-timeout-seconds",
        type=float,
        default=Options.socket_timeout_seconds,
        help="close a connection idle this long; a body must arrive whole this soon after its headers (408)",
    )
    parser.add_argument("--no-migrate", action="store_true", help="do not apply the schema at start-up")
    parser.add_argument(
        "--maintain-interval-seconds",
        type=float,
        default=Options.maintain_interval_seconds,
        help="postgres storage: run maintenance this often (0: never)",
    )
