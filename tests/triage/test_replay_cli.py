"""`triage replay`: files in, decisions and clusters out, and the errors a user meets on the way."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from triage.cli import app

pytestmark = pytest.mark.slow  # loads the session model


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


SERIES = [  # one customer, one matter, written out of order on purpose
    {"complaint_id": "S3", "customer_id": "U1", "received_at": "2025-10-20T10:00:00+08:00",
     "text": "第三次投诉了！催收还在打我单位电话，上次说的事没人处理，这次还发短信威胁要上门。"},
    {"complaint_id": "S1", "customer_id": "U1", "received_at": "2025-10-01T10:00:00+08:00",
     "text": "催收人员天天打电话到我单位，跟我领导说我欠钱不还，严重影响我的工作，请停止骚扰。"},
    {"complaint_id": "S2", "customer_id": "U1", "received_at": "2025-10-08T10:00:00+08:00",
     "text": "上周投诉催收打我单位电话的事还没处理，今天催收又打到单位了，请尽快处理。"},
    {"complaint_id": "O1", "customer_id": "U2", "received_at": "2025-10-02T11:00:00+08:00",
     "text": "信用卡年费没有提前通知就扣了300元，要求退还。", "channel": "app", "product": "信用卡", "amount": 300},
]


def run(runner, *args):
    return runner.invoke(app, ["replay", *map(str, args)])


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_replay_writes_one_decision_per_complaint_in_time_order(runner, tmp_path, model_dir):
    data = write_jsonl(tmp_path / "in.jsonl", SERIES)
    result = run(runner, "--data", data, "--out", tmp_path / "out", "--model", model_dir)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (tmp_path / "out" / "decisions.jsonl").open(encoding="utf-8")]
    assert [d["complaint_id"] for d in decisions] == ["S1", "O1", "S2", "S3"]
    by_id = {d["complaint_id"]: d for d in decisions}
    assert [by_id[i]["repeat"]["repeat_count"] for i in ("S1", "S2", "S3")] == [1, 2, 3]
    assert by_id["S3"]["repeat"]["matter_id"] == "S1"
    assert {r["complaint_id"] for r in by_id["S3"]["repeat"]["related"]} == {"S1", "S2"}
    assert "投诉处理主管" in [e["target"] for e in by_id["S3"]["escalations"]]
    assert not by_id["O1"]["repeat"]["is_repeat"] and by_id["O1"]["amount"] == 300
    assert all(set(d["group"]) == {"cluster_id", "cluster_size", "distinct_customers", "alert"} for d in decisions)
    assert json.loads((tmp_path / "out" / "clusters.json").read_text(encoding="utf-8")) == []
    assert "4 complaints" in result.stderr and "replay" in result.stderr  # the progress bar and the summary


def test_replay_reads_csv_too(runner, tmp_path, model_dir):
    import csv

    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["complaint_id", "customer_id", "received_at", "text", "amount"])
        writer.writeheader()
        for row in SERIES:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    result = run(runner, "--data", path, "--out", tmp_path / "out", "--model", model_dir)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (tmp_path / "out" / "decisions.jsonl").open(encoding="utf-8")]
    assert len(decisions) == 4 and decisions[-1]["repeat"]["repeat_count"] == 3


@pytest.mark.parametrize(("records", "expected"), [
    pytest.param([{k: v for k, v in SERIES[0].items() if k != "customer_id"}], "missing column(s) customer_id",
                 id="missing_column"),
    pytest.param([SERIES[0], SERIES[0]], "complaint_id repeated: S3", id="duplicate_id"),
    pytest.param([{**SERIES[0], "received_at": "昨天"}], "row 1 (complaint_id S3): received_at", id="bad_time"),
    pytest.param([{**SERIES[0], "text": "   "}], "column 'text' is empty", id="empty_text"),
    pytest.param([{**SERIES[0], "amount": -5}], "row 1 (complaint_id S3): amount", id="negative_amount"),
])
def test_bad_input_is_named_and_nothing_is_written(runner, tmp_path, model_dir, records, expected):
    data = write_jsonl(tmp_path / "in.jsonl", records)
    result = run(runner, "--data", data, "--out", tmp_path / "out", "--model", model_dir)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and expected in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "out").exists()
