"""LLM Observatory: one spec file renders a Grafana-as-code observability stack for LLM traffic."""

__version__ = "0.2.0"
