"""Training on team-lead feedback: reading and checking the exported rows, the feedback version, merging
them into the training data with a weight, the weights reaching the classifiers, and `triage train
--feedback` (without MLflow here; one slow test logs to a throw-away SQLite tracking store)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from training.feedback import MERGED, feedback_version, merge_feedback, read_feedback
from triage.cli import app
from triage.data import DataError
from triage.models import TriageModel
from triage.models.persistence import META_FILE
from triage.models.triage_model import data_hash

FEEDBACK_VERSION = re.compile(r"^fb-[0-9a-f]{12}-n\d+$")


def write_jsonl(path, records, blank_lines_after: tuple[int, ...] = ()):
    lines = []
    for i, record in enumerate(records):
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if i in blank_lines_after:
            lines.append("\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def feedback_row(text: str, category: str, tier: str | None = "yellow", **extra) -> dict:
    row = {"complaint_id": extra.pop("complaint_id", "C99999"), "text": text, "category": category, "tier": tier,
           "department": "信用卡中心", "action": "correct", "original_category": "其他",
           "original_tier": "green", "reviewer": "lead-1", "reviewed_at": "2025-10-01T09:00:00+08:00"}
    row.update(extra)
    return row


def no_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


TRAIN = pd.DataFrame({
    "text": ["信用卡被盗刷了两万", "催收电话打到单位", "年费重复扣了两次", "APP闪退登录不了"],
    "category": ["资金安全", "催收行为", "定价收费", "系统故障"],
    "tier": ["red", "yellow", "green", "green"],
})


# --- read_feedback: what is checked, and where the error points ------------------------------------------


def test_read_feedback_reads_an_export(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全", "red", action="confirm"),
            feedback_row("客服态度差", "客户服务", None)]
    frame = read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows, blank_lines_after=(0,)))
    assert list(frame["text"]) == ["信用卡被盗刷了两万", "客服态度差"]
    assert list(frame["tier"]) == ["red", None]  # tier is optional
    assert list(frame["source_line"]) == ["line 1", "line 3"]  # blank line 2 skipped, still counted


def test_missing_text_names_the_line_and_field(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全"), feedback_row("", "客户服务"),
            feedback_row("催收电话打到单位", "催收行为")]
    with pytest.raises(DataError) as caught:
        read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows, blank_lines_after=(0,)))
    message = str(caught.value)
    assert "'text'" in message
    assert "line 3" in message  # the file line (a blank line precedes it), not the row number


def test_missing_category_key_names_the_line_and_field(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全"), feedback_row("催收电话打到单位", "催收行为")]
    del rows[1]["category"]
    with pytest.raises(DataError, match=r"'category'.*line 2"):
        read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows))


def test_a_bad_tier_names_the_line_field_and_allowed_values(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全", "red"),
            feedback_row("催收电话打到单位", "催收行为", "orange")]
    with pytest.raises(DataError) as caught:
        read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows))
    message = str(caught.value)
    assert "line 2: field 'tier' is 'orange'" in message
    assert "red, yellow, green" in message


def test_a_text_that_is_not_a_string_is_refused(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全"), feedback_row("x", "资金安全")]
    rows[1]["text"] = 12345
    with pytest.raises(DataError, match=r"line 2: field 'text' must be a string, got int"):
        read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows))


def test_a_bad_action_names_the_line(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全", action="approve")]
    with pytest.raises(DataError, match=r"line 1: field 'action' is 'approve'"):
        read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows))


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(json.dumps(feedback_row("信用卡被盗刷了两万", "资金安全"), ensure_ascii=False)
                    + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r":2: not valid JSON"):
        read_feedback(path)


# --- feedback_version ---------------------------------------------------------------------------------


def test_feedback_version_is_stable_and_content_addressed(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全", "red"), feedback_row("客服态度差", "客户服务", None)]
    first = feedback_version(read_feedback(write_jsonl(tmp_path / "a.jsonl", rows)))
    assert FEEDBACK_VERSION.match(first), first
    assert first.endswith("-n2")
    # Key order, blank lines and columns outside the export schema do not change it.
    shuffled = [dict(reversed(list(r.items()))) | {"note": "ignored"} for r in rows]
    again = feedback_version(read_feedback(write_jsonl(tmp_path / "b.jsonl", shuffled, blank_lines_after=(0,))))
    assert again == first
    # Any exported value does.
    changed = [rows[0], {**rows[1], "category": "其他"}]
    assert feedback_version(read_feedback(write_jsonl(tmp_path / "c.jsonl", changed))) != first
    assert feedback_version(read_feedback(write_jsonl(tmp_path / "d.jsonl", rows[:1]))).endswith("-n1")


# --- merge_feedback -----------------------------------------------------------------------------------


def test_a_correction_replaces_the_training_label_instead_of_adding_a_row(tmp_path):
    rows = [feedback_row("年费重复扣了两次", "资金安全", "red"),  # the lead corrected a training row
            feedback_row("客服态度差，电话一直打不通", "系统故障", "yellow")]  # a complaint training never had
    feedback = read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows))
    merged, weights = merge_feedback(TRAIN, feedback, 4.0)

    assert len(merged) == len(TRAIN) + 1
    assert list(merged["text"]).count("年费重复扣了两次") == 1
    corrected = merged.index[merged["text"] == "年费重复扣了两次"][0]
    assert merged.loc[corrected, "category"] == "资金安全"
    assert merged.loc[corrected, "tier"] == "red"
    assert merged.loc[corrected, MERGED] == "replaced"
    assert merged.loc[len(TRAIN), "text"] == "客服态度差，电话一直打不通"
    assert merged.loc[len(TRAIN), MERGED] == "added"
    assert weights.tolist() == [1.0, 1.0, 4.0, 1.0, 4.0]
    # Untouched rows keep their labels; the input frame is not modified.
    assert list(merged["category"][:2]) == ["资金安全", "催收行为"]
    assert TRAIN.loc[2, "category"] == "定价收费"


def test_text_match_ignores_surrounding_whitespace_and_the_latest_review_wins(tmp_path):
    rows = [feedback_row("  年费重复扣了两次\n", "系统故障", reviewed_at="2025-10-02T09:00:00+08:00"),
            feedback_row("年费重复扣了两次", "资金安全", reviewed_at="2025-10-01T09:00:00+08:00")]
    merged, weights = merge_feedback(TRAIN, read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows)), 2.0)
    assert len(merged) == len(TRAIN)
    assert merged.loc[2, "category"] == "系统故障"  # reviewed later, though earlier in the file
    assert weights.tolist() == [1.0, 1.0, 2.0, 1.0]


def test_a_feedback_row_without_tier_keeps_the_training_tier(tmp_path):
    rows = [feedback_row("年费重复扣了两次", "资金安全", None)]
    merged, _ = merge_feedback(TRAIN, read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows)), 3.0)
    assert merged.loc[2, ["category", "tier"]].tolist() == ["资金安全", "green"]


def test_a_new_row_without_tier_is_refused_when_training_has_tiers(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全"), feedback_row("客服态度差", "客户服务", None)]
    train = pd.concat([TRAIN, pd.DataFrame({"text": ["t"], "category": ["客户服务"], "tier": ["green"]})])
    with pytest.raises(DataError, match=r"line 2: field 'tier' is missing"):
        merge_feedback(train, read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows)), 3.0)
    # Without a tier column in the training data there is no tier head, and no tier is needed.
    merged, _ = merge_feedback(train.drop(columns="tier"),
                               read_feedback(write_jsonl(tmp_path / "fb2.jsonl", rows)), 3.0)
    assert "tier" not in merged.columns


def test_an_unknown_category_is_refused_naming_it_and_the_line(tmp_path):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全"), feedback_row("理财亏了", "投资理财")]
    with pytest.raises(DataError) as caught:
        merge_feedback(TRAIN, read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows)), 3.0)
    message = str(caught.value)
    assert "unknown category '投资理财'" in message
    assert "line 2" in message
    assert "资金安全" in message  # and says what the training data has


@pytest.mark.parametrize("weight", [0, -1.0, float("nan"), float("inf")])
def test_the_weight_must_be_positive(tmp_path, weight):
    rows = [feedback_row("信用卡被盗刷了两万", "资金安全")]
    with pytest.raises(ValueError, match="positive"):
        merge_feedback(TRAIN, read_feedback(write_jsonl(tmp_path / "fb.jsonl", rows)), weight)


# --- the weights reach the model ----------------------------------------------------------------------


def test_data_hash_counts_weights_only_when_given():
    texts, labels = ["a", "b"], ["x", "y"]
    assert data_hash(texts, labels, None) == data_hash(texts, labels, None, None)
    assert data_hash(texts, labels, None, [1.0, 1.0]) != data_hash(texts, labels, None)
    assert data_hash(texts, labels, None, [1.0, 3.0]) != data_hash(texts, labels, None, [1.0, 1.0])


@pytest.fixture(scope="module")
def small_frame(small_corpus_records) -> pd.DataFrame:
    return pd.DataFrame(small_corpus_records)[["text", "category", "tier"]]


@pytest.fixture(scope="module")
def small_embeddings(small_frame) -> np.ndarray:
    model = TriageModel()
    return model.embed([p.text for p in model.prepare(list(small_frame["text"]))])


def test_sample_weight_must_match_the_rows(small_frame, small_embeddings):
    with pytest.raises(ValueError, match="one weight per training row"):
        TriageModel().fit(list(small_frame["text"]), list(small_frame["category"]), embeddings=small_embeddings,
                          sample_weight=np.ones(len(small_frame) - 1))


def test_sample_weight_reaches_every_logistic_head(small_frame, small_embeddings, monkeypatch):
    """The default heads: every LogisticRegression fit (both heads, every fold and the final fit) gets the
    weights when they are given."""
    from sklearn.linear_model import LogisticRegression

    seen: list = []
    fit = LogisticRegression.fit

    def spy(self, X, y, sample_weight=None):
        seen.append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    texts, categories, tiers = list(small_frame["text"]), list(small_frame["category"]), list(small_frame["tier"])
    weights = np.linspace(0.5, 7.0, len(texts))
    TriageModel().fit(texts, categories, tiers, embeddings=small_embeddings, sample_weight=weights)
    assert len(seen) == 2 * (5 + 1)  # 2 heads x (5 folds + the final fit)
    assert all(w is not None and set(np.round(w, 9)) <= set(np.round(weights, 9)) for w in seen)


def test_sample_weight_reaches_every_svm_and_calibrator(small_frame, small_embeddings, monkeypatch):
    """Both heads, cross-validation and final fit: every LinearSVC and every isotonic calibrator is fitted
    with weights (and without them when none are given)."""
    seen: dict[str, list] = {"svm": [], "isotonic": []}
    svm_fit, isotonic_fit = LinearSVC.fit, IsotonicRegression.fit

    def spy_svm(self, X, y, sample_weight=None):
        seen["svm"].append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return svm_fit(self, X, y, sample_weight=sample_weight)

    def spy_isotonic(self, X, y, sample_weight=None):
        seen["isotonic"].append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return isotonic_fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(LinearSVC, "fit", spy_svm)
    monkeypatch.setattr(IsotonicRegression, "fit", spy_isotonic)
    texts, categories, tiers = list(small_frame["text"]), list(small_frame["category"]), list(small_frame["tier"])

    svm_heads = {"category_params": {"kind": "svm"}, "tier_params": {"kind": "svm"}}
    TriageModel(**svm_heads).fit(texts, categories, tiers, embeddings=small_embeddings)
    assert seen["svm"] and all(w is None for w in seen["svm"])
    assert seen["isotonic"] and all(w is None for w in seen["isotonic"])
    unweighted_calls = {k: len(v) for k, v in seen.items()}

    seen["svm"].clear()
    seen["isotonic"].clear()
    weights = np.linspace(0.5, 7.0, len(texts))
    TriageModel(**svm_heads).fit(texts, categories, tiers, embeddings=small_embeddings, sample_weight=weights)
    assert {k: len(v) for k, v in seen.items()} == unweighted_calls
    # 2 heads x (5 outer folds + the final fit) x 5 calibration folds
    assert len(seen["svm"]) == 2 * (5 + 1) * 5
    assert all(w is not None for w in seen["svm"] + seen["isotonic"])
    # Subsets of the given weights, not uniform ones; the final fits' SVMs see 4/5 of all rows.
    assert all(set(np.round(w, 9)) <= set(np.round(weights, 9)) and len(set(w)) > 1 for w in seen["svm"])
    assert max(len(w) for w in seen["svm"]) == pytest.approx(len(texts) * 4 / 5, abs=1)


def test_weighted_correction_changes_the_prediction_for_its_text(small_frame, small_embeddings):
    """A lead relabels one training complaint (an information-security one as a fee complaint). Weighted
    heavily, the model now predicts the lead's label for that exact text; weighted 1e-6 the correction
    hardly counts and the model keeps predicting what the rest of the corpus says."""
    index = int(np.flatnonzero(small_frame["category"] == "信息安全")[0])
    text = small_frame["text"].iloc[index]
    feedback = pd.DataFrame([{"text": text, "category": "定价收费", "tier": small_frame["tier"].iloc[index]}])

    def predict_after(weight: float):
        merged, weights = merge_feedback(small_frame, feedback, weight)
        assert len(merged) == len(small_frame)  # replaced, not appended: the embeddings stay aligned
        model = TriageModel().fit(list(merged["text"]), list(merged["category"]), embeddings=small_embeddings,
                                  sample_weight=weights)
        prediction = model.predict([text], small_embeddings[index:index + 1])[0]
        return prediction.category, {p.label: p.probability for p in prediction.top_categories}

    heavy, heavy_probabilities = predict_after(50.0)
    assert heavy == "定价收费"
    assert heavy_probabilities["定价收费"] > 0.8

    ignored, ignored_probabilities = predict_after(1e-6)
    assert ignored == "信息安全"
    assert ignored_probabilities.get("定价收费", 0.0) < 0.2


# --- triage train --feedback ----------------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return CliRunner()


@pytest.fixture
def export(tmp_path, small_corpus_records):
    """A feedback export: one correction of a training complaint, one confirmation of a new one."""
    corrected = small_corpus_records[0]
    rows = [feedback_row(corrected["text"], "定价收费", corrected["tier"], complaint_id=corrected["complaint_id"]),
            feedback_row("信用卡年费去年说好免的，今年又扣了300元", "定价收费", "green", action="confirm")]
    return write_jsonl(tmp_path / "feedback.jsonl", rows)


def test_train_with_feedback_prints_the_feedback_version(runner, tmp_path, small_corpus_path, small_corpus_records,
                                                        export):
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(out), "--no-mlflow",
                                 "--feedback", str(export), "--feedback-weight", "5"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["feedback_version"] == feedback_version(read_feedback(export))
    assert FEEDBACK_VERSION.match(summary["feedback_version"])
    assert summary["feedback_file"] == str(export)
    assert summary["feedback_rows"] == 2
    assert summary["feedback_weight"] == 5.0
    assert (summary["feedback_replaced"], summary["feedback_added"]) == (1, 1)
    assert summary["train_rows"] == len(small_corpus_records) + 1
    assert json.loads((out / META_FILE).read_text(encoding="utf-8"))["n_train"] == len(small_corpus_records) + 1
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("weight", ["0", "-2"])
def test_train_refuses_a_non_positive_feedback_weight(runner, tmp_path, small_corpus_path, export, weight):
    result = runner.invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(tmp_path / "never"),
                                 "--no-mlflow", "--feedback", str(export), "--feedback-weight", weight])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "--feedback-weightmustbeanumber>0" in no_space(result.stderr)
    assert not (tmp_path / "never").exists()


def test_train_with_bad_feedback_fails_naming_line_and_field(runner, tmp_path, small_corpus_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [feedback_row("催收电话打到单位", "催收行为", "purple")])
    result = runner.invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(tmp_path / "never"),
                                 "--no-mlflow", "--feedback", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "line1:field'tier'is'purple'" in no_space(result.stderr)
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_train_with_feedback_logs_the_feedback_to_mlflow(tmp_path, monkeypatch, small_corpus_path, export):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        result = CliRunner().invoke(app, ["train", "--data", str(small_corpus_path), "--out", str(tmp_path / "m"),
                                          "--feedback", str(export), "--feedback-weight", "2.5"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        run = MlflowClient(tracking_uri=uri).get_run(summary["mlflow_run_id"])
    finally:
        mlflow.set_tracking_uri(None)  # forget the temporary store before the environment is restored
    params = run.data.params
    version = feedback_version(read_feedback(export))
    assert summary["feedback_version"] == version
    assert params["feedback_version"] == version
    assert params["feedback_file"] == str(export)
    assert params["feedback_rows"] == "2"
    assert float(params["feedback_weight"]) == 2.5
    assert run.data.tags["feedback_version"] == version
    meta = json.loads((tmp_path / "m" / META_FILE).read_text(encoding="utf-8"))
    assert params["training_data_sha256"] == meta["training_data_sha256"]
