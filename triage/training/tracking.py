"""Compatibility alias for MLflow models registered before the move to the top-level `training` package.

A registered pyfunc is models-from-code: its artifacts hold a copy of the entry file it was logged with, and
entry files written before the move say `from triage.training.tracking import TriagePyfunc`. This module keeps
that import working, so `models:/complaint-triage@champion` of those versions still loads and serves (MLflow is
needed to load them anyway). The import-linter contract names this module as its one allowed exception.
"""

from training.tracking import TriagePyfunc

__all__ = ["TriagePyfunc"]
