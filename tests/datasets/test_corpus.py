"""The corpus datasets/complaints.jsonl: schema, coverage, repeat series, bursts, and reproducibility."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
CORPUS = DATASETS / "complaints.jsonl"

FIELDS = {
    "complaint_id", "customer_id", "received_at", "channel", "product", "text", "category", "tier",
    "amount", "series_id", "series_seq", "new_facts", "burst_id",
}
CHANNELS = {"hotline", "app", "web", "wechat", "branch", "letter"}
PRODUCTS = {"信用卡", "消费贷", "房贷", "车贷", "储蓄", "理财", "网贷助贷", "催收", "其他"}
CATEGORIES = {
    "催收行为", "定价收费", "客户服务", "营销宣传", "合同条款", "系统故障", "资金安全", "信息安全", "其他",
}
TIERS = {"red", "yellow", "green"}
ISO_CST = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def when(record: dict) -> datetime:
    return datetime.fromisoformat(record["received_at"])


def test_every_record_has_exactly_the_fields(records):
    for record in records:
        assert set(record) == FIELDS, record.get("complaint_id")


def test_field_values(records):
    for record in records:
        cid = record["complaint_id"]
        assert ISO_CST.match(record["received_at"]), cid
        assert when(record).utcoffset() == timedelta(hours=8), cid
        assert record["channel"] in CHANNELS, cid
        assert record["product"] in PRODUCTS, cid
        assert record["category"] in CATEGORIES, cid
        assert record["tier"] in TIERS, cid
        assert isinstance(record["text"], str) and record["text"].strip(), cid
        amount = record["amount"]
        assert amount is None or (isinstance(amount, int | float) and not isinstance(amount, bool)), cid
        assert amount is None or amount > 0, cid
        assert isinstance(record["customer_id"], str) and record["customer_id"], cid
        assert record["burst_id"] is None or isinstance(record["burst_id"], str), cid


def test_series_fields_are_all_set_or_all_null(records):
    for record in records:
        cid = record["complaint_id"]
        if record["series_id"] is None:
            assert record["series_seq"] is None and record["new_facts"] is None, cid
        else:
            assert isinstance(record["series_seq"], int) and not isinstance(record["series_seq"], bool), cid
            assert isinstance(record["new_facts"], bool), cid
            assert record["burst_id"] is None, cid  # a series is one customer, a burst many


def test_size_ids_and_texts(records):
    assert len(records) >= 900
    ids = [r["complaint_id"] for r in records]
    assert len(set(ids)) == len(ids)
    texts = [r["text"] for r in records]
    assert len(set(texts)) == len(texts)


def test_categories_tiers_channels_products_are_covered(records):
    categories = Counter(r["category"] for r in records)
    assert set(categories) == CATEGORIES
    assert all(count >= 60 for count in categories.values()), categories
    tiers = Counter(r["tier"] for r in records)
    assert tiers["red"] >= 0.10 * len(records), tiers
    assert set(r["channel"] for r in records) == CHANNELS
    assert set(r["product"] for r in records) == PRODUCTS


def test_repeat_series(records):
    series: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record["series_id"] is not None:
            series[record["series_id"]].append(record)
    assert series
    later_new_facts = Counter()
    for sid, members in series.items():
        assert 2 <= len(members) <= 4, sid
        assert len({m["customer_id"] for m in members}) == 1, sid
        by_seq = sorted(members, key=lambda m: m["series_seq"])
        assert [m["series_seq"] for m in by_seq] == list(range(1, len(members) + 1)), sid
        times = [when(m) for m in by_seq]
        assert times == sorted(times) and len(set(times)) == len(times), sid
        assert by_seq[0]["new_facts"] is False, sid
        later_new_facts.update(m["new_facts"] for m in by_seq[1:])
    assert later_new_facts[True] >= 1 and later_new_facts[False] >= 1


def test_bursts(records):
    bursts: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record["burst_id"] is not None:
            bursts[record["burst_id"]].append(record)
    for bid, members in bursts.items():
        assert len({m["customer_id"] for m in members}) == len(members), bid
        times = [when(m) for m in members]
        assert max(times) - min(times) < timedelta(days=4), bid
    assert sum(len(members) >= 8 for members in bursts.values()) >= 3


def test_burst_and_series_customers_are_different_people(records):
    # A burst gathers different people; none of them is the customer of a repeat series.
    series_customers = {r["customer_id"] for r in records if r["series_id"] is not None}
    burst_customers = {r["customer_id"] for r in records if r["burst_id"] is not None}
    assert not series_customers & burst_customers


def test_customers_with_unrelated_complaints(records):
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_customer[record["customer_id"]].append(record)
    unrelated = [
        complaints for complaints in by_customer.values()
        if len(complaints) >= 2
        and all(c["series_id"] is None for c in complaints)
        and len({c["category"] for c in complaints}) >= 2
    ]
    assert len(unrelated) >= 10


def test_ids_follow_receipt_order(records):
    times = [when(r) for r in records]
    assert times == sorted(times)
    assert [r["complaint_id"] for r in records] == [f"C{n:05d}" for n in range(1, len(records) + 1)]


def test_assemble_reproduces_the_file(records):
    spec = importlib.util.spec_from_file_location("_corpus_assemble", DATASETS / "assemble.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt, _ = module.assemble()
    assert len(rebuilt) == len(records)
    for ours, theirs in zip(rebuilt, records, strict=True):
        assert ours == theirs, theirs["complaint_id"]
    # Byte for byte, as main() writes it.
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rebuilt)
    assert text == CORPUS.read_text(encoding="utf-8")
