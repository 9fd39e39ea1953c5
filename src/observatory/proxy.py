"""`observatory proxy`: runs the LLM proxy (proxy/, a Go binary) with the settings of the spec's `proxy`
section. The proxy itself is Go for its latency (docs/BENCHMARKS.md); this module only finds the
binary and turns the spec into its flags, so the CLI, the local stack and tests start it one way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from observatory import names
from observatory.spec.types import Spec

# Built by `make proxy` (scripts/build-proxy.sh) in a checkout; an image puts it on PATH.
BUILT_BINARY = Path(".cache/proxy/observatory-proxy")
BINARY_NAME = "observatory-proxy"


class ProxyNotBuilt(RuntimeError):
    """No proxy binary was found where `observatory proxy` looks for one."""


def binary(root: Path | None = None) -> str:
    """The proxy binary: $OBSERVATORY_PROXY_BINARY, else the checkout's build, else one on PATH."""
    given = os.environ.get(names.ENV_PROXY_BINARY)
    if given:
        return given
    built = (root or Path.cwd()) / BUILT_BINARY
    if built.exists():
        return str(built)
    found = shutil.which(BINARY_NAME)
    if found is None:
        raise ProxyNotBuilt(
            f"no proxy binary: make proxy builds {BUILT_BINARY}, or set {names.ENV_PROXY_BINARY}"
        )
    return found


def flags(spec: Spec, listen: str, otlp_endpoint: str) -> list[str]:
    """The proxy's command-line flags for `spec`, listening on `listen`, sending spans to the
    collector's OTLP/HTTP base URL `otlp_endpoint` ("" sends none)."""
    p = spec.proxy
    return [
        f"-listen={listen}",
        f"-openai-upstream={p.openai_base_url}",
        f"-anthropic-upstream={p.anthropic_base_url}",
        f"-otlp-endpoint={otlp_endpoint}",
        f"-upstream-timeout={p.upstream_timeout_seconds:g}s",
        f"-stream-idle-timeout={p.stream_idle_timeout_seconds:g}s",
        f"-max-request-bytes={p.max_request_bytes}",
        f"-max-concurrent={p.max_concurrent_calls}",
        f"-queue-spans={p.queue_spans}",
    ]


def exec_proxy(spec: Spec, listen: str, otlp_endpoint: str) -> None:
    """Replace this process with the proxy (signals then reach it directly)."""
    path = binary()
    os.execv(path, [path, *flags(spec, listen, otlp_endpoint)])
