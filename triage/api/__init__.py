"""The HTTP shell around the library: JSON API under /v1, the team leads' review pages, health and metrics."""

from triage.api.app import create_app

__all__ = ["create_app"]
