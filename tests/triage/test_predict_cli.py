"""`triage predict`, the library's command, run in-process with typer's CliRunner: the whole decision as JSON, and
the errors a user meets (empty text, no model, a model written by other versions)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.models.persistence import installed_versions

pytestmark = pytest.mark.slow  # every test loads the model trained on the corpus

THEFT = "我的信用卡昨晚在境外被盗刷了5万元"


def assert_clean_failure(result) -> None:
    """A non-zero exit through the CLI's own error path, not an uncaught exception and its traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error:"), result.stderr


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """A CliRunner in an empty working directory."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def model_part(output: dict) -> tuple[float, str | None]:
    """(category confidence, model tier) from `predict` output: a bare model Prediction
    ({"confidence", "tier": "red"}) or a routing Decision ({"category_confidence", "tier": {...}})."""
    if isinstance(output["tier"], dict):
        return output["category_confidence"], output["tier"]["model_label"]
    return output["confidence"], output["tier"]


def test_predict_prints_the_decision_as_json(model_dir, runner, trained_model):
    result = runner.invoke(app, ["predict", "--model", str(model_dir), THEFT])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["category"] == "资金安全"
    expected = trained_model.predict([THEFT])[0]
    confidence, tier = model_part(output)
    assert confidence == pytest.approx(expected.confidence, abs=1e-6)
    assert tier == expected.tier
    assert output["model_version"] == trained_model.version_
    assert [t["label"] for t in output["top_categories"]] == [t.label for t in expected.top_categories]
    assert output["masked_text"] == THEFT
    assert result.stderr == ""  # same versions: no warning


def test_predict_uses_the_model_dir_setting(model_dir, runner, monkeypatch):
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_dir))
    result = runner.invoke(app, ["predict", THEFT])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["category"] == "资金安全"


@pytest.mark.parametrize("text", ["   ", ""], ids=["spaces", "empty"])
def test_predict_blank_text_fails_with_a_clear_message(model_dir, runner, text):
    result = runner.invoke(app, ["predict", "--model", str(model_dir), text])
    assert_clean_failure(result)
    message = result.stderr.lower()
    assert "text" in message  # names what is wrong ...
    assert any(word in message for word in ("empty", "whitespace", "at least 1 character"))  # ... and how
    assert "traceback" not in message
    assert result.stdout == ""


def test_predict_without_a_model_fails_with_a_clear_message(tmp_path, runner, no_space):
    result = runner.invoke(app, ["predict", "--model", str(tmp_path / "none"), THEFT])
    assert_clean_failure(result)
    assert "meta.jsonismissing" in no_space(result.stderr)
    assert result.stdout == ""


def test_predict_warns_when_the_model_was_written_by_other_versions(
    model_copy, rewrite_meta, version_bumps, runner, no_space
):
    other_minor, _ = version_bumps
    installed = installed_versions()["numpy"]
    rewrite_meta(model_copy, versions={"numpy": other_minor(installed)})
    result = runner.invoke(app, ["predict", "--model", str(model_copy), THEFT])
    assert result.exit_code == 0, result.output
    message = no_space(result.stderr)
    assert message.startswith("warning:")
    assert f"numpy{other_minor(installed)}(installed{installed})" in message
    assert json.loads(result.stdout)["category"] == "资金安全"  # the prediction still comes


def test_predict_refuses_a_model_of_another_scikit_learn_major(
    model_copy, rewrite_meta, version_bumps, runner, no_space
):
    _, other_major = version_bumps
    installed = installed_versions()["scikit-learn"]
    rewrite_meta(model_copy, versions={"scikit-learn": other_major(installed)})
    result = runner.invoke(app, ["predict", "--model", str(model_copy), THEFT])
    assert_clean_failure(result)
    message = no_space(result.stderr)
    assert f"scikit-learn{other_major(installed)},installedis{installed}" in message
    assert result.stdout == ""
