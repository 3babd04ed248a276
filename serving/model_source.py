"""Which model the service runs: the MLflow `champion`, or a model directory."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime

from serving.config import ServiceSettings
from triage.models import TriageModel


class ModelUnavailable(RuntimeError):
    """No model can be loaded from the configured source."""


@dataclass
class LoadedModel:
    model: TriageModel
    source: str  # "models:/complaint-triage@champion (version 3)" or the directory
    registered_version: str | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def load_serving_model(settings: ServiceSettings) -> LoadedModel:
    if settings.model_source == "dir":
        if not (settings.model_dir / "meta.json").exists():
            raise ModelUnavailable(f"no model in {settings.model_dir}: run `triage init` or `triage train --out ...`")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LoadedModel(TriageModel.load(settings.model_dir), str(settings.model_dir.resolve()))
    return load_champion()


def load_champion(alias: str = "champion") -> LoadedModel:
    import mlflow

    from training.tracking import REGISTERED_MODEL, alias_version, configure

    configure()
    version = alias_version(alias)
    if version is None:
        raise ModelUnavailable(f"no model has the alias {REGISTERED_MODEL}@{alias} in the MLflow registry: "
                               f"run `triage init`, or `triage promote VERSION`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyfunc = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    model = pyfunc.unwrap_python_model().model
    return LoadedModel(model, f"models:/{REGISTERED_MODEL}@{alias} (version {version})", version)
