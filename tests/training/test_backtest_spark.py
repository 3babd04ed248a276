"""Backtests on Spark (local[2]): `triage backtest --engine spark` decides a slice of the corpus exactly as
`triage replay` does, from JSONL and from Parquet; `--engine local` is replay; bad input is named before any work;
and a data scientist scores a Spark table with the registered champion through `mlflow.pyfunc.spark_udf`.

One Spark session for the module (starting one takes seconds to a minute); a small model trained on 153 corpus
complaints. Skipped, with the reason, when PySpark or Java is missing (`make install` brings both).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.cli import app

pyspark = pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'complaint-triage[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: PySpark needs Java 17+ (make system-deps installs "
                "openjdk-17-jre-headless)", allow_module_level=True)

pytestmark = pytest.mark.slow

SLICE = 300  # the first complaints of the corpus in time order: repeat series, a copy-paste pair, group bursts


@pytest.fixture(scope="module")
def spark():
    from training.backtest.on_spark import spark_session

    session = spark_session("local[2]", {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                                         "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def small_model(small_corpus_records, tmp_path_factory):
    """The default recipe on 153 complaints (all nine categories, tiers): seconds to train."""
    from triage.models import TriageModel

    model = TriageModel().fit([r["text"] for r in small_corpus_records],
                              [r["category"] for r in small_corpus_records],
                              [r["tier"] for r in small_corpus_records])
    directory = model.save(tmp_path_factory.mktemp("spark-model") / "small-model")
    return SimpleNamespace(model=model, directory=directory)


@pytest.fixture(scope="module")
def stream(corpus_records, tmp_path_factory) -> SimpleNamespace:
    """The slice as JSONL and as Parquet (received_at as text in one, the same instants as timestamps in the
    other), and replay's decisions of it."""
    records = sorted(corpus_records, key=lambda r: r["received_at"])[:SLICE]
    work = tmp_path_factory.mktemp("stream")
    jsonl = work / "stream.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    frame = pd.DataFrame(records)[["complaint_id", "customer_id", "received_at", "channel", "product", "amount",
                                   "text"]]
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True).astype("datetime64[us, UTC]")
    parquet = work / "stream.parquet"
    frame.to_parquet(parquet)
    return SimpleNamespace(records=records, jsonl=jsonl, parquet=parquet, work=work)


@pytest.fixture(scope="module")
def replayed(stream, small_model) -> SimpleNamespace:
    out = stream.work / "replay"
    result = CliRunner().invoke(app, ["replay", "--data", str(stream.jsonl), "--out", str(out),
                                      "--model", str(small_model.directory)])
    assert result.exit_code == 0, result.output
    return read_output(out)


def read_output(directory: Path) -> SimpleNamespace:
    decisions = [json.loads(line) for line in (directory / "decisions.jsonl").open(encoding="utf-8")]
    clusters = json.loads((directory / "clusters.json").read_text(encoding="utf-8"))
    return SimpleNamespace(decisions=decisions, clusters=clusters)


def backtest(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["backtest", *map(str, args)])
    return result.exit_code, result.output


def assert_same(expected, actual, where: str = "") -> None:
    """Field by field; floats to 1e-9 (a model batch of other rows may round the last bit differently)."""
    if isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, int | float) and math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12), \
            f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), f"{where}: keys differ"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: lengths differ"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


def test_the_slice_exercises_every_part_of_the_similarity_layer(replayed):
    """What makes the comparison below worth having: replay finds repeats (some 3rd+), and group alerts."""
    repeats = [d for d in replayed.decisions if d["repeat"]["is_repeat"]]
    assert len(replayed.decisions) == SLICE
    assert len(repeats) >= 5 and any(d["repeat"]["repeat_count"] >= 3 for d in repeats)
    assert replayed.clusters, "no group alert in the slice"


def test_spark_backtest_decides_as_replay(spark, stream, small_model, replayed, tmp_path):
    code, output = backtest("--engine", "spark", "--master", "local[2]", "--data", stream.jsonl,
                            "--out", tmp_path, "--model", small_model.directory)
    assert code == 0, output
    spark_out = read_output(tmp_path)
    assert [d["complaint_id"] for d in spark_out.decisions] == [d["complaint_id"] for d in replayed.decisions]
    for expected, actual in zip(replayed.decisions, spark_out.decisions, strict=True):
        assert_same(expected, actual, expected["complaint_id"])
    assert_same(replayed.clusters, spark_out.clusters, "clusters")
    assert "300complaints" in squash(output) and "groupalert" in squash(output)


def test_parquet_on_spark_and_locally_gives_the_same_decisions(spark, stream, small_model, replayed, tmp_path):
    """Times stored as Parquet timestamps (UTC) are the same instants as the JSONL's: the same order; and the
    two engines decide them alike (the times written in UTC, as the file gave them)."""
    outputs = {}
    for engine in ("spark", "local"):
        code, output = backtest("--engine", engine, "--data", stream.parquet, "--out", tmp_path / engine,
                                "--model", small_model.directory)
        assert code == 0, output
        outputs[engine] = read_output(tmp_path / engine)
    local, on_spark = outputs["local"], outputs["spark"]
    assert [d["complaint_id"] for d in local.decisions] == [d["complaint_id"] for d in replayed.decisions]
    assert local.decisions[0]["received_at"].endswith("Z")
    assert pd.Timestamp(local.decisions[0]["received_at"]) == pd.Timestamp(replayed.decisions[0]["received_at"])
    for expected, actual in zip(local.decisions, on_spark.decisions, strict=True):
        assert_same(expected, actual, expected["complaint_id"])
    assert_same(local.clusters, on_spark.clusters, "clusters")


@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param([{"complaint_id": "A1", "received_at": "2025-10-01T10:00:00+08:00", "text": "催收天天打电话"}],
                 "missing column(s) customer_id", id="missing_column"),
    pytest.param([{"complaint_id": "A1", "customer_id": "U1", "received_at": "2025-10-01T10:00:00+08:00",
                   "text": "催收天天打电话"}] * 2, "complaint_id repeated: A1", id="duplicate_id"),
    pytest.param([{"complaint_id": "A1", "customer_id": "U1", "received_at": "昨天", "text": "催收天天打电话"}],
                 "complaint_id A1: received_at", id="bad_time"),
    pytest.param([{"complaint_id": "A1", "customer_id": "U1", "received_at": "2025-10-01T10:00:00+08:00",
                   "text": "  "}], "complaint_id A1: text empty", id="blank_text"),
])
def test_bad_input_is_named(spark, small_model, tmp_path, rows, expected):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code, output = backtest("--engine", "spark", "--data", data, "--out", tmp_path / "out",
                            "--model", small_model.directory)
    assert code == 2 and squash(expected) in squash(output), output
    assert not (tmp_path / "out" / "decisions.jsonl").exists()


def test_unknown_format_and_missing_file_are_named(spark, small_model, tmp_path):
    code, output = backtest("--engine", "spark", "--data", tmp_path / "in.xlsx", "--out", tmp_path / "out",
                            "--model", small_model.directory)
    assert code == 2 and "unknownformat" in squash(output)
    code, output = backtest("--engine", "spark", "--data", tmp_path / "nothing.csv", "--out", tmp_path / "out",
                            "--model", small_model.directory)
    assert code == 2 and "nosuchfile" in squash(output)


def test_spark_options_are_refused_for_the_local_engine(stream, small_model, tmp_path):
    code, output = backtest("--data", stream.jsonl, "--out", tmp_path, "--master", "local[2]",
                            "--model", small_model.directory)
    assert code == 2 and "--engine spark" in output


# ---- the data scientist's one-liner ------------------------------------------------------------------------
def test_spark_udf_scores_a_table_with_the_champion(spark, small_model, stream, tmp_path, monkeypatch):
    """Register the model as `triage train` does, make it champion, and score a Spark DataFrame with
    mlflow.pyfunc.spark_udf(spark, "models:/complaint-triage@champion"): the in-process predictions."""
    import mlflow
    from pyspark.sql.functions import struct

    from training import tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    try:
        registered = tracking.log_training_run(small_model.model, small_model.directory, {"recipe": "default"})
        tracking.promote(registered["version"])

        texts = [r["text"] for r in stream.records[:40]]
        table = spark.createDataFrame(pd.DataFrame({"complaint_id": [r["complaint_id"] for r in stream.records[:40]],
                                                    "text": texts}))
        triage_udf = mlflow.pyfunc.spark_udf(spark, f"models:/{tracking.REGISTERED_MODEL}@champion",
                                             env_manager="local")
        scored = (table.withColumn("triage", triage_udf(struct("text")))
                  .select("complaint_id", "triage.*").toPandas())
    finally:
        mlflow.set_tracking_uri(None)
    expected = small_model.model.predict(texts)
    assert list(scored["complaint_id"]) == [r["complaint_id"] for r in stream.records[:40]]
    assert list(scored["category"]) == [p.category for p in expected]
    assert list(scored["tier"]) == [p.tier for p in expected]
    assert list(scored["needs_review"]) == [p.needs_review for p in expected]
    assert scored["confidence"].tolist() == pytest.approx([p.confidence for p in expected], rel=1e-9)
    assert set(scored["model_version"]) == {small_model.model.version_}


def squash(text: str) -> str:
    return "".join(text.split())
