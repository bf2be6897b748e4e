"""The HTTP API: ingest, models and baselines, drift series, health and metrics."""

from driftd.api.app import create_app

__all__ = ["create_app"]
