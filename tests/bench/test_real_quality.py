"""bench.real_quality: the whole decision scored against gold categories and tiers — on a small file written
here (the real dev set is read by path and may be absent: the benchmark then says so and exits 2)."""

from __future__ import annotations

import csv
import json

from bench import real_quality


def write_gold(path, records):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["gid", "text", "category", "tier"])
        writer.writeheader()
        writer.writerows({"gid": r["complaint_id"], "text": r["text"], "category": r["category"],
                          "tier": r["tier"]} for r in records)
    return path


def test_prints_every_figure_of_the_issue_beside_its_target(tmp_path, model_dir, corpus_records, capsys):
    records = [r for r in corpus_records if r["tier"] == "red"][:10] + corpus_records[:40]
    gold = write_gold(tmp_path / "gold.csv", records)
    assert real_quality.main(["--model", str(model_dir), "--data", str(gold), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in real_quality.TARGETS:
        assert key in result
    assert result["n"] == len(records)
    assert result["red_support"] == sum(r["tier"] == "red" for r in records)
    missed = {m["id"] for m in result["missed_reds"]}
    assert len(missed) == round((1 - result["red_recall"]) * result["red_support"])
    assert real_quality.main(["--model", str(model_dir), "--data", str(gold)]) == 0
    table = capsys.readouterr().out
    assert "| category_accuracy |" in table and "0.925" in table and "tier confusion" in table


def test_says_so_when_the_real_data_is_absent(tmp_path, model_dir, capsys):
    assert real_quality.main(["--model", str(model_dir), "--data", str(tmp_path / "absent.csv")]) == 2
    assert "no real data" in capsys.readouterr().err
