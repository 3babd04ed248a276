"""What was saved before the library and its shells were split (issue 12) still loads with this code.

- A model directory, and the service's similarity snapshot, are pickles: they name the classes and functions
  they were made of by module path. The paths a model and a snapshot written before the move refer to were
  recorded from such files (by hooking joblib's unpickler); each must still resolve, to the same kind of
  object. Nothing that is pickled moved: the library kept them all.
- A registered MLflow model is models-from-code: its artifacts hold a copy of the entry file it was logged
  with, and the entries written before the move import `triage.training.tracking.TriagePyfunc`. A version is
  registered here with exactly that entry file; it must load in-process, as the service's champion, and
  through `mlflow models predict` (a new process, as in the README).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import joblib
import pandas as pd
import pytest
from joblib import numpy_pickle

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.slow

# Recorded from a model directory and a similarity snapshot written at 9e29e3c, the commit before the move.
PICKLED_BEFORE_THE_MOVE = {
    "model.joblib": [
        ("triage.features.tokenizer", "tokenize"),
        ("triage.models.pipeline", "ComplaintFeatures"),
        ("triage.similarity.encoder", "TopicEncoder"),
    ],
    "similarity.joblib": [
        ("triage.policy.schema", "CoordinatedDetection"),
        ("triage.policy.schema", "GroupDetection"),
        ("triage.policy.schema", "RepeatDetection"),
        ("triage.policy.schema", "Similarity"),
        ("triage.similarity.engine", "SimilarityEngine"),
        ("triage.similarity.facts", "Facts"),
        ("triage.similarity.groups", "Cluster"),
        ("triage.similarity.groups", "GroupDetector"),
        ("triage.similarity.groups", "Member"),
        ("triage.similarity.repeat", "RepeatDetector"),
        ("triage.similarity.repeat", "_Earlier"),
    ],
}
# The entry file of every pyfunc registered before the move, as it was logged.
PRE_MOVE_ENTRY = '''\
"""Entry file for MLflow's models-from-code: the model is logged by this file's path, so the registry
stores code to import rather than a pickled Python object."""

import mlflow

from triage.training.tracking import TriagePyfunc

mlflow.models.set_model(TriagePyfunc())
'''
REGISTERED_MODEL = "complaint-triage"
TEXTS = ["我的信用卡昨晚在境外被盗刷了5万元", "催收员天天打电话骚扰我的家人和同事，还威胁要上门"]


def pickled_globals(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every class or function the pickle of a joblib file refers to."""
    found: set[tuple[str, str]] = set()
    original = numpy_pickle.NumpyUnpickler.find_class

    def find_class(self, module, name):
        found.add((module, name))
        return original(self, module, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpy_pickle.NumpyUnpickler, "find_class", find_class)
        joblib.load(path)
    return found


def ours(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(module, name) for module, name in found if module.split(".")[0] in ("triage", "training", "serving")}


@pytest.mark.parametrize("file", sorted(PICKLED_BEFORE_THE_MOVE))
def test_every_path_pickled_before_the_move_still_resolves(file):
    for module, name in PICKLED_BEFORE_THE_MOVE[file]:
        found = getattr(importlib.import_module(module), name, None)
        assert found is not None, f"{file} needs {module}.{name}, which is gone: keep an alias there"
        assert callable(found), (module, name)


def test_what_is_pickled_now_lives_in_the_library(model_dir, trained_model, tmp_path):
    """A model directory and a snapshot written now refer to library paths only, never to a shell package, so
    moving a shell cannot break them; and they load back."""
    from triage.models import TriageModel
    from triage.policy import load_policy
    from triage.schemas import ComplaintIn
    from triage.service import TriageService

    model_paths = ours(pickled_globals(model_dir / "model.joblib"))
    assert model_paths and all(module.startswith("triage.") for module, _ in model_paths), model_paths
    assert not any(module.startswith("triage.training") for module, _ in model_paths)
    assert TriageModel.load(model_dir).predict(TEXTS)[0].category == trained_model.predict(TEXTS)[0].category

    policy = load_policy(None)
    service = TriageService(trained_model, policy, TriageService.new_similarity(trained_model, policy))
    service.triage([ComplaintIn(text=t, complaint_id=f"c{i}", customer_id="x") for i, t in enumerate(TEXTS)])
    service.similarity.save(tmp_path / "snapshot")
    snapshot_paths = ours(pickled_globals(tmp_path / "snapshot" / "similarity.joblib"))
    assert snapshot_paths and all(module.startswith("triage.") for module, _ in snapshot_paths), snapshot_paths


@pytest.fixture(scope="module")
def registered_before_the_move(tmp_path_factory, model_dir):
    """A tracking store holding one version logged as the code before the move logged it: the pre-move entry
    file, the model directory as its artifact; promoted to champion."""
    work = tmp_path_factory.mktemp("pre-move-mlflow")
    uri = f"sqlite:///{work}/mlruns/mlflow.db"
    entry = work / "code" / "pyfunc_entry.py"
    entry.parent.mkdir()
    entry.write_text(PRE_MOVE_ENTRY, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        from training.tracking import configure

        configure()
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(name="model", python_model=str(entry),
                                           artifacts={"model_dir": str(model_dir)},
                                           registered_model_name=REGISTERED_MODEL)
        client = mlflow.MlflowClient(tracking_uri=uri)
        client.set_registered_model_alias(REGISTERED_MODEL, "champion", str(info.registered_model_version))
        yield SimpleNamespace(work=work, uri=uri)
        mlflow.set_tracking_uri(None)


def test_a_version_registered_before_the_move_loads_in_process(registered_before_the_move, trained_model):
    mlflow.set_tracking_uri(registered_before_the_move.uri)
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    frame = model.predict(pd.DataFrame({"text": TEXTS}))
    assert list(frame["category"]) == [p.category for p in trained_model.predict(TEXTS)]


def test_the_service_serves_a_champion_registered_before_the_move(registered_before_the_move, trained_model):
    from serving.model_source import load_champion

    loaded = load_champion()
    assert loaded.registered_version == "1"
    assert loaded.model.version_ == trained_model.version_
    assert [p.category for p in loaded.model.predict(TEXTS)] == [p.category for p in trained_model.predict(TEXTS)]


def test_mlflow_models_predict_serves_a_version_registered_before_the_move(registered_before_the_move,
                                                                          trained_model):
    work = registered_before_the_move.work
    request = work / "input.json"
    request.write_text(json.dumps({"dataframe_split": {"columns": ["text"], "data": [[TEXTS[0]]]}},
                                  ensure_ascii=False), encoding="utf-8")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "models", "predict", "-m",
         f"models:/{REGISTERED_MODEL}@champion", "-i", str(request), "-t", "json", "--env-manager", "local"],
        cwd=work, env={**os.environ, "MLFLOW_TRACKING_URI": registered_before_the_move.uri},
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    payload, _ = json.JSONDecoder().raw_decode(completed.stdout[completed.stdout.index("{"):])
    assert payload["predictions"][0]["category"] == trained_model.predict(TEXTS[:1])[0].category
