"""The training shell's commands, run in-process with typer's CliRunner: `triage train` and `triage evaluate`, and
the errors a user meets (missing column, unknown labels, missing file). `triage predict` is the library's:
tests/triage/test_predict_cli.py.

MLflow is not the point here: training runs with --no-mlflow; see test_mlflow_roundtrip.py."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.evaluation import COVERAGE_LEVELS
from triage.models.persistence import META_FILE, MODEL_FILE

pytestmark = pytest.mark.slow  # every test trains a model or loads the one trained on the corpus

THEFT = "我的信用卡昨晚在境外被盗刷了5万元"


def assert_clean_failure(result) -> None:
    """A non-zero exit through the CLI's own error path, not an uncaught exception and its traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error:"), result.stderr


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """A CliRunner in an empty working directory, with MLflow (if anything reached it) kept in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return CliRunner()


@pytest.fixture(scope="module")
def cli_trained(tmp_path_factory, small_corpus_path):
    """`triage train` on 153 corpus rows, once for the module."""
    work = tmp_path_factory.mktemp("cli-train")
    out = work / "model"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlruns/mlflow.db")
        result = CliRunner().invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(out),
                                          "--no-mlflow"])
    return result, out, work


@pytest.fixture(scope="module")
def eval_records(corpus_records):
    """Five complaints of each category (the session model has seen them: this checks plumbing, not
    generalisation)."""
    seen: dict[str, int] = {}
    rows = []
    for record in corpus_records:
        if seen.get(record["category"], 0) < 5:
            seen[record["category"]] = seen.get(record["category"], 0) + 1
            rows.append(record)
    return rows


@pytest.fixture
def eval_jsonl(tmp_path, eval_records):
    return write_jsonl(tmp_path / "eval.jsonl", eval_records)


# --- train -----------------------------------------------------------------------------------------------


def test_train_writes_the_model_and_prints_a_json_summary(cli_trained, small_corpus_records):
    result, out, work = cli_trained
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    assert (out / MODEL_FILE).exists()
    assert summary["model_version"] == meta["model_version"]
    assert summary["model_dir"] == str(out)
    assert summary["train_rows"] == len(small_corpus_records) == meta["n_train"]
    assert summary["labels"] == sorted({r["category"] for r in small_corpus_records}) == meta["labels"]
    assert summary["tier_head"] is True
    assert meta["tiers"] == ["green", "red", "yellow"]
    assert 0 < summary["cv_macro_f1"] <= 1
    assert "mlflow_run_id" not in summary  # --no-mlflow
    assert not (work / "mlruns").exists()


def test_trained_model_predicts_through_the_cli(cli_trained, runner):
    _, out, _ = cli_trained
    result = runner.invoke(app, ["predict", "--model", str(out), THEFT])
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.stdout)
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    assert prediction["category"] in meta["labels"]
    assert prediction["model_version"] == meta["model_version"]


def test_train_without_a_tier_column_has_no_tier_head(tmp_path, runner, small_corpus_records):
    records = [{"text": r["text"], "category": r["category"]} for r in small_corpus_records[::2]]
    data = write_jsonl(tmp_path / "no-tier.jsonl", records)
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--no-mlflow"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tier_head"] is False
    assert json.loads((tmp_path / "m" / META_FILE).read_text(encoding="utf-8"))["tiers"] is None


def test_train_with_a_blank_tier_names_the_tier_column_and_line(tmp_path, runner, no_space, small_corpus_records):
    records = [{"text": r["text"], "category": r["category"], "tier": r["tier"]} for r in small_corpus_records]
    records[4]["tier"] = None  # JSONL null: would become a "nan" tier class if let through
    data = write_jsonl(tmp_path / "blank-tier.jsonl", records)
    out = tmp_path / "never"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-mlflow"])
    assert_clean_failure(result)
    assert "column'tier'isemptyin1row(s):line5" in no_space(result.stderr)
    assert not out.exists()


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_train_with_a_missing_column_names_it_and_the_columns_found(tmp_path, runner, no_space, suffix):
    records = [{"text": "信用卡被盗刷", "tier": "red"}, {"text": "催收电话打到单位", "tier": "yellow"}]
    data = tmp_path / f"bad.{suffix}"
    if suffix == "jsonl":
        write_jsonl(data, records)
    else:
        with data.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "tier"])
            writer.writeheader()
            writer.writerows(records)
    out = tmp_path / "never"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-mlflow"])
    assert_clean_failure(result)
    message = no_space(result.stderr)
    assert "missingcolumn(s)category" in message
    assert "columnsfound:text,tier" in message
    assert result.stdout == ""
    assert not out.exists()


def test_train_with_a_missing_data_file_fails_cleanly(tmp_path, runner, no_space):
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nope.jsonl"),
                                 "--out", str(tmp_path / "m"), "--no-mlflow"])
    assert_clean_failure(result)
    assert "nosuchfile" in no_space(result.stderr)


# --- evaluate ----------------------------------------------------------------------------------------------


def test_evaluate_json_prints_one_report(model_dir, eval_jsonl, eval_records, runner, trained_model):
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(eval_jsonl), "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1  # one JSON object, nothing else on stdout
    report = json.loads(result.stdout)
    for key in ("macro_f1", "accuracy", "ece", "coverage_accuracy", "per_class", "n", "model_version"):
        assert key in report
    assert list(report["coverage_accuracy"]) == ["0.5", "0.7", "0.8", "0.9", "1.0"] == list(COVERAGE_LEVELS)
    assert all(0 <= v <= 1 for v in report["coverage_accuracy"].values())
    # All rows covered is plain accuracy.
    assert report["coverage_accuracy"]["1.0"] == pytest.approx(report["accuracy"])
    assert report["n"] == len(eval_records)
    assert set(report["per_class"]) == {str(c) for c in trained_model.classes_}
    assert sum(row["support"] for row in report["per_class"].values()) == len(eval_records)
    assert all(row["support"] == 5 for row in report["per_class"].values())
    assert 0 <= report["ece"] <= 1
    assert report["model_version"] == trained_model.version_
    # Rows the model was trained on: a broken column or label mapping would show here.
    assert report["accuracy"] >= 0.8
    assert report["macro_f1"] >= 0.8


def test_evaluate_plain_text_report(model_dir, eval_jsonl, runner):
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(eval_jsonl)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("macro-F1 ")
    assert "催收行为" in result.stdout and "n=45" in result.stdout


def test_evaluate_csv_with_custom_column_names_matches_jsonl(
    tmp_path, model_dir, eval_jsonl, eval_records, runner
):
    data = tmp_path / "eval.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "complaint", "label"])
        writer.writeheader()
        writer.writerows({"id": r["complaint_id"], "complaint": r["text"], "label": r["category"]}
                         for r in eval_records)
    from_csv = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data),
                                   "--text-column", "complaint", "--label-column", "label", "--json"])
    assert from_csv.exit_code == 0, from_csv.output
    from_jsonl = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(eval_jsonl),
                                     "--json"])
    assert from_jsonl.exit_code == 0, from_jsonl.output
    csv_report, jsonl_report = json.loads(from_csv.stdout), json.loads(from_jsonl.stdout)
    assert csv_report["n"] == len(eval_records)
    assert csv_report["per_class"] == jsonl_report["per_class"]
    assert csv_report["accuracy"] == pytest.approx(jsonl_report["accuracy"])
    assert csv_report["ece"] == pytest.approx(jsonl_report["ece"], abs=1e-9)


def test_evaluate_csv_without_the_default_columns_names_them(tmp_path, model_dir, runner, no_space):
    data = tmp_path / "eval.csv"
    data.write_text("complaint,label\n信用卡被盗刷,资金安全\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data), "--json"])
    assert_clean_failure(result)
    message = no_space(result.stderr)
    assert "missingcolumn(s)text,category" in message
    assert "columnsfound:complaint,label" in message


def test_evaluate_with_labels_the_model_never_saw(tmp_path, model_dir, eval_records, runner, no_space):
    records = [dict(r) for r in eval_records]
    records[0]["category"] = "外星人投诉"
    records[1]["category"] = "Zzz"
    data = write_jsonl(tmp_path / "unknown.jsonl", records)
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data), "--json"])
    assert_clean_failure(result)
    message = no_space(result.stderr)
    assert "labelsthemodelneversaw:Zzz,外星人投诉" in message
    assert "催收行为" in message  # and what it does know
    assert result.stdout == ""


# --- evaluate: the decided tier and the routing ------------------------------------------------------------


def test_evaluate_scores_the_decided_tier_when_the_data_has_tiers(model_dir, eval_jsonl, eval_records, runner):
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(eval_jsonl), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    tier, model_tier = report["tier"], report["tier_model"]
    assert tier["n"] == model_tier["n"] == len(eval_records)
    matrix = tier["confusion"]["matrix"]
    assert tier["confusion"]["labels"] == ["red", "yellow", "green"]
    assert sum(map(sum, matrix)) == len(eval_records)
    gold = [r["tier"] for r in eval_records]
    for row, label in zip(matrix, ["red", "yellow", "green"], strict=True):
        assert sum(row) == gold.count(label)  # rows are the gold tiers
    assert tier["accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(3)) / len(eval_records))
    assert tier["red_support"] == gold.count("red")
    assert tier["red_recall"] == pytest.approx(matrix[0][0] / gold.count("red"))
    # Rules only raise: the decided tier is never less urgent than the model's, so red recall cannot drop.
    assert tier["red_recall"] >= model_tier["red_recall"]
    routing = report["routing"]
    assert 0 <= routing["auto_routed_share"] <= 1
    assert routing["auto_routed_share"] + routing["review_share"] == pytest.approx(1)
    plain = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(eval_jsonl)])
    assert "tier (model + policy): accuracy" in plain.stdout and "routed without review" in plain.stdout


def test_evaluate_without_a_tier_column_scores_the_category_alone_and_says_so(
        tmp_path, model_dir, eval_records, runner):
    data = write_jsonl(tmp_path / "no-tier.jsonl", [{"text": r["text"], "category": r["category"]}
                                                    for r in eval_records])
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tier"] is None and "tier_model" not in report
    assert "no 'tier' column" in result.stderr and "category alone" in result.stderr
    assert report["routing"]["auto_routed_share"] >= 0


def test_evaluate_names_an_unknown_tier(tmp_path, model_dir, eval_records, runner):
    data = write_jsonl(tmp_path / "bad-tier.jsonl", [{"text": r["text"], "category": r["category"],
                                                       "tier": "orange"} for r in eval_records[:3]])
    result = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(data)])
    assert_clean_failure(result)
    assert "orange" in result.stderr and "red, yellow, green" in result.stderr


def test_audit_command_writes_the_flagged_rows(tmp_path, eval_records, runner):
    records = [{"text": r["text"], "category": r["category"]} for r in eval_records]
    records[0]["category"] = next(c for c in {r["category"] for r in eval_records} if c != records[0]["category"])
    data = write_jsonl(tmp_path / "labels.jsonl", records)
    out = tmp_path / "audit.csv"
    result = runner.invoke(app, ["audit", "--data", str(data), "--out", str(out), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "likely mislabelled" in result.stdout
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) >= {"row", "label", "suggested", "quality", "text"}
