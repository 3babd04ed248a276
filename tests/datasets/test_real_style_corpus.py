"""datasets/real_style.jsonl: written to read like real complaints, assembled reproducibly, checked row by row,
and sharing no 15-character run with the real data it was written to resemble."""

from __future__ import annotations

import csv
import importlib.util
import json
import statistics
from collections import Counter
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
REAL_STYLE = DATASETS / "real_style.jsonl"
SHARED = DATASETS.parents[1] / "shared" / "datasets"
RUN = 15


def load_assembly():
    spec = importlib.util.spec_from_file_location("_corpus_assemble", DATASETS / "assemble.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def assembly():
    return load_assembly()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [json.loads(line) for line in REAL_STYLE.open(encoding="utf-8")]


def test_assembly_reproduces_the_file_byte_for_byte(assembly, records):
    _, rebuilt = assembly.assemble()
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rebuilt)
    assert text == REAL_STYLE.read_text(encoding="utf-8")


def test_size_mix_and_variety(records):
    assert len(records) >= 6000
    assert len({r["text"] for r in records}) == len(records)
    categories = Counter(r["category"] for r in records)
    # The real mix (dev_gold: fees first, then collection, contracts), with every rare class learnable.
    assert categories.most_common(1)[0][0] == "定价收费"
    assert min(categories.values()) >= 150, categories
    tiers = Counter(r["tier"] for r in records)
    assert tiers["yellow"] > tiers["green"] > tiers["red"] >= 300, tiers
    lengths = sorted(len(r["text"]) for r in records)
    assert 70 <= statistics.median(lengths) <= 110
    assert sum(n > 300 for n in lengths) / len(lengths) >= 0.07
    assert sum(n < 40 for n in lengths) / len(lengths) >= 0.10
    assert len({r["customer_id"] for r in records}) == len(records)
    assert [r["complaint_id"] for r in records] == [f"R{n:05d}" for n in range(1, len(records) + 1)]
    stream_start = json.loads((DATASETS / "complaints.jsonl").open(encoding="utf-8").readline())["received_at"]
    assert max(r["received_at"] for r in records) < stream_start


@pytest.mark.parametrize(("change", "message"), [
    ({"category": "贷款"}, "category '贷款' is not in the taxonomy"),
    ({"tier": "orange"}, "tier 'orange' is not one of"),
    ({"text": "   "}, "empty text"),
])
def test_a_bad_row_fails_the_assembly_naming_file_and_line(assembly, tmp_path, change, message):
    row = {"text": "年费扣了两次", "category": "定价收费", "tier": "green", "channel": "app", "product": "信用卡",
           "amount": None, "series": None, "seq": None, "new_facts": None, "burst": None}
    (tmp_path / "real").mkdir()
    lines = [json.dumps(row, ensure_ascii=False), json.dumps({**row, "text": "催收打给我妈", **change},
                                                            ensure_ascii=False)]
    (tmp_path / "real" / "part.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(assembly.AssemblyError, match=message) as raised:
        assembly.assemble(tmp_path)
    assert "part.jsonl:2" in str(raised.value)


def test_a_duplicate_text_fails_naming_both_rows(assembly, tmp_path):
    row = {"text": "年费扣了两次", "category": "定价收费", "tier": "green", "channel": "app", "product": "信用卡",
           "amount": None, "series": None, "seq": None, "new_facts": None, "burst": None}
    (tmp_path / "real").mkdir()
    (tmp_path / "a.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "real" / "b.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(assembly.AssemblyError, match=r"real/b.jsonl:1: duplicate text \(first at a.jsonl:1\)"):
        assembly.assemble(tmp_path)


@pytest.mark.skipif(not SHARED.exists(), reason="the real data (../shared/datasets) is not on this machine")
def test_no_text_shares_a_15_character_run_with_the_real_data():
    shared: set[str] = set()
    for path in SHARED.rglob("*.csv"):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for value in row.values():
                    if value and len(value) >= RUN:
                        shared.update(value[i:i + RUN] for i in range(len(value) - RUN + 1))
    assert len(shared) > 100_000  # the real texts were read
    offending = []
    for path in sorted((DATASETS / "parts").rglob("*.jsonl")):
        for number, line in enumerate(path.open(encoding="utf-8"), 1):
            text = json.loads(line)["text"]
            hits = [text[i:i + RUN] for i in range(len(text) - RUN + 1) if text[i:i + RUN] in shared]
            if hits:
                offending.append(f"{path.name}:{number}: {hits[0]}")
    assert not offending, offending[:10]
