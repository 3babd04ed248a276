"""The label audit finds rows whose labels were deliberately flipped, and suggests the label they had."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.audit import audit_labels

CORPUS = Path(__file__).resolve().parents[2] / "datasets" / "real_style.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    records = [json.loads(line) for line in CORPUS.open(encoding="utf-8")]
    picked: list[dict] = []
    for category in ("催收行为", "定价收费", "系统故障"):
        picked += [r for r in records if r["category"] == category][:150]
    return picked


def test_flipped_labels_rank_first_with_the_true_label_suggested(rows):
    rng = np.random.default_rng(0)
    labels = [r["category"] for r in rows]
    flipped = rng.choice(len(rows), size=12, replace=False)
    others = {"催收行为": "系统故障", "定价收费": "催收行为", "系统故障": "定价收费"}
    for i in flipped:
        labels[i] = others[labels[i]]
    result = audit_labels([r["text"] for r in rows], labels)
    top = result.issues.head(20)
    found = set(top["row"]) & set(flipped.tolist())
    assert len(found) >= 9, (len(found), top[["row", "label", "suggested"]])
    for _, issue in top[top["row"].isin(found)].iterrows():
        assert issue["suggested"] == rows[issue["row"]]["category"]
        assert issue["label"] != issue["suggested"]
    # Most rows are fine: the audit flags a handful, not the file.
    assert len(result.issues) < len(rows) * 0.2
    assert result.quality.shape == (len(rows),)


def test_audit_names_labels_too_rare_to_cross_validate():
    with pytest.raises(ValueError, match="at least 2 rows"):
        audit_labels(["信用卡年费乱收", "催收打电话给我家人", "催收威胁我"], ["定价收费", "催收行为", "催收行为"])


def test_audit_texts_are_masked(rows):
    sample = rows[:30] + rows[150:180]
    texts = [r["text"] for r in sample] + ["我的手机号13812345678，催收天天打电话"] * 2
    labels = [r["category"] for r in sample] + ["催收行为", "定价收费"]
    result = audit_labels(texts, labels, cv=2)
    assert not result.issues["text"].str.contains("13812345678").any()
