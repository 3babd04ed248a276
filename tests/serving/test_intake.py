"""Intake across restarts and model swaps: the similarity window is rebuilt from the store (or its snapshot),
so a repeat complaint is recognised whether the service stopped cleanly, crashed, or changed its model."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from serving.intake import IdConflict, Intake, StoreFailure
from serving.store import Store
from triage.policy import load_policy
from triage.schemas import ComplaintIn
from triage.service import TriageService

FIRST = "我在贵行的信用卡账单里有一笔3000元的年费，我从来没有同意开通这个增值服务，要求退还年费并取消服务。"
AGAIN = "上周投诉过信用卡被收取3000元年费的事情，至今没有任何答复，我从没同意开通增值服务，请尽快退还年费。"


def complaint(complaint_id: str, text: str, customer: str, hours_ago: float = 0) -> ComplaintIn:
    received = datetime.now(UTC) - timedelta(hours=hours_ago)
    return ComplaintIn(complaint_id=complaint_id, customer_id=customer, text=text, channel="app",
                       received_at=received)


@pytest.fixture
def store(tmp_path, database_url):
    opened = Store(database_url or f"sqlite:///{tmp_path}/triage.db", synchronous="NORMAL")
    yield opened
    opened.close()


def intake(trained_model, store, snapshot) -> Intake:
    return Intake(TriageService(trained_model, load_policy()), store, snapshot)


def test_a_repeat_is_recognised_after_a_clean_restart(trained_model, store, tmp_path):
    snapshot = tmp_path / "similarity"
    first = intake(trained_model, store, snapshot)
    assert first.submit(complaint("a-1", FIRST, "cust-1", hours_ago=30)).created
    first.save_snapshot()
    assert (snapshot / "similarity.joblib").exists()

    second = intake(trained_model, store, snapshot)
    assert second.service.similarity.store_seq == store.last_seq()
    decision = second.submit(complaint("a-2", AGAIN, "cust-1")).decision.payload
    assert decision["repeat"]["is_repeat"]
    assert decision["repeat"]["matter_id"] == "a-1"


def test_a_repeat_is_recognised_after_a_crash_without_a_snapshot(trained_model, store, tmp_path):
    snapshot = tmp_path / "similarity"
    first = intake(trained_model, store, snapshot)
    first.submit(complaint("b-1", FIRST, "cust-2", hours_ago=30))
    first.save_snapshot()
    first.submit(complaint("b-2", "催收员每天给我单位同事打电话，说我欠钱不还，影响很坏。", "cust-3", hours_ago=20))
    # The crash: b-2 came after the last snapshot, so only the store knows it.
    second = intake(trained_model, store, snapshot)
    repeat = second.submit(complaint("b-3", "催收的人又给我单位同事打电话了，还说要上门，我已经投诉过一次。", "cust-3"))
    assert repeat.decision.payload["repeat"]["matter_id"] == "b-2"
    # Without any snapshot at all, the window is rebuilt from the store alone.
    shutil.rmtree(snapshot)
    third = intake(trained_model, store, snapshot)
    assert third.service.similarity.store_seq == store.last_seq()
    assert third.submit(complaint("b-4", AGAIN, "cust-2")).decision.payload["repeat"]["matter_id"] == "b-1"


def test_a_card_number_still_ties_a_matter_after_a_crash_without_a_snapshot(trained_model, store, tmp_path):
    """The store keeps the masked text; the window rebuilt from it reads the card number in the sealed original."""
    card = "6222021234567890128"  # Luhn-valid: masked in every stored and shown text
    first = intake(trained_model, store, tmp_path / "similarity")
    first.submit(complaint("k-1", f"卡号{card}上个月被扣了一笔不明费用，请核实", "cust-card", hours_ago=30))
    second = intake(trained_model, store, tmp_path / "similarity")  # no snapshot was saved: rebuilt from the store
    again = second.submit(complaint("k-2", f"卡号{card}的那笔不明扣费怎么还没有结果", "cust-card")).decision.payload
    assert again["repeat"]["matter_id"] == "k-1"
    assert any(s.startswith(card[:2]) and "*" in s for s in again["repeat"]["shared"])
    assert card not in str(again)


def test_a_snapshot_of_another_model_is_not_used(trained_model, store, tmp_path):
    snapshot = tmp_path / "similarity"
    first = intake(trained_model, store, snapshot)
    first.submit(complaint("c-1", FIRST, "cust-4", hours_ago=30))
    first.service.similarity.model_version = "some-other-model"
    first.save_snapshot()
    second = intake(trained_model, store, snapshot)
    assert second.service.similarity.model_version == trained_model.version_
    assert second.submit(complaint("c-2", AGAIN, "cust-4")).decision.payload["repeat"]["matter_id"] == "c-1"


def test_swapping_the_model_keeps_the_window(trained_model, store, tmp_path):
    service = intake(trained_model, store, None)
    service.submit(complaint("d-1", FIRST, "cust-5", hours_ago=30))
    old_engine = service.service.similarity
    service.swap(trained_model)
    assert service.service.similarity is not old_engine
    assert service.submit(complaint("d-2", AGAIN, "cust-5")).decision.payload["repeat"]["matter_id"] == "d-1"


def test_ids_are_idempotent_within_and_across_batches(trained_model, store):
    service = intake(trained_model, store, None)
    same = complaint("e-1", FIRST, "cust-6")
    outcomes = service.submit_many([same, same.model_copy(), complaint("e-1", AGAIN, "cust-6")])
    assert outcomes[0].created and not outcomes[1].created  # type: ignore[union-attr]
    assert outcomes[1].decision == outcomes[0].decision  # type: ignore[union-attr]
    assert isinstance(outcomes[2], IdConflict)
    assert service.submit(same).created is False
    assert store.last_seq() == 1


def test_complaints_without_an_id_get_one(trained_model, store):
    service = intake(trained_model, store, None)
    decision = service.submit(ComplaintIn(text=FIRST)).decision
    assert decision.complaint_id.startswith("C")
    record = store.complaint(decision.complaint_id)
    assert record is not None and record.decision.model_dump(mode="json") == decision.payload


def test_a_failed_commit_does_not_leave_the_complaint_in_the_window(trained_model, store, monkeypatch):
    """The window sees a complaint before the store commits it; when the commit fails, the retry must not meet
    its own ghost as an earlier complaint on the same matter."""
    service = intake(trained_model, store, None)
    service.submit(complaint("f-1", FIRST, "cust-7", hours_ago=30))
    real_add = store.add_many

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "add_many", disk_full)
    with pytest.raises(StoreFailure, match="could not be stored"):
        service.submit(complaint("f-2", AGAIN, "cust-7"))
    monkeypatch.setattr(store, "add_many", real_add)
    retry = service.submit(complaint("f-2", AGAIN, "cust-7")).decision.payload
    assert retry["repeat"]["repeat_count"] == 2  # f-1 and this one, not a ghost f-2 as well
    assert [r["complaint_id"] for r in retry["repeat"]["related"]] == ["f-1"]


def test_in_batch_duplicates_answer_with_what_another_process_stored_first(trained_model, store, monkeypatch):
    """Two service processes on one database: this one batched two copies of a complaint, the other stored it
    between this one's check and its commit. Every copy is answered with the stored decision."""
    here, there = intake(trained_model, store, None), intake(trained_model, store, None)
    copy = complaint("g-1", FIRST, "cust-8")
    staged = here.model_stage([copy, copy.model_copy()])
    stored = there.submit(copy).decision
    monkeypatch.setattr(store, "taken", lambda ids: set())  # this process looked before the other committed
    outcomes = here.store_stage(staged)
    assert [o.created for o in outcomes] == [False, False]  # type: ignore[union-attr]
    assert [o.decision for o in outcomes] == [stored, stored]  # type: ignore[union-attr]


def test_generated_complaint_ids_are_never_read_as_personal_data():
    # a generated id must come back under the id the client was given: masking reads any 11-digit run as a number
    from datetime import datetime

    from serving.intake.intake import new_complaint_id
    from triage.features.pii import mask_identifier

    ids = [new_complaint_id(datetime(2026, 11, 30)) for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(mask_identifier(complaint_id) == complaint_id for complaint_id in ids)
    assert all(complaint_id.startswith("C20261130-") for complaint_id in ids)
