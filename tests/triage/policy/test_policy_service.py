"""The policy on top of the real model, through the command line: `triage predict` prints the whole
decision, and `triage policy diff` shows what a policy change moves on real complaints.

The model is trained once for this module on the project corpus (category and tier heads) and saved to
a temporary directory; nothing is mocked and nothing reaches the network.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.policy.schema import DEFAULT_POLICY
from triage.schemas import Decision

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "datasets" / "complaints.jsonl"
THEFT = "我的信用卡昨晚在境外被盗刷了5万元，到现在还没人处理"
DISTRESS = "催收天天打电话骂我，我真的活不下去了"
HEAD_OFFICE_PREFIX = "总行"


def read_corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def runner(monkeypatch, tmp_path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return CliRunner()


def predict(runner: CliRunner, model_dir: Path, text: str, *options: str) -> Decision:
    result = runner.invoke(app, ["predict", "--model", str(model_dir), *options, text])
    assert result.exit_code == 0, result.output
    return Decision.model_validate_json(result.stdout)


# --- predict -------------------------------------------------------------------------------------------


def test_theft_of_50000_is_red_with_its_evidence_and_head_office_approval(runner, model_dir):
    decision = predict(runner, model_dir, THEFT)
    assert decision.category == "资金安全"
    assert decision.department == "风险管理部"
    assert decision.tier.label == "red"
    rule = next(r for r in decision.tier.reasons if r.rule == "R-FUND-LOSS-LARGE")
    assert any("盗刷" in e for e in rule.evidence), rule.evidence
    assert "金额 50,000 元" in rule.evidence
    assert decision.amount == 50_000
    assert decision.approval_level is not None and decision.approval_level.startswith(HEAD_OFFICE_PREFIX)
    assert "应急处置小组" in [e.target for e in decision.escalations]
    assert decision.policy_version == "2026.11.30-default"
    assert decision.codes.cause.code == "C09"


def test_predict_takes_the_complaint_fields(runner, model_dir):
    decision = predict(runner, model_dir, THEFT, "--channel", "app", "--product", "信用卡",
                       "--received-at", "2025-09-30T16:00:00+08:00", "--amount", "800")
    assert decision.codes.channel.code == "A303"
    assert decision.codes.business.code == "B03"
    assert decision.amount == 800
    assert decision.approval_level == "部门负责人"
    assert decision.clocks.register_by.isoformat() == "2025-09-30T17:00:00+08:00"
    assert decision.clocks.decide_by.isoformat() == "2025-10-30T17:00:00+08:00"  # 资金安全 is complex


def test_distress_is_red_and_reviewed(runner, model_dir):
    decision = predict(runner, model_dir, DISTRESS)
    assert decision.tier.label == "red"
    assert decision.needs_review
    assert any("R-DISTRESS" in r for r in decision.review_reasons)
    distress = next(r for r in decision.tier.reasons if r.rule == "R-DISTRESS")
    assert "活不下去" in distress.evidence


def test_predict_refuses_an_unknown_channel(runner, model_dir):
    result = runner.invoke(app, ["predict", "--model", str(model_dir), "--channel", "email", THEFT])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "channel" in result.stderr


def test_predict_refuses_a_broken_policy(runner, model_dir, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), encoding="utf-8")
    result = runner.invoke(app, ["predict", "--model", str(model_dir), "--policy", str(broken), THEFT])
    assert result.exit_code != 0
    assert "timezone" in result.stderr


# --- policy diff ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diff_data(tmp_path_factory) -> Path:
    """60 corpus complaints: the first 6 of each category by id, and 6 more of 营销宣传."""
    by_category: dict[str, list[dict]] = defaultdict(list)
    for record in sorted(read_corpus(), key=lambda r: r["complaint_id"]):
        by_category[record["category"]].append(record)
    rows = [r for category in sorted(by_category) for r in by_category[category][:6]]
    rows += by_category["营销宣传"][6:12]
    assert len(rows) == 60
    path = tmp_path_factory.mktemp("diff-data") / "sample.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_policy(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def diff(runner: CliRunner, old: Path, new: Path, data: Path, model_dir: Path, *options: str):
    return runner.invoke(app, ["policy", "diff", str(old), str(new), "--data", str(data), "--model",
                               str(model_dir), *options])


def test_diff_reports_complaints_moving_department(runner, model_dir, diff_data, tmp_path):
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    section = '[categories."营销宣传"]\ndepartment = "消费者权益保护部"'
    assert section in text
    moved = text.replace(section, '[categories."营销宣传"]\ndepartment = "零售银行部"').replace(
        'version = "2026.11.30-default"', 'version = "2025.12-marketing"')
    old = write_policy(tmp_path / "default.toml", text)
    new = write_policy(tmp_path / "marketing.toml", moved)
    result = diff(runner, old, new, diff_data, model_dir, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["complaints"] == 60
    assert summary["old"] == "2026.11.30-default" and summary["new"] == "2025.12-marketing"
    assert summary["changed"]["department"] >= 6  # most of the 12 marketing complaints
    assert [m["move"] for m in summary["moves"]["department"]] == ["消费者权益保护部 → 零售银行部"]
    assert summary["moves"]["department"][0]["examples"]
    assert summary["changed"]["tier"] == summary["changed"]["escalation"] == 0
    assert summary["changed"]["needs_review"] == 0

    plain = diff(runner, old, new, diff_data, model_dir)
    assert plain.exit_code == 0, plain.output
    assert "消费者权益保护部 → 零售银行部" in plain.stdout
    assert f"department: {summary['changed']['department']} changed" in plain.stdout


def test_diff_of_identical_policies_reports_no_changes(runner, model_dir, diff_data, tmp_path):
    copy = write_policy(tmp_path / "copy.toml", DEFAULT_POLICY.read_text(encoding="utf-8"))
    result = diff(runner, Path(str(DEFAULT_POLICY)), copy, diff_data, model_dir, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["complaints"] == 60
    assert summary["changed"] == {"department": 0, "tier": 0, "escalation": 0, "needs_review": 0}
    assert all(moves == [] for moves in summary["moves"].values())


def test_diff_reports_tier_moves_when_a_threshold_changes(runner, model_dir, diff_data, tmp_path):
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    rule = 'when = { amount_at_least = 10000 }\nfloor = "yellow"'
    assert rule in text
    stricter = write_policy(tmp_path / "strict.toml",
                            text.replace(rule, 'when = { amount_at_least = 1 }\nfloor = "red"'))
    result = diff(runner, Path(str(DEFAULT_POLICY)), stricter, diff_data, model_dir, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["changed"]["tier"] > 0
    assert all(m["move"].endswith("→ red") for m in summary["moves"]["tier"])
    assert summary["changed"]["department"] == 0


def test_diff_refuses_a_broken_policy(runner, model_dir, diff_data, tmp_path):
    broken = write_policy(tmp_path / "broken.toml", "version = \n")
    result = diff(runner, Path(str(DEFAULT_POLICY)), broken, diff_data, model_dir)
    assert result.exit_code != 0
    assert "notvalidTOML" in re.sub(r"\s+", "", result.stderr)  # rich wraps at the terminal width
