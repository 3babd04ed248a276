"""serving.privacy and the store at rest, without a model: references of ids, the sealed original, key files and
the SQLite file created owner-only, rows stored before revision 0004 sealed when the store opens."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from serving.config import ServiceSettings
from serving.privacy import DATA_KEY_FILE, DataProtector, OriginalUnreadable
from serving.store import Store
from triage.features.pii import PHONE_MASK
from triage.schemas import ComplaintIn

PHONE_SPELLINGS = ["13812345678", "138-1234-5678", "138.1234.5678", "１３８１２３４５６７８", "一三八一二三四五六七八",
                   "+86 138 1234 5678"]
TEXT = "催收员用13812345678天天打电话，卡号4111 1111 1111 1111，邮箱zhangsan(at)example.com"


@pytest.fixture
def protector(tmp_path) -> DataProtector:
    return DataProtector.from_keys(None, b"reference key of the test", tmp_path)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_phone_number_is_one_reference_however_it_is_written(protector):
    references = {protector.customer_reference(spelling) for spelling in PHONE_SPELLINGS}
    assert len(references) == 1
    reference = references.pop()
    assert reference is not None and reference.startswith(f"{PHONE_MASK}:")
    assert not any(ch.isdigit() for ch in reference)
    assert protector.customer_reference("13912345678") != reference  # another number, another key


def test_references_are_their_own_references_and_plain_ids_stay(protector):
    for value in ("13812345678", "11010519491231002X", "zhangsan@example.com", "WX_13812345678"):
        reference = protector.customer_reference(value)
        assert reference != value
        assert protector.customer_reference(reference) == reference
    assert protector.customer_reference("CUST-00123") == "CUST-00123"
    assert protector.customer_reference(None) is None
    complaint_reference = protector.complaint_reference("11010519491231002X")
    assert complaint_reference is not None and complaint_reference.startswith("pii-")
    assert ComplaintIn(text="x", complaint_id=complaint_reference).complaint_id == complaint_reference  # a valid id
    assert protector.complaint_reference(complaint_reference) == complaint_reference
    assert protector.complaint_reference("C20251001-3f9a2b1c0d7e") == "C20251001-3f9a2b1c0d7e"


def test_another_reference_key_gives_other_references(tmp_path, protector):
    other = DataProtector.from_keys(None, b"another key", tmp_path)
    assert other.customer_reference("13812345678") != protector.customer_reference("13812345678")


def test_protect_masks_ids_and_product_keeps_the_text_and_is_idempotent(protector):
    complaint = ComplaintIn(text=TEXT, customer_id="138-1234-5678", complaint_id="11010519491231002X",
                            product="信用卡 zhangsan(at)example.com")
    protected = protector.protect(complaint)
    assert protected.text == TEXT  # the model masks what it reads; the store keeps it sealed
    assert protected.customer_id == protector.customer_reference("13812345678")
    assert protected.product == "信用卡 [邮箱]"
    assert protected.complaint_id is not None and protected.complaint_id.startswith("pii-")
    assert protector.protect(protected) == protected
    plain = ComplaintIn(text=TEXT, customer_id="CUST-1", product="信用卡")
    assert protector.protect(plain) is plain


def test_the_original_is_sealed_and_opens_with_its_key_only(tmp_path, protector):
    token = protector.seal(TEXT)
    assert b"13812345678" not in token and TEXT.encode() not in token
    assert protector.open(token) == TEXT
    stranger = DataProtector.from_keys(Fernet.generate_key().decode(), b"k", None)
    with pytest.raises(OriginalUnreadable):
        stranger.open(token)
    key = (tmp_path / DATA_KEY_FILE).read_bytes().decode()
    rotated = DataProtector.from_keys(f"{Fernet.generate_key().decode()},{key}", b"k", None)
    assert rotated.open(token) == TEXT  # an old key among several still opens what it sealed


def test_the_key_file_is_created_owner_only_and_kept(tmp_path):
    first = DataProtector.from_keys(None, None, tmp_path / "data")
    assert mode(tmp_path / "data" / DATA_KEY_FILE) == 0o600
    assert mode(tmp_path / "data" / "reference.key") == 0o600
    again = DataProtector.from_keys(None, None, tmp_path / "data")
    assert again.open(first.seal("同一把钥匙")) == "同一把钥匙"
    assert again.customer_reference("13812345678") == first.customer_reference("13812345678")


def test_a_bad_data_key_is_refused_with_how_to_make_one():
    with pytest.raises(ValueError, match=r"not a Fernet key.*generate_key"):
        DataProtector.from_keys("not-a-key", b"k", None)


def test_service_settings_make_the_same_protector_as_a_store_opened_in_data_dir(tmp_path):
    settings = ServiceSettings(data_dir=tmp_path / "data")
    from_settings = settings.data_protector()
    beside = DataProtector.beside(settings.store_url())
    assert beside.open(from_settings.seal("一样")) == "一样"
    assert beside.customer_reference("13812345678") == from_settings.customer_reference("13812345678")


def test_the_sqlite_file_is_created_owner_only(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/triage.db", synchronous="NORMAL")
    try:
        store.create_key("someone", "admin")
        for name in ("triage.db", "triage.db-wal", "triage.db-shm"):
            if (tmp_path / name).exists():
                assert mode(tmp_path / name) == 0o600, name
        assert mode(tmp_path / DATA_KEY_FILE) == 0o600
    finally:
        store.close()


def test_a_world_readable_database_is_narrowed_when_opened(tmp_path):
    Store(f"sqlite:///{tmp_path}/triage.db", synchronous="NORMAL").close()
    (tmp_path / "triage.db").chmod(0o644)
    Store(f"sqlite:///{tmp_path}/triage.db", synchronous="NORMAL").close()
    assert mode(tmp_path / "triage.db") == 0o600


def test_rows_stored_in_clear_before_0004_are_sealed_and_the_clear_text_leaves_the_file(tmp_path):
    url, path = f"sqlite:///{tmp_path}/triage.db", tmp_path / "triage.db"
    Store(url, synchronous="NORMAL").close()
    # a row as the store wrote it before revision 0004: the text as given, the customer id raw, no original
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    row = {"complaint_id": "OLD-1", "customer_id": "13812345678", "product": "信用卡 138-1234-5678", "text": TEXT,
           "received_at": now, "created_at": now, "content_hash": "h", "category": "资金安全", "tier": "red",
           "department": "风险管理部", "confidence": 0.9, "needs_review": 1, "is_repeat": 0, "respond_by": now,
           "global_seq": 1}
    payload = json.dumps({"customer_id": "13812345678", "product": "信用卡 138-1234-5678",
                          "masked_text": "打一三八一二三四五六七八"}, ensure_ascii=False)
    with sqlite3.connect(path) as db:
        columns = {r[1] for r in db.execute("PRAGMA table_info(complaints)")}
        row = {k: v for k, v in row.items() if k in columns}
        db.execute(f"INSERT INTO complaints ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   list(row.values()))
        db.execute("INSERT INTO reviews (complaint_seq, reviewer, action, category, tier, department, "
                   "previous_category, previous_tier, previous_department, comment, created_at) "
                   "VALUES (1, 'lead', 'confirm', '资金安全', "
                   "'red', '风险管理部', '资金安全', 'red', '风险管理部', '已致电13812345678', ?)", (now,))
        db.execute("INSERT INTO decisions (complaint_seq, created_at, model_version, policy_version, category, "
                   "confidence, tier, department, rules, payload) VALUES (1, ?, 'm', 'p', '资金安全', 0.9, 'red', "
                   "'风险管理部', '[]', ?)", (now, payload))
    assert b"13812345678" in b"".join(p.read_bytes() for p in tmp_path.glob("triage.db*"))

    store = Store(url, synchronous="NORMAL")
    try:
        principal, _ = store.create_key("auditor", "admin")
        original = store.read_original("OLD-1", principal)
        assert original is not None and original.text == TEXT
        assert [read.reader for read in original.reads] == ["auditor"]
        reference = store.protector.customer_reference("13812345678")
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        customer_id, product, text = db.execute("SELECT customer_id, product, text FROM complaints").fetchone()
        (stored_payload,) = db.execute("SELECT payload FROM decisions").fetchone()
        (comment,) = db.execute("SELECT comment FROM reviews").fetchone()
    assert (customer_id, product, comment) == (reference, f"信用卡 {PHONE_MASK}", f"已致电{PHONE_MASK}")
    assert "13812345678" not in text and PHONE_MASK in text
    decision = json.loads(stored_payload)
    assert (decision["masked_text"], decision["customer_id"]) == (f"打{PHONE_MASK}", reference)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("triage.db*"))
    for secret in ("13812345678", "138-1234-5678", "4111 1111 1111 1111", "zhangsan", "一三八一二三四五六七八"):
        assert secret.encode() not in on_disk, secret
