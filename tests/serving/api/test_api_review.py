"""GET /v1/review (the queue) and POST /v1/review/{id} (confirm or correct), on texts the real model flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def flagged(api) -> list[dict]:
    """Complaints the model sends to review (checked), two confident ones that it does not, all from distinct
    customers, received now; in submission order."""
    t = api.texts
    decisions = [api.submit_flagged(text, **extra) for text, extra in (
        (t.ENGLISH, {"channel": "app"}),
        (t.DISTRESS, {"channel": "hotline"}),
        (t.TERSE, {"channel": "web"}),
        (t.ENGLISH_FRAUD, {"amount": 50000, "channel": "hotline"}),
        (t.DISTRESS_MIXED, {"channel": "wechat"}),
        (t.ENGLISH_APP, {"channel": "app"}),
        (t.TERSE_2, {"channel": "branch"}),
    )]
    for text in (t.APP_FAILURE, t.COLLECTION):
        decision = api.submit(text)
        assert not decision["needs_review"], f"the model now flags {text!r}: {decision['review_reasons']}"
        decisions.append(decision)
    return decisions


def test_the_queue_is_red_first_then_the_least_confident(api, flagged, expected_queue):
    order = expected_queue(flagged)
    tiers = [d["tier"]["label"] for d in flagged if d["needs_review"]]
    # the data's premise: a red one and several of one tier, so both sort keys are exercised
    assert "red" in tiers and len(set(tiers)) >= 2, tiers
    assert max(tiers.count(tier) for tier in set(tiers)) >= 2, tiers

    queue = api.queue(limit=200)
    assert queue["total"] == len(order) == 7
    assert [item["complaint_id"] for item in queue["items"]] == order
    ranks = [("red", "yellow", "green").index(item["tier"]) for item in queue["items"]]
    assert ranks == sorted(ranks)
    for tier in set(tiers):
        confidences = [item["confidence"] for item in queue["items"] if item["tier"] == tier]
        assert confidences == sorted(confidences)
    assert all(item["needs_review"] and item["reviewed_at"] is None for item in queue["items"])
    confident = {d["complaint_id"] for d in flagged if not d["needs_review"]}
    assert confident.isdisjoint(item["complaint_id"] for item in queue["items"])


def test_the_queue_filters_by_tier_category_and_department(api, flagged, expected_queue):
    for field, values in (("tier", {d["tier"]["label"] for d in flagged}),
                          ("category", {d["category"] for d in flagged}),
                          ("department", {d["department"] for d in flagged})):
        for value in values:
            def matches(d, field=field, value=value):
                return (d["tier"]["label"] if field == "tier" else d[field]) == value
            expected = expected_queue([d for d in flagged if matches(d)])
            page = api.queue(limit=200, **{field: value})
            assert [i["complaint_id"] for i in page["items"]] == expected, (field, value)
            assert page["total"] == len(expected)
    assert api.queue(category="资金安全", department="客服中心")["total"] == len(  # filters combine
        [d for d in flagged if d["needs_review"] and d["category"] == "资金安全" and d["department"] == "客服中心"])
    assert api.queue(category="no such category")["total"] == 0


def test_the_queue_filters_by_age(api, flagged):
    now = datetime.now(UTC)
    old = api.submit_flagged(api.texts.ENGLISH, received_at=(now - timedelta(hours=30)).isoformat())
    recent = api.submit_flagged(api.texts.ENGLISH_APP, received_at=(now - timedelta(hours=2)).isoformat())
    received_now = {d["complaint_id"] for d in flagged if d["needs_review"]}

    assert api.queue_ids(min_age_hours=24) == [old["complaint_id"]]
    assert set(api.queue_ids(max_age_hours=5)) == received_now | {recent["complaint_id"]}
    assert api.queue_ids(min_age_hours=1, max_age_hours=5) == [recent["complaint_id"]]
    assert set(api.queue_ids(min_age_hours=1)) == {old["complaint_id"], recent["complaint_id"]}
    assert api.queue_ids(min_age_hours=24, max_age_hours=5) == []
    assert len(api.queue_ids(min_age_hours=0)) == len(received_now) + 2


def test_the_queue_pages(api, flagged, expected_queue):
    order = expected_queue(flagged)
    pages = []
    for offset in range(0, len(order) + 3, 3):
        page = api.queue(limit=3, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (len(order), 3, offset)
        pages.extend(item["complaint_id"] for item in page["items"])
    assert pages == order
    assert api.queue(limit=3, offset=100)["items"] == []


@pytest.mark.parametrize("params", [{"tier": "purple"}, {"min_age_hours": -1}, {"max_age_hours": "old"},
                                    {"limit": 0}, {"limit": 201}, {"offset": -1}])
def test_bad_queue_parameters_are_422(api, params):
    response = api.get("/v1/review", **params)
    assert response.status_code == 422, response.text
    assert next(iter(params)) in str(response.json()["detail"])


def test_a_confirmation_records_who_and_when_and_leaves_the_queue(api, flagged):
    target = next(d for d in flagged if d["needs_review"])
    before = api.queue()["total"]
    started = datetime.now(UTC)

    response = api.post(f"/v1/review/{target['complaint_id']}",
                        {"action": "confirm", "comment": "  routing is right  "}, role="lead")
    assert response.status_code == 200, response.text
    review = response.json()
    routing = {"category": target["category"], "tier": target["tier"]["label"], "department": target["department"]}
    assert review["reviewer"] == "test lead"  # the key's name
    assert review["action"] == "confirm" and review["comment"] == "routing is right"
    assert {k: review[k] for k in routing} == routing and review["previous"] == routing
    reviewed_at = datetime.fromisoformat(review["reviewed_at"])
    assert started - timedelta(seconds=1) <= reviewed_at <= datetime.now(UTC) + timedelta(seconds=1)

    assert target["complaint_id"] not in api.queue_ids()
    assert api.queue()["total"] == before - 1
    record = api.record(target["complaint_id"])
    assert record["reviews"] == [review]
    assert datetime.fromisoformat(record["reviewed_at"]) == reviewed_at
    assert {k: record[k] for k in routing} == routing
    assert record["decision"] == target  # the model's decision is kept as it was


def test_a_correction_changes_the_routing_and_leaves_the_queue(api, flagged):
    target, partial = [d for d in flagged if d["needs_review"]][:2]
    correction = {"action": "correct", "category": "资金安全", "tier": "red", "department": "风险管理部",
                  "comment": "盗刷，应由风险管理部处理"}
    response = api.post(f"/v1/review/{target['complaint_id']}", correction, role="admin")
    assert response.status_code == 200, response.text
    review = response.json()
    assert review["reviewer"] == "test admin" and review["action"] == "correct"
    assert (review["category"], review["tier"], review["department"]) == ("资金安全", "red", "风险管理部")
    assert review["previous"] == {"category": target["category"], "tier": target["tier"]["label"],
                                  "department": target["department"]}
    assert review["comment"] == correction["comment"]

    record = api.record(target["complaint_id"])
    assert (record["category"], record["tier"], record["department"]) == ("资金安全", "red", "风险管理部")
    assert record["reviewed_at"] is not None and record["reviews"] == [review]
    assert target["complaint_id"] not in api.queue_ids()

    # only the tier (to one it does not have: a correction must change something); the rest of the routing
    # stays; a second review starts from the first
    tier = "yellow" if partial["tier"]["label"] != "yellow" else "green"
    department = "消费者权益保护部" if partial["department"] != "消费者权益保护部" else "客服中心"
    first = api.post(f"/v1/review/{partial['complaint_id']}", {"action": "correct", "tier": tier}).json()
    assert (first["category"], first["tier"], first["department"]) == \
        (partial["category"], tier, partial["department"])
    second = api.post(f"/v1/review/{partial['complaint_id']}",
                      {"action": "correct", "department": department, "comment": "转消保"}).json()
    assert second["previous"] == {"category": partial["category"], "tier": tier,
                                  "department": partial["department"]}
    assert (second["tier"], second["department"]) == (tier, department)
    assert [r["action"] for r in api.record(partial["complaint_id"])["reviews"]] == ["correct", "correct"]
    assert partial["complaint_id"] not in api.queue_ids()


def test_bad_reviews_are_refused_and_change_nothing(api, flagged):
    target = next(d for d in flagged if d["needs_review"])["complaint_id"]
    path = f"/v1/review/{target}"
    for body, named in (
        ({"action": "correct", "category": "不存在的类别"}, "不存在的类别"),
        ({"action": "correct", "department": "不存在的部门"}, "不存在的部门"),
        ({"action": "correct"}, "at least one of category, tier, department"),
        ({"action": "correct", "comment": "no field"}, "at least one of category, tier, department"),
        ({"action": "confirm", "category": "资金安全"}, "correct"),
        ({"action": "approve"}, "action"),
        ({"comment": "no action"}, "action"),
        ({"action": "correct", "tier": "purple"}, "tier"),
        ({"action": "confirm", "comment": "x" * 2001}, "comment"),
        ({"action": "confirm", "reviewer": "someone else"}, "reviewer"),
    ):
        response = api.post(path, body, role="lead")
        assert response.status_code == 422, (body, response.text)
        assert named in str(response.json()["detail"]), (body, response.text)
    unknown_category = api.post(path, {"action": "correct", "category": "不存在的类别"}).json()["detail"]
    assert unknown_category[0]["loc"] == ["body", "category"]
    assert "资金安全" in unknown_category[0]["msg"]  # says which categories there are

    assert api.record(target)["reviews"] == []
    assert target in api.queue_ids()

    missing = api.post("/v1/review/NO-SUCH-ID", {"action": "confirm"}, role="lead")
    assert missing.status_code == 404 and "NO-SUCH-ID" in missing.json()["detail"]
    assert api.post("/v1/review/NO-SUCH-ID", {"action": "correct", "tier": "red"}).status_code == 404
