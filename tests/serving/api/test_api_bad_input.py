"""Bad input: malformed JSON, wrong types, empty text, too long, unknown fields, SQL and HTML in the text,
identical requests at the same moment; and the inputs that once ended in a 500."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from serving.app import create_app
from serving.model_source import LoadedModel
from serving.store.tables import Complaint

JSON_ENDPOINTS = (("/v1/complaints", "intake"), ("/v1/complaints/batch", "intake"),
                  ("/v1/review/ANY-ID", "lead"), ("/v1/admin/keys", "admin"))


def details(response) -> list[dict]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def stored_text(api, complaint_id: str) -> str | None:
    with api.runtime.store.session() as session:
        return session.scalar(select(Complaint.text).where(Complaint.complaint_id == complaint_id))


# ---- malformed and mistyped -------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ['{"text": "手机银行打不开", '.encode(), b"{'text': 'single quotes'}", b"text=abc",
                                     b'{"text": "a"} trailing', b"\xff\xfe"])
def test_malformed_json_is_422_naming_the_problem(api, content):
    for path, role in JSON_ENDPOINTS:
        problems = details(api.post_raw(path, content, role=role))
        assert problems[0]["type"] == "json_invalid", (path, problems)
        assert problems[0]["msg"] == "JSON decode error"
        assert problems[0]["ctx"]["error"]  # what the parser choked on, e.g. "Expecting value"


def test_a_body_that_is_not_an_object_is_422(api):
    for content in ("[]", '"a complaint"', "42", "null"):
        problems = details(api.post_raw("/v1/complaints", content))
        assert problems[0]["loc"] == ["body"], problems


def test_wrong_types_are_422_naming_every_field(api):
    body = {"text": 123, "complaint_id": 5, "customer_id": ["U1"], "channel": "fax", "product": {"name": "卡"},
            "received_at": "yesterday", "amount": "lots"}
    problems = details(api.post("/v1/complaints", body, role="intake"))
    named = {tuple(p["loc"]) for p in problems}
    assert named == {("body", field) for field in body}, problems
    assert all(p["msg"] for p in problems)

    assert [p["loc"] for p in details(api.post("/v1/complaints", {"text": "有效", "amount": -1}, role="intake"))] \
        == [["body", "amount"]]
    missing = details(api.post("/v1/complaints", {"customer_id": "U1"}, role="intake"))
    assert [(p["loc"], p["type"]) for p in missing] == [(["body", "text"], "missing")]


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r\n", "\u3000\u3000", None])
def test_empty_or_whitespace_text_is_422(api, text):
    problems = details(api.post("/v1/complaints", {"text": text, "customer_id": "U-EMPTY"}, role="intake"))
    assert [p["loc"] for p in problems] == [["body", "text"]], problems
    assert api.get("/v1/customers/U-EMPTY/complaints").json()["total"] == 0


def test_text_over_20000_characters_is_413(api):
    too_long = api.post("/v1/complaints", {"complaint_id": "LONG", "text": "款" * 20_001}, role="intake")
    assert too_long.status_code == 413, too_long.text
    assert "20001" in too_long.json()["detail"] and "20000" in too_long.json()["detail"]
    assert api.get("/v1/complaints/LONG").status_code == 404

    at_limit = api.submit("手机银行转账失败" + "款" * (20_000 - 8), complaint_id="AT-LIMIT")
    assert api.record("AT-LIMIT")["decision"] == at_limit
    padded = api.post("/v1/complaints", {"text": "  " + "款" * 20_000 + "\n\n"}, role="intake")
    assert padded.status_code == 201, padded.text  # surrounding whitespace does not count


def test_unknown_fields_are_422_naming_them(api):
    complaint_id = api.submit()["complaint_id"]
    for path, body, role in (
        ("/v1/complaints", {"text": "有效的投诉", "priority": "high"}, "intake"),
        ("/v1/complaints/batch", {"complaints": [], "dry_run": True}, "intake"),
        (f"/v1/review/{complaint_id}", {"action": "confirm", "score": 5}, "lead"),
        ("/v1/admin/keys", {"name": "x", "role": "lead", "expires": "never"}, "admin"),
    ):
        problems = details(api.post(path, body, role=role))
        unknown = next(iter(set(body) - {"text", "complaints", "action", "name", "role"}))
        assert [(p["loc"], p["type"]) for p in problems] == [(["body", unknown], "extra_forbidden")], problems


# ---- hostile text -----------------------------------------------------------------------------------------
SQL = "'; DROP TABLE complaints; --"
HTML = "<script>alert('x')</script><img src=x onerror=alert(1)>"


CUSTOMER = "U1';DELETE-FROM-complaints;--<b>"  # customer ids may not hold spaces, / ? or #


def test_sql_and_html_are_stored_as_given(api):
    texts = {"SQL-1": f"信用卡被多扣了年费 {SQL}",
             "HTML-1": f"{HTML} 手机银行转账失败",
             "BOTH-1": f"{SQL}{HTML}"}
    for complaint_id, text in texts.items():
        decision = api.submit(text, complaint_id=complaint_id, customer_id=CUSTOMER)
        assert decision["complaint_id"] == complaint_id
        assert stored_text(api, complaint_id) == text  # exactly as given
        for hostile in (SQL, HTML):
            if hostile in text:  # nothing was escaped or dropped
                assert hostile in decision["masked_text"]
        record = api.record(complaint_id)  # the stored complaint still answers
        assert record["decision"] == decision and record["customer_id"] == CUSTOMER
    # ids appear in URL paths: an id with quotes, spaces or ; is refused, not stored
    refused = api.post("/v1/complaints", {"complaint_id": f"ID{SQL}", "text": "手机银行转账失败"}, role="intake")
    assert [p["loc"] for p in details(refused)] == [["body", "complaint_id"]]

    # the tables survived and still answer
    with api.runtime.store.session() as session:
        tables = set(inspect(session.connection()).get_table_names())
    assert {"complaints", "api_keys", "reviews", "clusters"} <= tables
    assert api.get(f"/v1/customers/{CUSTOMER}/complaints").json()["total"] == 3
    assert api.submit()["complaint_id"]
    assert api.get("/v1/stats", **{"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}).json()[
        "complaints"] == 4
    assert api.get("/v1/review").status_code == 200


# ---- at the same moment -----------------------------------------------------------------------------------
def _post_together(clients, body, auth):
    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(lambda c: c.post("/v1/complaints", json=body, headers=auth), clients))


def test_identical_requests_at_the_same_moment_store_one_complaint(api):
    body = api.complaint(api.texts.FEE, complaint_id="TWINS-1", customer_id="U-TWINS")
    responses = _post_together([api.client] * 8, body, api.headers["intake"])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text[:200] for r in responses]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1  # the same decision to all
    assert api.get("/v1/customers/U-TWINS/complaints").json()["total"] == 1
    assert len(api.record("TWINS-1")["history"]) == 1
    counted = [line for line in api.get("/metrics", None).text.splitlines()
               if line.startswith("triage_decisions_total{")]
    assert [float(line.rsplit(" ", 1)[1]) for line in counted] == [1.0]


def test_identical_requests_to_two_instances_on_one_database_store_one_complaint(
        api, service_settings, trained_model):
    """Two workers of the service on one database: each has its own lock, the database decides."""
    second = create_app(service_settings, model=LoadedModel(trained_model, "second worker"))
    with TestClient(second) as other:
        for n in range(3):
            body = api.complaint(api.texts.COLLECTION, complaint_id=f"TWO-WORKERS-{n}", customer_id=f"U-TW-{n}")
            responses = _post_together([api.client, other] * 4, body, api.headers["intake"])
            assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.text[:200] for r in responses]
            assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
            assert len(api.record(f"TWO-WORKERS-{n}")["history"]) == 1
            assert other.get(f"/v1/complaints/TWO-WORKERS-{n}", headers=api.headers["lead"]).status_code == 200


# ---- inputs that once ended in a 500 ---------------------------------------------------------------------
@pytest.mark.parametrize("amount", ["Infinity", "NaN", "-Infinity"])
def test_a_non_finite_amount_is_422(api, amount):
    response = api.post_raw("/v1/complaints",
                            f'{{"complaint_id": "NONFINITE", "text": "信用卡年费乱收费", "amount": {amount}}}')
    assert response.status_code == 422, response.text
    assert "amount" in str(response.json()["detail"])


def test_a_received_at_the_clocks_cannot_count_from_is_422(api):
    response = api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": "9999-12-31T23:00:00+00:00"},
                        role="intake")
    assert response.status_code == 422, response.text
    assert "received_at" in str(response.json()["detail"])


@pytest.mark.parametrize("field, size", [("complaint_id", 129), ("customer_id", 129), ("product", 65)])
def test_an_overlong_identifier_is_refused_or_kept_never_a_500(api, field, size):
    value = "x" * size
    response = api.post("/v1/complaints", {"text": "信用卡年费乱收费", "complaint_id": "LONG-FIELD", field: value},
                        role="intake")
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert field in str(response.json()["detail"])
    else:
        complaint_id = response.json()["complaint_id"]
        assert api.record(complaint_id)["decision"][field] == value


def test_a_nul_character_in_the_text_is_refused_or_kept_never_a_500(api):
    response = api.post("/v1/complaints", {"complaint_id": "NUL-1", "text": "信用卡年费\x00乱收费"}, role="intake")
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        assert api.record("NUL-1")["decision"] == response.json()
    else:
        assert "U+0000" in str(response.json()["detail"])


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u3000\ufeff"])
def test_a_text_of_invisible_characters_is_empty(api, text):
    response = api.post("/v1/complaints", {"text": text}, role="intake")
    assert response.status_code == 422 and "no visible characters" in str(response.json()["detail"])


@pytest.mark.parametrize("moment", ["1999-12-31T23:00:00+00:00", "2099-01-01T00:00:00+08:00"])
def test_an_implausible_received_at_is_422(api, moment):
    response = api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": moment}, role="intake")
    assert response.status_code == 422 and "received_at" in str(response.json()["detail"])


def test_the_same_instant_in_another_zone_is_a_retry(api):
    body = {"complaint_id": "ZONES-1", "text": "信用卡年费乱收费", "received_at": "2026-11-02T10:00:00+08:00"}
    assert api.post("/v1/complaints", body, role="intake").status_code == 201
    again = api.post("/v1/complaints", {**body, "received_at": "2026-11-02T02:00:00Z"}, role="intake")
    assert again.status_code == 200, again.text


def test_one_bad_batch_item_does_not_fail_the_others(api):
    items = [{"complaint_id": "BATCH-OK", "text": "手机银行转账失败"},
             {"complaint_id": "BATCH-BAD", "text": "信用卡年费乱收费", "product": "p" * 65},
             {"complaint_id": "BATCH-OK-2", "text": "催收人员骚扰我的家人"}]
    response = api.post("/v1/complaints/batch", {"complaints": items}, role="intake")
    assert response.status_code == 200, response.text
    statuses = [item["status"] for item in response.json()["items"]]
    assert statuses[0] == 201 and statuses[2] == 201 and statuses[1] in (201, 422), statuses


def test_a_batch_item_that_is_not_an_object_gets_its_own_422(api):
    body = {"complaints": [{"complaint_id": "FINE-1", "text": "手机银行转账失败"}, "just a string", 42]}
    response = api.post("/v1/complaints/batch", body, role="intake")
    assert response.status_code == 200, response.text
    assert [item["status"] for item in response.json()["items"]] == [201, 422, 422]
