"""Servers you bring: Tempo and Loki given by URL, or by binary (started here with the rendered config).

A binary is started with the config the renderer makes for a store run as a process (`render/target.py`,
kind `process`): the compose config with loopback ports and a data directory under the test's
temporary folder, for the binary's release line (Tempo 2.x and 3.x configs differ), nothing else
changed. A URL is used as it is: the server must take OTLP from this
machine and answer queries for data written in the last hours. Without either, the tests skip and say
which variable to set; a server named but not answering fails them.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from observatory.render import loki, target, tempo
from observatory.render.artifact import to_yaml
from observatory.spec.types import Spec
from tests.conftest import ManagedProcess, free_port, require_server

TEMPO_URL = "OBSERVATORY_TEST_TEMPO_URL"  # Tempo's HTTP API, e.g. http://tempo:3200
TEMPO_OTLP_URL = "OBSERVATORY_TEST_TEMPO_OTLP_URL"  # its OTLP/HTTP receiver; default: the same host, :4318
TEMPO_BIN = "OBSERVATORY_TEST_TEMPO_BIN"
TEMPO_VERSION = "OBSERVATORY_TEST_TEMPO_VERSION"  # the binary's version, when its -version names none
LOKI_URL = "OBSERVATORY_TEST_LOKI_URL"  # Loki's HTTP API, which also takes OTLP on /otlp
LOKI_BIN = "OBSERVATORY_TEST_LOKI_BIN"
READY_SECONDS = 120  # Tempo's and Loki's ingesters wait 15 s after joining their ring


@dataclass(frozen=True)
class Store:
    url: str  # the HTTP API
    ingest_url: str  # the collector exporter's base URL: Tempo's OTLP/HTTP receiver, Loki's API
    process: ManagedProcess | None  # when started here from a binary


def _start(
    binary: str, what: str, config: dict[str, Any], tmp: Path, http_port: int, ingest_url: str
) -> Iterator[Store]:
    path = tmp / f"{what}.yaml"
    path.write_text(to_yaml(config))
    process = ManagedProcess([binary, f"-config.file={path}"], tmp / f"{what}.log")
    url = f"http://127.0.0.1:{http_port}"
    try:
        process.wait_ready(
            lambda: requests.get(f"{url}/ready", timeout=2).ok, f"{what} ({binary}) ready", READY_SECONDS
        )
        yield Store(url, ingest_url, process)
    finally:
        process.stop()


@contextlib.contextmanager
def tempo_store(spec: Spec, tmp: Path) -> Iterator[Store]:
    url, binary = os.environ.get(TEMPO_URL), os.environ.get(TEMPO_BIN)
    if url:
        parts = urlsplit(url)
        yield Store(
            url.rstrip("/"), os.environ.get(TEMPO_OTLP_URL) or f"{parts.scheme}://{parts.hostname}:4318", None
        )
        return
    if not binary:
        require_server(f"no Tempo given: set {TEMPO_BIN} (a tempo binary) or {TEMPO_URL}")
    # The config of the binary's release line: its version as the spec's image tag.
    spec = replace(spec, images=replace(spec.images, tempo=f"grafana/tempo:{_tempo_version(binary)}"))
    ports = target.StoreProcess(
        str(tmp / "tempo-data"),
        free_port(),
        free_port(),
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
    )
    config = tempo.config(spec, target.process(ports))
    yield from _start(
        binary, "tempo", config, tmp, ports.http_port, f"http://127.0.0.1:{ports.otlp_http_port}"
    )


def _tempo_version(binary: str) -> str:
    """The Tempo binary's version, from `-version` (a release sets it with `-X main.Version`)."""
    if given := os.environ.get(TEMPO_VERSION):
        return given
    printed = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=30, check=False)
    found = re.search(r"version v?(\d+\.\d+\.\d+)", printed.stdout + printed.stderr)
    if found is None:
        pytest.fail(
            f"{binary} -version names no version ({printed.stdout.strip()!r}): set {TEMPO_VERSION},"
            " or build it with -ldflags '-X main.Version=X.Y.Z' as Tempo's Makefile does"
        )
    return found.group(1)


@contextlib.contextmanager
def loki_store(spec: Spec, tmp: Path) -> Iterator[Store]:
    url, binary = os.environ.get(LOKI_URL), os.environ.get(LOKI_BIN)
    if url:
        yield Store(url.rstrip("/"), url.rstrip("/"), None)
        return
    if not binary:
        require_server(f"no Loki given: set {LOKI_BIN} (a loki binary) or {LOKI_URL}")
    ports = target.StoreProcess(str(tmp / "loki-data"), free_port(), free_port())
    config = loki.config(spec, target.process(ports))
    yield from _start(binary, "loki", config, tmp, ports.http_port, f"http://127.0.0.1:{ports.http_port}")
