"""No personal numbers in the service's logs, whatever requests carry them (captured as the app's own log
handler writes them: JSON lines through the scrubbing formatter of serving/logs.py)."""

from __future__ import annotations

import json

from triage.features.pii import is_luhn_valid, is_valid_id_card

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
BANK_CARD = "6222021234567890128"  # 6222021234567890123 fails the Luhn check: not a card number
NUMBERS = (PHONE, ID_CARD, ID_CARD[:17], BANK_CARD)
TEXT = f"我的银行卡{BANK_CARD}被盗刷了两万元，身份证号{ID_CARD}，请打我电话{PHONE}联系，尽快处理"


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def assert_no_numbers(stream) -> None:
    written = stream.getvalue()
    leaked = [n for n in NUMBERS if n in written]
    assert not leaked, f"{leaked} in the logs:\n" + "\n".join(
        line for line in written.splitlines() if any(n in line for n in leaked))


def test_the_test_numbers_are_valid_personal_numbers():
    assert is_valid_id_card(ID_CARD)
    assert is_luhn_valid(BANK_CARD)
    assert not is_luhn_valid("6222021234567890123")


def test_logs_never_show_personal_numbers(api, app_log):
    decision = api.submit(TEXT, complaint_id="PII-1", customer_id=PHONE, amount=20000, channel="hotline")
    for number in NUMBERS:  # the decision masks them too (the customer id is the caller's own field)
        assert number not in decision["masked_text"]
    for mask in ("[手机号]", "[身份证号]", "[银行卡号]"):
        assert mask in decision["masked_text"]

    body = {"complaint_id": "PII-1", "customer_id": PHONE, "text": TEXT, "amount": 20000, "channel": "hotline"}
    assert api.post("/v1/complaints", body, role="intake").status_code == 200                       # retry
    assert api.post("/v1/complaints", {**body, "amount": 1}, role="intake").status_code == 409      # conflict
    assert api.post("/v1/complaints", {**body, "phone": PHONE}, role="intake").status_code == 422   # unknown field
    assert api.post("/v1/complaints", {**body, "amount": ID_CARD}, role="intake").status_code == 422  # wrong type
    assert api.post("/v1/complaints", {"text": TEXT * 600}, role="intake").status_code == 413
    assert api.post_raw("/v1/complaints", f'{{"text": "{TEXT}", "customer_id": {PHONE}'.encode()).status_code == 422
    batch = api.post("/v1/complaints/batch", {"complaints": [
        {"customer_id": BANK_CARD, "text": TEXT}, {"customer_id": PHONE, "text": TEXT, "id_card": ID_CARD}]},
        role="intake")
    assert [i["status"] for i in batch.json()["items"]] == [201, 422]
    assert api.get(f"/v1/customers/{PHONE}/complaints", "intake").json()["total"] == 1
    assert api.get(f"/v1/customers/{ID_CARD}/complaints").json()["total"] == 0
    assert api.get(f"/v1/complaints/{BANK_CARD}").status_code == 404
    assert api.get("/v1/complaints/PII-1").status_code == 200
    review = api.post("/v1/review/PII-1", {"action": "confirm", "comment": f"已电话{PHONE}联系客户"})
    assert review.status_code == 200
    assert api.post(f"/v1/review/{PHONE}", {"action": "confirm"}).status_code == 404
    assert api.post("/v1/admin/keys", {"name": f"desk {PHONE}", "role": "intake"}, role="admin").status_code == 201
    assert api.get("/v1/stats").status_code == 200

    records = lines(app_log)
    requests = [r for r in records if r.get("event") == "request" and r.get("logger") == "serving.app"]
    assert len(requests) == 16  # every request above was logged (as JSON) ...
    assert {"path": "/v1/customers/[手机号]/complaints", "status": 200} in [
        {"path": r["path"], "status": r["status"]} for r in requests]
    assert_no_numbers(app_log)  # ... without a single personal number


def test_an_internal_error_is_logged_without_personal_numbers(api, app_log):
    # A non-finite amount is a 500 today (see test_api_bad_input); whatever the answer, the log of it,
    # traceback and SQL parameters included, must not show the customer's numbers.
    response = api.post_raw("/v1/complaints", json.dumps({"text": TEXT, "customer_id": PHONE}).replace(
        '"text"', '"amount": Infinity, "text"').encode())
    assert response.status_code in (422, 500)
    assert lines(app_log)
    assert_no_numbers(app_log)


def test_a_request_id_from_the_caller_is_scrubbed_too(api, app_log):
    response = api.request("GET", "/v1/model", "lead", headers={"X-Request-ID": f"cust-{PHONE}"})
    assert response.status_code == 200
    assert_no_numbers(app_log)
