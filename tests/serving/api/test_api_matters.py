"""A lead's split and join of a customer's matters (issue 17): recorded with who and when, honoured by the
customer's next complaint, and still honoured after a restart (with the similarity snapshot and without it).

No mocks: the session model decides, the repeat detector reads the texts; every test checks the premise it
relies on (that the second complaint about 东风路支行 is a repeat of the first) before correcting it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.model_source import LoadedModel

SUPERVISOR = "投诉处理主管"
FEE = "东风路支行给我办的装修贷款每月多扣一笔账户管理费225元，合同里没有这项，要求退还"
FEE_AGAIN = "东风路支行装修贷款的账户管理费225元还在扣，上个月反映过至今没人处理，要求退还"
FEE_THIRD = "东风路支行装修贷款的账户管理费225元还在扣，上个月反映过至今还是没人处理，要求退还"
ATM = "翠湖花园小区门口的自助取款机吞了我的银行卡，打了客服电话三天了没人来取卡"
ATM_AGAIN = "翠湖花园小区门口那台自助取款机吞卡的事，客服说三天内处理，现在还没人来取卡"


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def matters_of(api, customer: str) -> dict[str, list[str]]:
    response = api.get(f"/v1/customers/{customer}/matters")
    assert response.status_code == 200, response.text
    return {m["matter_id"]: m["complaint_ids"] for m in response.json()["matters"]}


def supervised(decision: dict) -> bool:
    return SUPERVISOR in [e["target"] for e in decision["escalations"]]


def fee_matter(api, customer: str) -> None:
    """F-1 and its repeat F-2 (the premise: the detector puts them on one matter)."""
    api.submit(FEE, customer_id=customer, complaint_id=f"{customer}-F1", received_at=at(50))
    again = api.submit(FEE_AGAIN, customer_id=customer, complaint_id=f"{customer}-F2", received_at=at(40))
    assert again["repeat"]["matter_id"] == f"{customer}-F1", again["repeat"]


def test_a_split_is_recorded_and_honoured_by_the_next_complaint(api):
    fee_matter(api, "U-SPLIT")
    response = api.post("/v1/customers/U-SPLIT/matters/split",
                        {"complaint_id": "U-SPLIT-F2", "comment": "another loan"}, role="lead")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["correction"]["action"] == "split" and body["correction"]["moved"] == {"U-SPLIT-F2": "U-SPLIT-F2"}
    assert body["correction"]["reviewer"] == "test lead" and body["correction"]["comment"] == "another loan"
    assert {m["matter_id"]: m["complaints"] for m in body["matters"]} == {"U-SPLIT-F1": 1, "U-SPLIT-F2": 1}
    # Without the split this would be the matter's third complaint (and go to a supervisor).
    third = api.submit(FEE_THIRD, customer_id="U-SPLIT", complaint_id="U-SPLIT-F3", received_at=at(30))
    assert third["repeat"]["repeat_count"] == 2 and not supervised(third)
    listed = api.get("/v1/customers/U-SPLIT/matters").json()
    assert [c["action"] for c in listed["corrections"]] == ["split"]
    assert sorted(map(len, matters_of(api, "U-SPLIT").values())) == [1, 2]
    # The customer's complaints page groups them the same way.
    page = api.get("/v1/customers/U-SPLIT/complaints").json()
    assert {m["matter_id"]: m["complaint_ids"] for m in page["matters"]} == matters_of(api, "U-SPLIT")


def test_joined_matters_count_as_one_and_the_third_across_them_escalates(api):
    api.submit(FEE, customer_id="U-JOIN", complaint_id="J-1", received_at=at(50))
    atm = api.submit(ATM, customer_id="U-JOIN", complaint_id="J-2", received_at=at(40))
    assert atm["repeat"]["matter_id"] == "J-2"  # the premise: two matters
    response = api.post("/v1/customers/U-JOIN/matters/join", {"matters": ["J-2", "J-1"]}, role="admin")
    assert response.status_code == 200, response.text
    assert response.json()["correction"]["moved"] == {"J-2": "J-1"}
    assert matters_of(api, "U-JOIN") == {"J-1": ["J-1", "J-2"]}
    third = api.submit(ATM_AGAIN, customer_id="U-JOIN", complaint_id="J-3", received_at=at(30))
    assert (third["repeat"]["matter_id"], third["repeat"]["repeat_count"]) == ("J-1", 3)
    assert supervised(third)


def test_corrections_that_cannot_be_made_say_why(api):
    fee_matter(api, "U-BAD")
    api.submit(ATM, customer_id="U-OTHER", complaint_id="O-1", received_at=at(45))
    split, join = "/v1/customers/U-BAD/matters/split", "/v1/customers/U-BAD/matters/join"
    cases = [
        (split, {"complaint_id": "O-1"}, 404, "no complaint 'O-1' of this customer"),  # another customer's
        ("/v1/customers/NOBODY/matters/split", {"complaint_id": "O-1"}, 404, "no complaints of customer 'NOBODY'"),
        (join, {"matters": ["U-BAD-F1", "NOPE"]}, 404, "'NOPE'"),
        (join, {"matters": ["U-BAD-F1", "U-BAD-F2"]}, 409, "one matter already"),
        (join, {"matters": ["U-BAD-F1"]}, 422, "at least 2"),
        (join, {"matters": ["U-BAD-F1", "U-BAD-F1"]}, 422, "named once"),
        (split, {"complaint_id": ""}, 422, "at least 1"),
        (split, {"complaint_id": "U-BAD-F2", "matter": "x"}, 422, "Extra inputs"),
    ]
    for path, body, status, says in cases:
        response = api.post(path, body, role="lead")
        assert response.status_code == status, (body, response.text)
        assert says in response.text, (body, response.text)
    assert api.post(split, {"complaint_id": "U-BAD-F2"}, role="lead").status_code == 200
    again = api.post(split, {"complaint_id": "U-BAD-F2"}, role="lead")
    assert again.status_code == 409 and "only complaint on its matter" in again.json()["detail"]
    assert api.post(split, {"complaint_id": "U-BAD-F1"}, role="intake").status_code == 403
    assert api.get("/v1/customers/U-BAD/matters", role="intake").status_code == 403
    assert [c["action"] for c in api.get("/v1/customers/U-BAD/matters").json()["corrections"]] == ["split"]


@pytest.mark.parametrize("snapshot", [True, False], ids=["with the snapshot", "rebuilt from the store"])
def test_corrections_are_honoured_after_a_restart(service_settings, headers, trained_model, snapshot):
    def start() -> TestClient:
        return TestClient(create_app(service_settings, model=LoadedModel(trained_model, "test session model")))

    def submit(client: TestClient, text: str, complaint_id: str, hours_ago: float) -> dict:
        response = client.post("/v1/complaints", headers=headers["intake"], json={
            "text": text, "customer_id": "U-RESTART", "complaint_id": complaint_id, "received_at": at(hours_ago)})
        assert response.status_code == 201, response.text
        return response.json()

    with start() as client:
        submit(client, FEE, "R-1", 60)
        assert submit(client, FEE_AGAIN, "R-2", 50)["repeat"]["matter_id"] == "R-1"
        assert submit(client, ATM, "R-3", 45)["repeat"]["matter_id"] == "R-3"
        for action, body in (("split", {"complaint_id": "R-2"}), ("join", {"matters": ["R-1", "R-3"]})):
            response = client.post(f"/v1/customers/U-RESTART/matters/{action}", headers=headers["lead"], json=body)
            assert response.status_code == 200, response.text
    similarity = service_settings.data_dir / "similarity"
    assert similarity.exists()  # written on shutdown
    if not snapshot:  # a crash: only the store knows the complaints and the corrections
        shutil.rmtree(similarity)
    with start() as client:
        fee = submit(client, FEE_THIRD, "R-4", 30)
        assert (fee["repeat"]["matter_id"], fee["repeat"]["repeat_count"]) == ("R-2", 2)  # R-2's, split off
        atm = submit(client, ATM_AGAIN, "R-5", 20)
        assert (atm["repeat"]["matter_id"], atm["repeat"]["repeat_count"]) == ("R-1", 3)  # joined
        assert supervised(atm)
