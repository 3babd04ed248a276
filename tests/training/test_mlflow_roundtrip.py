"""MLflow end to end, against a throw-away SQLite tracking store in a temporary directory: `triage train`
logs a run and registers `complaint-triage` as `challenger`, `triage promote` moves `champion`, the
registered pyfunc predicts in-process and through `mlflow models predict`, and `triage init` bootstraps
an empty directory once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from training.tracking import REGISTERED_MODEL
from triage.cli import app
from triage.models import TriageModel
from triage.models.persistence import META_FILE, MODEL_FILE

pytestmark = pytest.mark.slow

TEXTS = ["我的信用卡昨晚在境外被盗刷了5万元", "催收员天天打电话骚扰我的家人和同事，还威胁要上门"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sqlite_uri(directory: Path) -> str:
    return f"sqlite:///{directory}/mlruns/mlflow.db"


def versions_of(client: MlflowClient) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{REGISTERED_MODEL}'"))


def alias_version(client: MlflowClient, alias: str) -> str:
    return str(client.get_model_version_by_alias(REGISTERED_MODEL, alias).version)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A working directory and tracking URI for the whole module (MLflow reads MLFLOW_TRACKING_URI)."""
    work = tmp_path_factory.mktemp("mlflow")
    uri = sqlite_uri(work)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        yield SimpleNamespace(work=work, uri=uri, client=MlflowClient(tracking_uri=uri))
        mlflow.set_tracking_uri(None)  # forget the temporary store before the environment is restored


@pytest.fixture(scope="module")
def trained(store, small_corpus_path):
    """`triage train` with MLflow on (the default), once for the module."""
    out = store.work / "model"
    result = CliRunner().invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return SimpleNamespace(summary=json.loads(result.stdout), out=out)


@pytest.fixture(scope="module")
def champion(store, trained):
    result = CliRunner().invoke(app, ["promote", "1"])
    assert result.exit_code == 0, result.output
    return result


# --- train: run and registry --------------------------------------------------------------------------


def test_train_registers_version_1_as_challenger(store, trained):
    summary = trained.summary
    assert summary["registered_version"] == "1"
    assert summary["alias"] == "challenger"
    version = store.client.get_model_version_by_alias(REGISTERED_MODEL, "challenger")
    assert str(version.version) == "1"
    assert version.run_id == summary["mlflow_run_id"]
    assert versions_of(store.client) == ["1"]
    # Everything landed in the temporary store, nothing in ./mlruns of another directory.
    assert (store.work / "mlruns" / "mlflow.db").exists()


def test_run_has_params_and_metrics(store, trained, small_corpus_records):
    run = store.client.get_run(trained.summary["mlflow_run_id"])
    metrics, params = run.data.metrics, run.data.params
    meta = json.loads((trained.out / META_FILE).read_text(encoding="utf-8"))
    for name in ("category_cv_macro_f1", "category_cv_accuracy", "category_cv_ece",
                 "category_cv_coverage_accuracy_0.9", "category_cv_coverage_accuracy_1.0",
                 "tier_cv_macro_f1", "tier_cv_accuracy", "category_cv_f1_资金安全"):
        assert name in metrics, sorted(metrics)
        assert 0 <= metrics[name] <= 1
    assert metrics["category_cv_macro_f1"] == pytest.approx(meta["metrics"]["category_cv"]["macro_f1"])
    assert metrics["category_cv_coverage_accuracy_1.0"] == pytest.approx(metrics["category_cv_accuracy"])
    assert params["rows"] == str(len(small_corpus_records))
    assert params["training_data_sha256"] == meta["training_data_sha256"]
    assert params["embedder"] == "none"  # the default: n-grams alone


def test_run_has_the_plots(store, trained, tmp_path):
    run_id = trained.summary["mlflow_run_id"]
    listed = {a.path for a in store.client.list_artifacts(run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/reliability_diagram.png"} <= listed
    local = Path(store.client.download_artifacts(run_id, "plots", str(tmp_path)))
    for name in ("confusion_matrix.png", "reliability_diagram.png"):
        data = (local / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 5_000  # a real picture, not an empty canvas


def test_model_signature_takes_a_text_column(store, trained):
    info = mlflow.models.get_model_info(f"models:/{REGISTERED_MODEL}/1")
    assert info.signature.inputs.input_names() == ["text"]
    outputs = set(info.signature.outputs.input_names())
    assert {"category", "confidence", "needs_review", "tier", "model_version"} <= outputs


# --- promote -----------------------------------------------------------------------------------------


def test_promote_sets_champion(store, champion):
    assert f"models:/{REGISTERED_MODEL}@champion -> version 1" in champion.stdout
    assert alias_version(store.client, "champion") == "1"
    assert alias_version(store.client, "challenger") == "1"


def test_promote_a_missing_version_fails_clearly(store, champion, no_space):
    result = CliRunner().invoke(app, ["promote", "42"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    message = no_space(result.stderr)
    assert f"cannotpromote{REGISTERED_MODEL}version42" in message
    assert "notfound" in message.lower()
    # Nothing moved.
    assert alias_version(store.client, "champion") == "1"


# --- serving the registered model --------------------------------------------------------------------------


def test_champion_pyfunc_predicts(store, trained, champion):
    mlflow.set_tracking_uri(store.uri)
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    frame = model.predict(pd.DataFrame({"text": TEXTS}))
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(TEXTS)
    assert {"category", "confidence", "needs_review"} <= set(frame.columns)
    expected = TriageModel.load(trained.out).predict(TEXTS)
    assert list(frame["category"]) == [p.category for p in expected]
    assert list(frame["confidence"]) == pytest.approx([p.confidence for p in expected], abs=1e-6)
    assert [bool(v) for v in frame["needs_review"]] == [p.needs_review for p in expected]
    assert set(frame["model_version"]) == {trained.summary["model_version"]}
    top = json.loads(frame["top_categories"][0])
    assert top[0]["label"] == frame["category"][0]
    assert len(top) == 3


def test_pyfunc_rejects_input_without_a_text_column(store, champion):
    mlflow.set_tracking_uri(store.uri)
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    with pytest.raises(Exception, match="text"):
        model.predict(pd.DataFrame({"complaint": TEXTS}))


def test_mlflow_models_predict_cli(store, trained, champion):
    request = store.work / "input.json"
    request.write_text(json.dumps({"dataframe_split": {"columns": ["text"], "data": [[TEXTS[0]]]}},
                                  ensure_ascii=False), encoding="utf-8")
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    completed = subprocess.run(
        [str(mlflow_cli), "models", "predict", "-m", f"models:/{REGISTERED_MODEL}@champion",
         "-i", str(request), "-t", "json", "--env-manager", "local"],
        cwd=store.work, env={**os.environ, "MLFLOW_TRACKING_URI": store.uri},
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected = TriageModel.load(trained.out).predict(TEXTS[:1])[0].category
    stdout = completed.stdout
    # MLflow may print the category as is or as JSON \u escapes; both name the same category.
    assert expected in stdout or json.dumps(expected) in stdout
    start = stdout.index("{")
    payload, _ = json.JSONDecoder().raw_decode(stdout[start:])
    predictions = payload["predictions"]
    assert len(predictions) == 1
    assert predictions[0]["category"] == expected
    assert predictions[0]["model_version"] == trained.summary["model_version"]


# --- init ---------------------------------------------------------------------------------------------


@pytest.fixture
def empty_project(tmp_path, monkeypatch, small_corpus_path):
    """An empty working directory with its own tracking store, model directory and corpus setting."""
    uri = sqlite_uri(tmp_path)
    model_dir = tmp_path / "models" / "default"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("TRIAGE_CORPUS", str(small_corpus_path))
    yield SimpleNamespace(model_dir=model_dir, client=MlflowClient(tracking_uri=uri))
    mlflow.set_tracking_uri(None)


def test_init_bootstraps_once(empty_project, small_corpus_records):
    """`triage init` in an empty directory trains on TRIAGE_CORPUS (here the 153-row slice, to stay
    fast), registers the model and makes it champion; a second `init` changes nothing."""
    model_dir, client = empty_project.model_dir, empty_project.client

    first = CliRunner().invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert "no model at" in first.stderr
    summary = json.loads(first.stdout)
    assert summary["train_rows"] == len(small_corpus_records)
    assert summary["registered_version"] == "1"
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["model_version"] == summary["model_version"]
    assert versions_of(client) == ["1"]
    assert alias_version(client, "champion") == "1"
    assert alias_version(client, "challenger") == "1"
    written = (model_dir / MODEL_FILE).stat().st_mtime_ns

    second = CliRunner().invoke(app, ["init"])
    assert second.exit_code == 0, second.output
    assert "model found" in second.stderr
    assert second.stdout == ""  # no training summary: nothing was trained
    assert (model_dir / MODEL_FILE).stat().st_mtime_ns == written
    again = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert again["model_version"] == meta["model_version"]
    assert versions_of(client) == ["1"]
    assert alias_version(client, "champion") == "1"


def test_init_retrains_a_model_this_code_cannot_load(empty_project):
    """A model directory of an older format is not "a model": `init` says why and trains a new one,
    so `make run` never starts on a model that fails at the first complaint."""
    model_dir, client = empty_project.model_dir, empty_project.client
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    meta["format_version"] = 0
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    again = CliRunner().invoke(app, ["init"])
    assert again.exit_code == 0, again.output
    assert "cannot be used" in again.stderr and "format 0" in again.stderr
    assert json.loads(again.stdout)["registered_version"] == "2"
    assert json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))["format_version"] != 0
    assert versions_of(client) == ["1", "2"]
    assert alias_version(client, "champion") == "1"  # promotion stays a person's decision
