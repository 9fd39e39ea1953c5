"""Where rendered configs run: compose (the committed files), Kubernetes, or the local stack without Docker.

A renderer that differs by deployment takes a `Target` and produces that variant itself, so no caller
edits rendered output after the fact. The differences, all of them:
- Kubernetes with `deploy.object_storage`: Tempo and Loki keep blocks and chunks in the bucket, for the
  cold tier; Prometheus finds every collector and ingester replica through headless Services.
- local: Tempo, Loki and Grafana do not run, so the collector has no sampled-traces or logs pipeline;
  Prometheus scrapes the processes on their loopback ports and reads the rules from the checkout.
- process: Tempo or Loki run from a binary you bring (`make test-servers`), on loopback ports, with
  their data in a directory of your choice rather than the image's volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from observatory import names
from observatory.spec.types import ObjectStorage, RetentionTiers, SecretRef, Spec

Kind = Literal["compose", "kubernetes", "local", "process"]


@dataclass(frozen=True, slots=True)
class LocalAddresses:
    """Loopback ports of the local stack's processes, and the rule files Prometheus loads there."""

    prometheus: int
    alertmanager: int
    collector_metrics: int
    ingester: int
    rule_files: str  # a glob: the checkout's alerts/*.yml
    proxy: int | None = None  # the LLM proxy's port, when the spec enables it


@dataclass(frozen=True, slots=True)
class StoreProcess:
    """A trace or log store run from its binary on loopback: where its data goes and its ports (the
    OTLP receivers' are Tempo's only: Loki takes OTLP on its HTTP port)."""

    data_dir: str
    http_port: int
    grpc_port: int
    otlp_grpc_port: int = 0
    otlp_http_port: int = 0


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    object_storage: ObjectStorage | None = None  # Kubernetes only: the bucket of the cold tier
    local: LocalAddresses | None = None  # the local stack only
    process: StoreProcess | None = None  # a store run from its binary only

    def kept_days(self, tier: RetentionTiers) -> int:
        """How long a store keeps data: its cold tier in a bucket, else its warm tier on local disk."""
        return tier.cold_days if self.object_storage else tier.warm_days

    @property
    def runs_trace_and_log_stores(self) -> bool:
        """Whether Tempo and Loki run, so the collector keeps sampled traces and logs."""
        return self.kind != "local"


COMPOSE = Target("compose")


def kubernetes(spec: Spec) -> Target:
    return Target("kubernetes", object_storage=spec.deploy.object_storage)


def local(addresses: LocalAddresses) -> Target:
    return Target("local", local=addresses)


def process(store: StoreProcess) -> Target:
    return Target("process", process=store)


def listen(target: Target, http_port: int, grpc_port: int) -> dict[str, str | int]:
    """The `server` ports of Tempo or Loki (dskit's): their container ports, or for a process the
    loopback ports it was given."""
    if target.process is None:
        return {"http_listen_port": http_port, "grpc_listen_port": grpc_port}
    return {
        "http_listen_address": "127.0.0.1",
        "http_listen_port": target.process.http_port,
        "grpc_listen_address": "127.0.0.1",
        "grpc_listen_port": target.process.grpc_port,
    }


def env_name(ref: SecretRef, default: str) -> str:
    # Tempo and Loki read credentials from the environment only, so a file reference becomes `default`.
    return ref.env if ref.env is not None else default


def s3_credential_envs(store: ObjectStorage) -> tuple[str, str]:
    """The environment variables holding the bucket's access key id and secret, in that order."""
    return (
        env_name(store.access_key_id, names.ENV_S3_ACCESS_KEY_ID),
        env_name(store.secret_access_key, names.ENV_S3_SECRET_ACCESS_KEY),
    )
