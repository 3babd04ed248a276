"""Issue 16: every input that once ended in a 500 (each its own test), figures and exports that mean what they
say, and strict input types. The schemathesis run (test_api_fuzz.py) looks for the ones nobody thought of."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from triage.cli import app as cli

HUGE = "9223372036854775808"  # 2**63: past SQLite's (and PostgreSQL's) 64-bit integers


def details(response) -> list[dict]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def named(response, *fields: str) -> list[dict]:
    """The 422's problems, checked to name exactly these parameters."""
    problems = details(response)
    assert {p["loc"][-1] for p in problems} == set(fields), problems
    return problems


# ---- the 500s of the issue, one test each -----------------------------------------------------------------
def test_an_offset_past_64_bits_on_the_review_queue_is_422(api):
    problems = named(api.get("/v1/review", offset=HUGE), "offset")
    assert problems[0]["ctx"]["le"] == 1_000_000_000
    assert api.get("/v1/review", offset=1_000_000_000).json()["items"] == []  # the bound itself still answers


def test_an_offset_past_64_bits_on_a_customers_complaints_is_422(api):
    api.submit(customer_id="U-OFFSET")
    named(api.get("/v1/customers/U-OFFSET/complaints", offset=HUGE), "offset")
    named(api.get("/v1/customers/U-OFFSET/complaints", limit=HUGE), "limit")
    assert api.get("/v1/customers/U-OFFSET/complaints", offset=10**9).json()["total"] == 1


@pytest.mark.parametrize("hours", ["1e20", "1e308", "inf", "nan", "-1"])
def test_an_age_the_clock_cannot_subtract_is_422(api, hours):
    named(api.get("/v1/review", min_age_hours=hours), "min_age_hours")
    named(api.get("/v1/review", max_age_hours=hours), "max_age_hours")


@pytest.mark.parametrize("hours", ["1e20", "inf", "nan", "-3"])
def test_the_review_page_ignores_an_age_the_clock_cannot_subtract(client, api_keys, hours):
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    assert client.post("/login", data={"key": api_keys["lead"], "csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    page = client.get("/review", params={"min_age_hours": hours, "max_age_hours": hours, "offset": HUGE,
                                         "limit": HUGE})
    assert page.status_code == 200, page.text[:300]
    assert f"已忽略「{hours}」" in page.text  # the page says which filter it dropped


def test_stats_for_dates_out_of_range_is_422_naming_both(api):
    problems = named(api.get("/v1/stats", **{"from": "0001-01-01", "to": "9999-12-31"}), "from", "to")
    assert all("outside 1970-01-01 to 2199-12-31" in p["msg"] for p in problems)
    named(api.get("/v1/stats", **{"from": "0001-01-01T00:00:00+14:00"}), "from")
    named(api.get("/v1/stats", **{"to": "2025-02-30"}), "to")
    named(api.get("/v1/stats", **{"to": "yesterday"}), "to")


@pytest.mark.parametrize("path, role, body", [
    ("/v1/complaints", "intake", '{"text": "\\ud800 x"}'),
    ("/v1/complaints", "intake", '{"text": "信用卡被盗刷", "customer_id": "\\udc00"}'),
    ("/v1/review/ANY-ID", "lead", '{"action": "confirm", "comment": "\\ud800"}'),
    ("/v1/admin/keys", "admin", '{"name": "\\udfff", "role": "lead"}'),
])
def test_a_lone_surrogate_in_a_body_is_422_naming_it(api, path, role, body):
    response = api.post_raw(path, body, role=role)
    [problem] = details(response)
    assert problem["type"] == "string_unicode"
    assert "lone UTF-16 surrogate" in problem["msg"] and "U+D" in problem["msg"]
    assert problem["input"].startswith("\\u")  # echoed as its escape, not as a character UTF-8 cannot hold


def test_a_lone_surrogate_in_a_batch_item_fails_that_item_only(api):
    body = '{"complaints": [{"complaint_id": "\\ud800", "text": "\\ud800 x"}, {"text": "手机银行转账失败"}]}'
    response = api.post_raw("/v1/complaints/batch", body)
    assert response.status_code == 200, response.text
    bad, good = response.json()["items"]
    assert bad["status"] == 422 and "lone UTF-16 surrogate" in bad["error"] and bad["complaint_id"] == "\\ud800"
    assert good["status"] == 201


def test_a_key_id_past_64_bits_is_422(api):
    named(api.request("DELETE", f"/v1/admin/keys/{HUGE}", role="admin"), "key_id")


# ---- 405 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/v1/admin/keys", "GET, POST"),
    ("PUT", "/v1/complaints", "POST"),
    ("POST", "/v1/clusters", "GET"),
    ("PUT", "/v1/admin/keys/1", "DELETE"),
    ("DELETE", "/review/ANY-ID", "GET, POST"),
    ("POST", "/healthz", "GET"),
])
def test_a_method_the_path_does_not_take_is_405_with_allow_naming_every_method(api, method, path, allowed):
    response = api.request(method, path, role="admin")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed


# ---- figures and exports that mean what they say ---------------------------------------------------------
def test_a_date_only_to_includes_that_whole_day_and_the_answer_says_the_interval(api):
    for complaint_id, received in (("OCT-FIRST", "2025-10-01T00:00:00+08:00"),
                                   ("OCT-LAST", "2025-10-31T23:59:00+08:00"),
                                   ("NOV-FIRST", "2025-11-01T00:00:00+08:00"),
                                   ("OCT-LAST-NAIVE", "2025-10-31T20:00:00")):  # bank time
        api.submit(complaint_id=complaint_id, received_at=received)
    october = api.get("/v1/stats", **{"from": "2025-10-01", "to": "2025-10-31"}).json()
    assert october["complaints"] == 3
    assert october["from"] == "2025-10-01T00:00:00+08:00" and october["to"] == "2025-11-01T00:00:00+08:00"
    assert october["interval"] == "2025-10-01T00:00:00+08:00 <= received_at < 2025-11-01T00:00:00+08:00"
    # an explicit instant is that instant, in any zone
    until = api.get("/v1/stats", **{"from": "2025-10-01", "to": "2025-10-31T15:59:00Z"}).json()
    assert until["to"] == "2025-10-31T23:59:00+08:00" and until["complaints"] == 2
    single_day = api.get("/v1/stats", **{"from": "2025-11-01", "to": "2025-11-01"}).json()
    assert single_day["complaints"] == 1
    assert api.get("/v1/stats", **{"from": "2025-11-02", "to": "2025-11-01"}).status_code == 400


def test_a_correction_that_changes_nothing_is_refused_and_never_counted(api):
    decision = api.submit_flagged(api.texts.ENGLISH, complaint_id="SAME-LABELS",
                                  received_at="2025-09-10T10:00:00+08:00")
    same = {"action": "correct", "category": decision["category"], "tier": decision["tier"]["label"]}
    refused = api.post("/v1/review/SAME-LABELS", same)
    problems = details(refused)
    assert {p["loc"][-1] for p in problems} == {"category", "tier"}
    assert "must change" in problems[0]["msg"]
    other = next(c for c in api.runtime.intake.service.categories() if c != decision["category"])
    september = {"from": "2025-09-01", "to": "2025-09-30"}
    assert api.get("/v1/stats", **september).json()["review"]["corrected"] == 0
    assert api.post("/v1/review/SAME-LABELS", {"action": "correct", "category": other}).status_code == 200
    assert api.get("/v1/stats", **september).json()["review"]["corrected"] == 1


def test_corrections_stored_before_they_were_refused_count_only_when_they_changed_something(api):
    from serving.store.tables import Complaint, Review

    api.submit_flagged(api.texts.ENGLISH_APP, complaint_id="OLD-NOOP", received_at="2025-08-10T10:00:00+08:00")
    record = api.record("OLD-NOOP")
    with api.runtime.store.session() as session:  # as an earlier version stored a no-op correction
        complaint = session.query(Complaint).filter_by(complaint_id="OLD-NOOP").one()
        session.add(Review(complaint_seq=complaint.seq, key_id=None, reviewer="old", action="correct",
                           category=record["category"], tier=record["tier"], department=record["department"],
                           comment="", previous_category=record["category"], previous_tier=record["tier"],
                           previous_department=record["department"], created_at=datetime.now(UTC)))
    figures = api.get("/v1/stats", **{"from": "2025-08-01", "to": "2025-08-31"}).json()["review"]
    assert figures["corrected"] == 0
    [row] = [r for r in api.runtime.store.feedback_rows() if r.complaint_id == "OLD-NOOP"]
    assert row.action == "confirm"


def test_feedback_export_writes_masked_text(api, service_settings, monkeypatch, tmp_path):
    phone, card, mail = "13812345678", "6222021234567890128", "zhang.san@example.com"
    text = f"信用卡被盗刷，我的手机{phone}，卡号{card}，邮箱{mail}，请尽快处理"
    api.submit(text, complaint_id="EXPORT-PII")
    assert api.post("/v1/review/EXPORT-PII", {"action": "confirm"}).status_code == 200
    if service_settings.database_url:
        monkeypatch.setenv("TRIAGE_DATABASE_URL", service_settings.database_url)
    out = tmp_path / "feedback.jsonl"
    result = CliRunner().invoke(cli, ["feedback", "export", "--out", str(out),
                                      "--data-dir", str(service_settings.data_dir)])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["complaint_id"] == "EXPORT-PII" and row["action"] == "confirm"
    for raw in (phone, card, mail):
        assert raw not in out.read_text(encoding="utf-8")
    assert "[手机号]" in row["text"] and "[银行卡号]" in row["text"] and "[邮箱]" in row["text"]
    assert "信用卡被盗刷" in row["text"]


# ---- strict input types ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [True, False, "12", "12.5", [12], {"yuan": 12}])
def test_an_amount_that_is_not_a_number_is_422(api, amount):
    problems = named(api.post("/v1/complaints", {"text": "信用卡年费乱收费", "amount": amount}, role="intake"),
                     "amount")
    assert "number" in problems[0]["msg"]


@pytest.mark.parametrize("amount", [0, 12, 12.5, 1e6])
def test_an_amount_that_is_a_number_is_kept(api, amount):
    assert api.submit("信用卡年费乱收费", amount=amount)["amount"] == amount


@pytest.mark.parametrize("moment", [1700000000, 1700000000.5, "1700000000", True])
def test_a_received_at_that_is_a_number_is_422(api, moment):
    problems = named(api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": moment},
                              role="intake"), "received_at")
    assert "ISO 8601" in problems[0]["msg"] or "datetime" in problems[0]["msg"]


def test_a_naive_received_at_is_bank_time_and_checked_as_bank_time(api):
    # 2000-01-01T05:00 in Shanghai is 1999-12-31T21:00Z: before the earliest time a complaint can have
    problems = named(api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": "2000-01-01T05:00:00"},
                              role="intake"), "received_at")
    assert "before 2000-01-01" in problems[0]["msg"]
    assert api.submit(received_at="2000-01-01T09:00:00")["received_at"] == "2000-01-01T09:00:00+08:00"
    # the future, in bank time: a naive time 20 h ahead of UTC's clock is only 12 h ahead in Shanghai
    ahead = (datetime.now(UTC) + timedelta(hours=20)).replace(tzinfo=None, microsecond=0).isoformat()
    assert api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": ahead},
                    role="intake").status_code == 201
    too_far = (datetime.now(UTC) + timedelta(hours=8 + 25)).replace(tzinfo=None, microsecond=0).isoformat()
    assert "in the future" in named(api.post("/v1/complaints", {"text": "信用卡年费乱收费", "received_at": too_far},
                                             role="intake"), "received_at")[0]["msg"]


def test_a_text_that_grows_past_the_limit_when_normalised_is_413_never_cut(api):
    too_long = api.post("/v1/complaints", {"complaint_id": "LIGATURES", "text": "ﷺ" * 20_000}, role="intake")
    assert too_long.status_code == 413, too_long.text
    assert "360000 characters once normalised" in too_long.json()["detail"]
    assert "at most 20000" in too_long.json()["detail"]
    assert api.get("/v1/complaints/LIGATURES").status_code == 404
    batch = api.post("/v1/complaints/batch", {"complaints": [{"text": "ﷺ" * 1200}]}, role="intake").json()
    assert [item["status"] for item in batch["items"]] == [413]
    # one that fits once normalised is accepted whole: nothing the model reads is cut
    fits = api.submit("银行乱扣费" + "ﷺ" * 1100)  # 5 + 19,800 characters once normalised
    assert not fits["truncated"]
    assert fits["masked_text"].count("صلى الله عليه وسلم") == 1100


def test_an_id_another_key_submitted_is_409_without_its_decision(api):
    mine = api.submit(api.texts.FEE, complaint_id="TAKEN-1", customer_id="U-TAKEN")
    _, other_secret = api.new_key("intake", "another intake system")
    other = {"Authorization": f"Bearer {other_secret}"}
    body = api.complaint(api.texts.FEE, complaint_id="TAKEN-1", customer_id="U-TAKEN")
    response = api.client.post("/v1/complaints", json=body, headers=other)
    assert response.status_code == 409, response.text
    assert "another key" in response.json()["detail"]
    assert set(response.json()) == {"detail"} and mine["masked_text"] not in response.text
    batch = api.client.post("/v1/complaints/batch", json={"complaints": [body]}, headers=other).json()
    assert batch["items"][0]["status"] == 409 and batch["items"][0]["decision"] is None
    # the key that submitted it still gets its idempotent retry
    again = api.post("/v1/complaints", body, role="intake")
    assert again.status_code == 200 and again.json() == mine


def test_the_last_active_admin_key_cannot_be_revoked(api):
    admins = [k for k in api.get("/v1/admin/keys", role="admin").json() if k["role"] == "admin"]
    [only] = admins
    refused = api.request("DELETE", f"/v1/admin/keys/{only['id']}", role="admin")
    assert refused.status_code == 409 and "last active admin key" in refused.json()["detail"]
    assert api.get("/v1/admin/keys", role="admin").status_code == 200  # still works
    second_id, second_secret = api.new_key("admin", "second admin")
    assert api.request("DELETE", f"/v1/admin/keys/{only['id']}", role="admin").status_code == 204
    second = {"Authorization": f"Bearer {second_secret}"}
    assert api.client.delete(f"/v1/admin/keys/{second_id}", headers=second).status_code == 409
