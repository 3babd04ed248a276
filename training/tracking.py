"""MLflow: log a training run, register the model as `complaint-triage`, move aliases.

The registry uses aliases (`models:/complaint-triage@champion`), not the deprecated stages. MLflow 3
refuses a plain ./mlruns file store, so the default is SQLite with artifacts beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from training.plots import confusion_matrix_png, reliability_png
from triage.models import TriageModel

REGISTERED_MODEL = "complaint-triage"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
EXPERIMENT = "complaint-triage"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def configure() -> None:
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # Artifacts next to the database, not in the working directory of whoever trains.
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)


class TriagePyfunc(PythonModel):
    """The triage model as an MLflow pyfunc: a DataFrame with a `text` column in, one row of the
    prediction out (lists and dicts as JSON strings, so any MLflow client can read them)."""

    def load_context(self, context) -> None:
        self.model = TriageModel.load(context.artifacts["model_dir"])
        self.model.warm()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input, dict | list):
            model_input = pd.DataFrame(model_input)
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column; got {list(model_input.columns)}")
        return predictions_frame(self.model, list(model_input["text"]))


def predictions_frame(model: TriageModel, texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame([_flat(p.model_dump()) for p in model.predict(texts)])


def _flat(prediction: dict) -> dict:
    return {
        "category": prediction["category"],
        "confidence": prediction["confidence"],
        "tier": prediction["tier"] or "",
        "needs_review": prediction["needs_review"],
        "top_categories": json.dumps(prediction["top_categories"], ensure_ascii=False),
        "review_reasons": json.dumps(prediction["review_reasons"], ensure_ascii=False),
        "model_version": prediction["model_version"],
    }


def log_training_run(
    model: TriageModel,
    model_dir: Path,
    params: dict,
    evaluation: dict | None = None,
    evaluation_probabilities: tuple[np.ndarray, Any] | None = None,
    tags: dict | None = None,
) -> dict:
    """Log params, metrics, plots and the pyfunc; register it and point `challenger` at it."""
    configure()
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_params({k: v if isinstance(v, str | int | float | bool) else json.dumps(v, ensure_ascii=False)
                           for k, v in params.items()})
        for head, report in model.metrics_.items():
            _log_report(report, prefix=f"{head}_")
        if evaluation:
            _log_report(evaluation, prefix="eval_")
        with tempfile.TemporaryDirectory() as tmp:
            if evaluation_probabilities is not None:
                probabilities, y_true = evaluation_probabilities
                predicted = model.classes_[probabilities.argmax(axis=1)]
                confusion_matrix_png(y_true, predicted, list(model.classes_), Path(tmp) / "confusion_matrix.png")
                reliability_png(probabilities, y_true, model.classes_, Path(tmp) / "reliability_diagram.png")
                mlflow.log_artifacts(tmp, artifact_path="plots")
        example = pd.DataFrame({"text": ["信用卡被盗刷了两万元，请尽快处理", "催收员每天给我家人打电话"]})
        signature = infer_signature(example, predictions_frame(model, list(example["text"])))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),  # models-from-code
            artifacts={"model_dir": str(model_dir)},
            signature=signature,
            input_example=example,
            registered_model_name=REGISTERED_MODEL,
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(REGISTERED_MODEL, "challenger", version)
        return {"run_id": run.info.run_id, "model_uri": info.model_uri, "version": version}


def _log_report(report: dict, prefix: str) -> None:
    metrics = {f"{prefix}{k}": report[k] for k in ("macro_f1", "accuracy", "ece")}
    metrics.update({f"{prefix}coverage_accuracy_{level}": v for level, v in report["coverage_accuracy"].items()})
    metrics.update({f"{prefix}f1_{label}": v["f1"] for label, v in report["per_class"].items()})
    mlflow.log_metrics(metrics)


def promote(version: str, alias: str = "champion") -> None:
    configure()
    client = MlflowClient()
    client.get_model_version(REGISTERED_MODEL, version)  # raises a clear "not found" first
    client.set_registered_model_alias(REGISTERED_MODEL, alias, version)


def alias_version(alias: str) -> str | None:
    configure()
    try:
        return str(MlflowClient().get_model_version_by_alias(REGISTERED_MODEL, alias).version)
    except mlflow.exceptions.MlflowException:
        return None
