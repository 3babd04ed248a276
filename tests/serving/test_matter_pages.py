"""The complaint page's matter control (issue 17): a signed-in lead splits a complaint off its matter or joins its
matter with another of the customer's; CSRF-checked, recorded with who, and what the API then lists."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

FEE = "东风路支行给我办的装修贷款每月多扣一笔账户管理费225元，合同里没有这项，要求退还"
FEE_AGAIN = "东风路支行装修贷款的账户管理费225元还在扣，上个月反映过至今没人处理，要求退还"
ATM = "翠湖花园小区门口的自助取款机吞了我的银行卡，打了客服电话三天了没人来取卡"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def test_a_lead_splits_and_joins_matters_on_the_complaint_page(client, headers, api_keys):
    now = datetime.now(UTC)
    for hours_ago, text, complaint_id in ((50, FEE, "PG-1"), (40, FEE_AGAIN, "PG-2"), (30, ATM, "PG-3")):
        response = client.post("/v1/complaints", headers=headers["intake"], json={
            "text": text, "customer_id": "U-PAGE", "complaint_id": complaint_id,
            "received_at": (now - timedelta(hours=hours_ago)).isoformat()})
        assert response.status_code == 201, response.text
    assert response.json()["repeat"]["matter_id"] == "PG-3"
    login = client.get("/login")
    client.post("/login", data={"key": api_keys["lead"], "csrf_token": csrf_of(login.text)})

    page = client.get("/review/PG-2")
    assert page.status_code == 200
    assert "拆出为单独事项" in page.text and 'value="PG-3"' in page.text  # PG-2 shares PG-1's matter
    token = csrf_of(page.text)
    refused = client.post("/review/PG-2/matter", data={"action": "split"}, follow_redirects=False)
    assert refused.status_code == 403

    split = client.post("/review/PG-2/matter", data={"action": "split", "comment": "另一笔贷款",
                                                     "csrf_token": token}, follow_redirects=False)
    assert split.status_code == 303 and split.headers["location"] == "/review/PG-2"
    page = client.get("/review/PG-2")
    assert "已将 PG-2 拆出为单独的事项" in page.text and "另一笔贷款" in page.text and "test lead" in page.text
    again = client.post("/review/PG-2/matter", data={"action": "split", "csrf_token": token})
    assert again.status_code == 409 and "无需拆出" in again.text  # alone now: the page says so, no button

    joined = client.post("/review/PG-2/matter", data={"action": "join", "other": "PG-3", "csrf_token": token},
                         follow_redirects=False)
    assert joined.status_code == 303
    matters = client.get("/v1/customers/U-PAGE/matters", headers=headers["lead"]).json()
    assert {m["matter_id"]: m["complaint_ids"] for m in matters["matters"]} == {"PG-1": ["PG-1"],
                                                                                 "PG-2": ["PG-2", "PG-3"]}
    assert [(c["action"], c["reviewer"]) for c in matters["corrections"]] == [("split", "test lead"),
                                                                              ("join", "test lead")]
    unknown = client.post("/review/PG-2/matter", data={"action": "join", "other": "NOPE", "csrf_token": token})
    assert unknown.status_code == 404 and "没有事项「NOPE」" in unknown.text
