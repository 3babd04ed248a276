"""GET /v1/clusters and GET /v1/stats."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]


def _background(api, now: datetime, n: int = 300) -> None:
    """Ordinary traffic over the forty days before (one customer each, varied matters): the group detector
    learns what is usual from it; on an empty service nothing is distinctive yet, so nothing alerts."""
    start, span = now - timedelta(days=40), timedelta(days=38)
    complaints = [api.complaint(f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}", customer_id=f"U-BG-{i}",
                                received_at=(start + span * i / n).isoformat()) for i in range(n)]
    response = api.post("/v1/complaints/batch", {"complaints": complaints}, role="intake")
    assert response.status_code == 200 and response.json()["accepted"] == n, response.text


def test_near_identical_complaints_of_distinct_customers_form_a_cluster(api):
    now = datetime.now(UTC)
    _background(api, now)
    unrelated = api.submit(api.texts.COLLECTION, customer_id="U-ALONE")
    members = [api.submit(api.texts.FEE + "。" * i, customer_id=f"U-GROUP-{i}", channel="hotline", product="信用卡",
                          received_at=(now - timedelta(hours=6 - i)).isoformat()) for i in range(6)]
    ids = [d["complaint_id"] for d in members]
    cluster_ids = {d["group"]["cluster_id"] for d in members}
    assert len(cluster_ids) == 1 and None not in cluster_ids, [d["group"] for d in members]
    cluster_id = cluster_ids.pop()

    response = api.get("/v1/clusters")
    assert response.status_code == 200, response.text
    active = {c["cluster_id"]: c for c in response.json()["active"]}
    assert cluster_id in active
    cluster = active[cluster_id]
    assert cluster["members"] == ids  # in arrival order
    assert (cluster["size"], cluster["distinct_customers"]) == (6, 6)
    assert unrelated["complaint_id"] not in cluster["members"]
    assert "年费" in cluster["label"]
    # five distinct customers within hours naming what nobody named before: the policy's "emerging" group
    # complaint, kept among the alerts with the terms that make it one matter
    assert members[-1]["group"]["alert"] == "emerging" and cluster["alert"] == "emerging"
    assert "年费" in [t["term"] for t in cluster["terms"]] and all(t["growth"] >= 3 for t in cluster["terms"])
    assert members[-1]["tier"]["label"] == "red"  # R-GROUP
    assert any(r["rule"] == "R-GROUP" for r in members[-1]["tier"]["reasons"])
    alerts = {c["cluster_id"]: c for c in response.json()["alerts"]}
    assert cluster_id in alerts and set(alerts[cluster_id]["members"]) == set(ids)

    assert api.record(ids[-1])["cluster_id"] == cluster_id
    assert api.record(ids[-1])["group_alert"] == "emerging"


def test_no_cluster_without_similar_complaints(api):
    api.submit(api.texts.COLLECTION)
    api.submit(api.texts.APP_FAILURE)
    body = api.get("/v1/clusters").json()
    assert body == {"active": [], "alerts": [], "raised": []}


def _window(now: datetime) -> dict[str, str]:
    return {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


def test_stats_count_what_was_posted(api):
    now = datetime.now(UTC)
    t = api.texts
    posted = [
        api.submit(t.FEE, customer_id="U-REPEATER", channel="hotline", product="信用卡"),
        api.submit(t.COLLECTION, channel="app", amount=800),
        api.submit(t.APP_FAILURE, channel="app"),
        api.submit(t.DISTRESS, channel="web"),
        api.submit(t.ENGLISH, channel=None),
        api.submit(t.TERSE, channel="wechat"),
    ]
    repeat = api.submit(t.FEE_AGAIN, customer_id="U-REPEATER", channel="hotline", product="信用卡")
    assert repeat["repeat"]["is_repeat"], repeat["repeat"]  # the same matter from the same customer
    posted.append(repeat)
    api.submit(t.FEE, received_at="2024-01-15T10:00:00+08:00")  # outside the window

    stats = api.get("/v1/stats", **_window(now))
    assert stats.status_code == 200, stats.text
    figures = stats.json()
    assert figures["complaints"] == len(posted) == 7
    assert figures["by_category"] == dict(Counter(d["category"] for d in posted))
    assert figures["by_channel"] == dict(Counter(d["channel"] or "unknown" for d in posted))
    assert figures["by_tier"] == {tier: sum(d["tier"]["label"] == tier for d in posted)
                                  for tier in ("red", "yellow", "green")}
    assert figures["by_department"] == dict(Counter(d["department"] for d in posted))
    repeats = sum(d["repeat"]["is_repeat"] for d in posted)
    assert figures["repeat_share"] > 0
    assert figures["repeat_share"] == round(repeats / len(posted), 4)
    needed = sum(d["needs_review"] for d in posted)
    assert figures["review"] == {"needed": needed, "reviewed": 0, "corrected": 0, "open": needed}
    assert datetime.fromisoformat(figures["from"]) == now - timedelta(days=1)

    # a correction moves the counts: the figures are of the routing as it is now
    target = next(d for d in posted if d["needs_review"])
    api.post(f"/v1/review/{target['complaint_id']}",
             {"action": "correct", "category": "信息安全", "department": "风险管理部", "tier": "red"})
    after = api.get("/v1/stats", **_window(now)).json()
    expected_categories = Counter(d["category"] for d in posted)
    expected_categories[target["category"]] -= 1
    expected_categories["信息安全"] += 1
    assert after["by_category"] == {k: v for k, v in expected_categories.items() if v}
    assert after["by_tier"]["red"] == figures["by_tier"]["red"] + (target["tier"]["label"] != "red")
    assert after["review"] == {"needed": needed, "reviewed": 1, "corrected": 1, "open": needed - 1}

    # the default window: from the start of this month (bank time) to now
    assert api.get("/v1/stats").json()["complaints"] == 7
    empty = api.get("/v1/stats", **{"from": "2020-01-01T00:00:00+08:00", "to": "2020-02-01T00:00:00+08:00"}).json()
    assert (empty["complaints"], empty["repeat_share"], empty["by_category"]) == (0, 0.0, {})


def test_stats_read_a_time_without_a_zone_as_bank_time(api):
    api.submit(api.texts.FEE, received_at="2025-03-01T00:30:00+08:00")  # 2025-02-28 16:30 UTC
    bank_day = api.get("/v1/stats", **{"from": "2025-03-01T00:00:00", "to": "2025-03-02T00:00:00"}).json()
    assert bank_day["complaints"] == 1
    assert datetime.fromisoformat(bank_day["from"]) == datetime.fromisoformat("2025-03-01T00:00:00+08:00")
    utc_day = api.get("/v1/stats", **{"from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z"}).json()
    assert utc_day["complaints"] == 0


def test_stats_refuse_an_empty_or_backwards_window(api):
    for window in ({"from": "2025-03-02T00:00:00+08:00", "to": "2025-03-01T00:00:00+08:00"},
                   {"from": "2025-03-01T00:00:00+08:00", "to": "2025-03-01T00:00:00+08:00"},
                   {"from": "2025-03-01T08:00:00+08:00", "to": "2025-03-01T00:00:00Z"},  # the same instant
                   {"to": "2020-01-01T00:00:00+08:00"}):  # before the default start, this month
        response = api.get("/v1/stats", **window)
        assert response.status_code == 400, (window, response.text)
        assert "'to' must be after 'from'" in response.json()["detail"]
    for bad in ({"from": "last month"}, {"to": "2025-13-01"}):
        response = api.get("/v1/stats", **bad)
        assert response.status_code == 422, (bad, response.text)
        assert next(iter(bad)) in str(response.json()["detail"])


def test_group_share_counts_complaints_in_an_alerted_cluster(api):
    now = datetime.now(UTC)
    _background(api, now)
    members = [api.submit(api.texts.FEE + "。" * i, customer_id=f"U-G-{i}",
                          received_at=(now - timedelta(hours=6 - i)).isoformat()) for i in range(6)]
    api.submit(api.texts.COLLECTION)
    assert sum(d["group"]["alert"] is not None for d in members) >= 1
    # the complaints received before the alert are in the alerted cluster too (escalated with it): all six
    assert {api.record(d["complaint_id"])["group_alert"] for d in members} == {"emerging"}
    figures = api.get("/v1/stats", **_window(now)).json()
    assert figures["group_share"] == round(6 / 7, 4)
