"""Where rendered configs run: compose (the committed files), Kubernetes, or the local stack without Docker.

A renderer that differs by deployment takes a `Target` and produces that variant itself, so no caller
edits rendered output after the fact. The differences, all of them:
- Kubernetes with `deploy.object_storage`: Tempo and Loki keep blocks and chunks in the bucket, for the
  cold tier; Prometheus finds every collector and ingester replica through headless Services.
- local: Tempo, Loki and Grafana do not run, so the collector has no sampled-traces or logs pipeline;
  Prometheus scrapes the processes on their loopback ports and reads the rules from the checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from observatory import names
from observatory.spec.types import ObjectStorage, RetentionTiers, SecretRef, Spec

Kind = Literal["compose", "kubernetes", "local"]


@dataclass(frozen=True, slots=True)
class LocalAddresses:
    """Loopback ports of the local stack's processes, and the rule files Prometheus loads there."""

    prometheus: int
    alertmanager: int
    collector_metrics: int
    ingester: int
    rule_files: str  # a glob: the checkout's alerts/*.yml


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    object_storage: ObjectStorage | None = None  # Kubernetes only: the bucket of the cold tier
    local: LocalAddresses | None = None  # the local stack only

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


def env_name(ref: SecretRef, default: str) -> str:
    # Tempo and Loki read credentials from the environment only, so a file reference becomes `default`.
    return ref.env if ref.env is not None else default


def s3_credential_envs(store: ObjectStorage) -> tuple[str, str]:
    """The environment variables holding the bucket's access key id and secret, in that order."""
    return (
        env_name(store.access_key_id, names.ENV_S3_ACCESS_KEY_ID),
        env_name(store.secret_access_key, names.ENV_S3_SECRET_ACCESS_KEY),
    )
