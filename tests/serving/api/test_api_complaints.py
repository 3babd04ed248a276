"""POST /v1/complaints, POST /v1/complaints/batch, GET /v1/complaints/{id}, GET /v1/customers/{id}/complaints."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from triage.schemas import Decision


def same_instant(a: str, b: str | datetime) -> bool:
    b_time = b if isinstance(b, datetime) else datetime.fromisoformat(b)
    return datetime.fromisoformat(a) == b_time


# ---- one complaint ---------------------------------------------------------------------------------------
def test_submit_returns_the_full_decision_and_stores_it(api, trained_model):
    received = datetime(2025, 9, 3, 10, 15, tzinfo=UTC)
    body = {"complaint_id": "API-0001", "customer_id": "U-1001", "channel": "app", "product": "信用卡",
            "amount": 1200.5, "received_at": received.isoformat(), "text": api.texts.APP_FAILURE}
    response = api.post("/v1/complaints", body, role="intake")
    assert response.status_code == 201, response.text
    decision = response.json()

    Decision.model_validate(decision)  # the full decision, every field of the library's schema
    assert set(decision) == set(Decision.model_fields)
    assert decision["complaint_id"] == "API-0001"
    assert (decision["customer_id"], decision["channel"], decision["product"], decision["amount"]) == \
        ("U-1001", "app", "信用卡", 1200.5)
    assert same_instant(decision["received_at"], received)
    assert decision["category"] in [str(c) for c in trained_model.classes_]
    assert decision["category"] == "系统故障" and decision["department"] == "信息科技部"
    assert decision["tier"]["label"] in ("red", "yellow", "green")
    assert decision["model_version"] == trained_model.version_
    assert decision["codes"]["channel"]["code"] == "A303"  # app, per the policy's JR/T 0169 table

    record = api.record("API-0001", role="intake")
    assert record["decision"] == decision  # what was answered is what was stored
    assert record["complaint_id"] == "API-0001" and record["customer_id"] == "U-1001"
    assert (record["category"], record["tier"], record["department"]) == \
        (decision["category"], decision["tier"]["label"], decision["department"])
    assert record["confidence"] == decision["category_confidence"]
    assert record["needs_review"] is decision["needs_review"]
    assert record["reviewed_at"] is None and record["reviews"] == []
    assert same_instant(record["respond_by"], decision["clocks"]["respond_by"])
    assert same_instant(record["received_at"], received)
    assert [h["model_version"] for h in record["history"]] == [trained_model.version_]
    assert "submitted_by" not in record  # the key id stays inside


def test_a_time_without_a_zone_is_bank_time(api):
    decision = api.submit(received_at="2025-03-03T10:00:00")
    assert datetime.fromisoformat(decision["received_at"]) == datetime.fromisoformat("2025-03-03T10:00:00+08:00")


def test_a_retry_with_the_same_content_returns_the_stored_decision(api):
    body = api.complaint(api.texts.COLLECTION, complaint_id="API-RETRY", channel="hotline", amount=300)
    first = api.post("/v1/complaints", body, role="intake")
    assert first.status_code == 201, first.text

    again = api.post("/v1/complaints", body, role="intake")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()

    padded = {**body, "text": f"  {body['text']}\n"}  # the same complaint: surrounding whitespace is not content
    assert api.post("/v1/complaints", padded, role="intake").json() == first.json()

    record = api.record("API-RETRY")
    assert len(record["history"]) == 1  # decided once, never again
    assert api.get(f"/v1/customers/{body['customer_id']}/complaints").json()["total"] == 1


def test_the_same_id_with_other_content_is_409(api):
    body = api.complaint(api.texts.COLLECTION, complaint_id="API-CONFLICT", amount=300)
    stored = api.post("/v1/complaints", body, role="intake").json()

    for change in ({"text": api.texts.APP_FAILURE}, {"amount": 301}, {"channel": "web"},
                   {"customer_id": "someone-else"}, {"received_at": "2025-01-01T00:00:00+08:00"}):
        response = api.post("/v1/complaints", {**body, **change}, role="intake")
        assert response.status_code == 409, (change, response.text)
        assert "API-CONFLICT" in response.json()["detail"]

    assert api.record("API-CONFLICT")["decision"] == stored  # unchanged


def test_without_an_id_the_server_assigns_one(api):
    body = api.complaint(api.texts.FEE, customer_id="U-NOID")
    first = api.post("/v1/complaints", body, role="intake")
    second = api.post("/v1/complaints", body, role="intake")
    assert (first.status_code, second.status_code) == (201, 201)  # no id: no idempotency, two complaints
    ids = [first.json()["complaint_id"], second.json()["complaint_id"]]
    assert all(re.fullmatch(r"C\d{8}-[a-z]{12}", i) for i in ids), ids
    assert ids[0] != ids[1]
    for complaint_id in ids:
        assert api.record(complaint_id, role="intake")["complaint_id"] == complaint_id
    assert api.get("/v1/customers/U-NOID/complaints").json()["total"] == 2


# ---- batch -----------------------------------------------------------------------------------------------
def test_a_batch_answers_every_item_on_its_own(api):
    stored = api.submit(api.texts.COLLECTION, complaint_id="B-STORED", customer_id="U-B0")
    long_text = "我" * 20_001
    items = [
        {"complaint_id": "B-NEW", "customer_id": "U-B1", "text": api.texts.APP_FAILURE},              # 201
        {"complaint_id": "B-STORED", "customer_id": "U-B0", "text": api.texts.COLLECTION},            # 200
        {"complaint_id": "B-STORED", "customer_id": "U-B0", "text": api.texts.FEE},                   # 409
        {"complaint_id": "B-LONG", "customer_id": "U-B2", "text": long_text},                         # 413
        {"complaint_id": "B-EXTRA", "customer_id": "U-B3", "text": api.texts.FEE, "priority": "high"},  # 422
        {"complaint_id": "B-EMPTY", "text": "   "},                                                  # 422
        {"customer_id": "U-B4", "text": api.texts.FEE, "amount": "lots"},                            # 422
        {"complaint_id": "B-TWICE", "customer_id": "U-B5", "text": api.texts.FEE},                   # 201
        {"complaint_id": "B-TWICE", "customer_id": "U-B5", "text": api.texts.FEE},                   # 200: a retry
        {"complaint_id": "B-TWICE", "customer_id": "U-B5", "text": api.texts.COLLECTION},            # 409
        {"customer_id": "U-B6", "text": api.texts.ENGLISH},                                          # 201, new id
    ]
    response = api.post("/v1/complaints/batch", {"complaints": items}, role="intake")
    assert response.status_code == 200, response.text
    out = response.json()
    assert [item["index"] for item in out["items"]] == list(range(len(items)))
    statuses = [item["status"] for item in out["items"]]
    assert statuses == [201, 200, 409, 413, 422, 422, 422, 201, 200, 409, 201]
    assert (out["accepted"], out["failed"]) == (5, 6)

    by_index = out["items"]
    assert by_index[1]["decision"] == stored  # the retry answers with the stored decision
    assert by_index[8]["decision"] == by_index[7]["decision"]
    assert "B-STORED" in by_index[2]["error"] and "B-TWICE" in by_index[9]["error"]
    assert "20000" in by_index[3]["error"] and "20001" in by_index[3]["error"]
    assert "priority" in by_index[4]["error"] and by_index[4]["complaint_id"] == "B-EXTRA"
    assert "text" in by_index[5]["error"] and by_index[5]["complaint_id"] == "B-EMPTY"
    assert "amount" in by_index[6]["error"] and by_index[6]["complaint_id"] is None
    for item in by_index:
        if item["status"] in (200, 201):
            assert item["error"] is None and item["decision"]["complaint_id"] == item["complaint_id"]
            assert api.record(item["complaint_id"])["decision"] == item["decision"]
        else:
            assert item["decision"] is None and item["error"]
    for refused in ("B-LONG", "B-EXTRA", "B-EMPTY"):
        assert api.get(f"/v1/complaints/{refused}").status_code == 404


def test_a_batch_of_500_is_accepted_and_501_is_413(api, corpus_records):
    rows = corpus_records[:501]
    complaints = [{"complaint_id": f"BULK-{i:03d}", "customer_id": r["customer_id"], "text": r["text"],
                   "received_at": r["received_at"], "channel": r["channel"]} for i, r in enumerate(rows)]
    everything = {"from": "2000-01-01T00:00:00+00:00", "to": "2100-01-01T00:00:00+00:00"}

    too_many = api.post("/v1/complaints/batch", {"complaints": complaints}, role="intake")
    assert too_many.status_code == 413, too_many.text
    assert "501" in too_many.json()["detail"] and "500" in too_many.json()["detail"]
    assert api.get("/v1/stats", **everything).json()["complaints"] == 0  # nothing of it was stored

    response = api.post("/v1/complaints/batch", {"complaints": complaints[:500]}, role="intake")
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["accepted"], out["failed"]) == (500, 0)
    assert {item["status"] for item in out["items"]} == {201}
    assert api.get("/v1/stats", **everything).json()["complaints"] == 500


def test_a_batch_itself_must_be_well_formed(api):
    for body in ({}, {"complaints": "not a list"}, {"complaints": [], "priority": "high"}, []):
        response = api.post("/v1/complaints/batch", body, role="intake")
        assert response.status_code == 422, (body, response.text)


# ---- reading back ----------------------------------------------------------------------------------------
def test_an_intake_key_sees_only_its_own_complaints(api):
    mine = api.submit(api.texts.FEE, complaint_id="OWN-1", customer_id="U-OWN")["complaint_id"]
    by_admin = api.submit(api.texts.FEE, role="admin", complaint_id="OWN-2", customer_id="U-OWN")["complaint_id"]
    _, other_secret = api.new_key("intake", "second intake desk")
    other = {"Authorization": f"Bearer {other_secret}"}

    assert api.get(f"/v1/complaints/{mine}", "intake").status_code == 200
    assert api.get(f"/v1/complaints/{by_admin}", "intake").status_code == 404
    hidden = api.client.get(f"/v1/complaints/{mine}", headers=other)
    assert hidden.status_code == 404  # not 403: an intake desk does not learn that the id exists
    assert hidden.json() == {"detail": f"no complaint {mine!r}"}  # the same answer as for an unknown id
    for role in ("lead", "admin"):
        assert api.get(f"/v1/complaints/{mine}", role).status_code == 200
        assert api.get(f"/v1/complaints/{by_admin}", role).status_code == 200
        assert api.get("/v1/complaints/NO-SUCH-ID", role).status_code == 404

    assert api.get("/v1/customers/U-OWN/complaints", "intake").json()["total"] == 1
    assert api.client.get("/v1/customers/U-OWN/complaints", headers=other).json()["total"] == 0
    assert api.get("/v1/customers/U-OWN/complaints", "lead").json()["total"] == 2


def test_a_customers_complaints_come_newest_first_in_pages(api):
    now = datetime.now(UTC)
    texts = [api.texts.APP_FAILURE, api.texts.FEE, api.texts.COLLECTION, api.texts.ENGLISH, api.texts.FEE_AGAIN]
    ids = []
    for hours_ago, text in zip((50, 40, 30, 20, 10), texts, strict=True):
        ids.append(api.submit(text, customer_id="U-PAGED", complaint_id=f"PAGE-{hours_ago}",
                              received_at=(now - timedelta(hours=hours_ago)).isoformat())["complaint_id"])
    api.submit(api.texts.FEE, customer_id="U-SOMEONE-ELSE")
    newest_first = ids[::-1]

    pages, offset = [], 0
    while True:
        page = api.get("/v1/customers/U-PAGED/complaints", limit=2, offset=offset).json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        if not page["items"]:
            break
        assert len(page["items"]) <= 2
        pages.append([item["complaint_id"] for item in page["items"]])
        offset += 2
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert [i["complaint_id"] for i in api.get("/v1/customers/U-PAGED/complaints").json()["items"]] == newest_first
    assert all(i["customer_id"] == "U-PAGED" for i in api.get("/v1/customers/U-PAGED/complaints").json()["items"])

    unknown = api.get("/v1/customers/U-NOBODY/complaints").json()
    assert (unknown["total"], unknown["items"]) == (0, [])
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "ten"}):
        response = api.get("/v1/customers/U-PAGED/complaints", **bad)
        assert response.status_code == 422, (bad, response.text)
        assert next(iter(bad)) in str(response.json()["detail"])


def test_a_customers_complaints_are_grouped_by_matter(api):
    """Issue 17: the customer's matters with their counts; a repeat on one matter does not count for another."""
    now = datetime.now(UTC)
    fee_branch = "东风路支行给我办的装修贷款每月多扣一笔账户管理费225元，合同里没有这项，要求退还"
    fee_again = "东风路支行装修贷款的账户管理费225元还在扣，上个月反映过至今没人处理，要求退还"
    for hours_ago, text, complaint_id in ((30, fee_branch, "MAT-1"), (20, api.texts.APP_FAILURE, "MAT-2"),
                                          (10, fee_again, "MAT-3")):
        api.submit(text, customer_id="U-MATTERS", complaint_id=complaint_id,
                   received_at=(now - timedelta(hours=hours_ago)).isoformat())
    page = api.get("/v1/customers/U-MATTERS/complaints", limit=1).json()
    assert len(page["items"]) == 1  # the page is one complaint, the matters are all of them
    matters = {m["matter_id"]: m for m in page["matters"]}
    assert set(matters) == {"MAT-1", "MAT-2"}
    assert (matters["MAT-1"]["complaints"], matters["MAT-1"]["complaint_ids"]) == (2, ["MAT-1", "MAT-3"])
    assert matters["MAT-2"]["complaints"] == 1
    assert any("东风路支行" in s for s in matters["MAT-1"]["shared"])
    assert [m["matter_id"] for m in page["matters"]] == ["MAT-1", "MAT-2"]  # latest activity first
