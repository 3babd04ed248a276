"""Group alerts on the review pages: listed on the clusters page, confirmed or dismissed from the cluster page with
the form's CSRF token (refused without it), and the escalation a complaint got from its cluster's alert in its
decision history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

PLACES = ["城东支行", "高新区网点", "火车站营业厅", "大学城网点", "开发区支行", "老城区网点", "机场分理处", "滨江网点"]
PRODUCTS = ["房贷", "车贷", "储蓄卡", "理财产品", "消费贷", "存单", "基金定投", "保险"]
ISSUES = ["办理进度太慢", "工作人员态度差", "手续材料要求反复变化", "排队时间太长", "利率调整没有通知"]
FEE = "贵行信用卡中心本月起擅自将年费从200元上调到600元，事先没有任何通知，请立即退还多收的年费"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def alerted_cluster(client, headers) -> tuple[str, list[str]]:
    """Ordinary traffic, then six customers on one new matter: the cluster id and its complaints."""
    now = datetime.now(UTC)
    start, span = now - timedelta(days=40), timedelta(days=38)
    background = [{"text": f"{PLACES[i % 8]}的{PRODUCTS[(i // 8) % 8]}{ISSUES[i % 5]}", "customer_id": f"U-BG-{i}",
                   "received_at": (start + span * i / 300).isoformat()} for i in range(300)]
    assert client.post("/v1/complaints/batch", json={"complaints": background},
                       headers=headers["intake"]).status_code == 200
    decisions = [client.post("/v1/complaints", headers=headers["intake"], json={
        "text": FEE + "。" * i, "customer_id": f"U-FEE-{i}", "complaint_id": f"FEE-{i}",
        "received_at": (now - timedelta(hours=6 - 0.5 * i)).isoformat()}).json() for i in range(6)]
    assert decisions[-1]["group"]["alert"] == "emerging"
    return decisions[-1]["group"]["cluster_id"], [d["complaint_id"] for d in decisions]


def test_a_lead_sees_the_alert_and_dismisses_it_from_the_cluster_page(client, headers, api_keys):
    cluster_id, members = alerted_cluster(client, headers)
    alert_id = next(a["alert_id"] for a in client.get("/v1/clusters", headers=headers["lead"]).json()["raised"]
                    if a["cluster_id"] == cluster_id)
    form = client.get("/login")
    assert client.post("/login", data={"key": api_keys["lead"], "csrf_token": csrf_of(form.text)},
                       follow_redirects=False).status_code == 303

    listing = client.get("/clusters")
    assert listing.status_code == 200 and alert_id in listing.text and "群体预警" in listing.text

    page = client.get(f"/clusters/{cluster_id}")
    assert page.status_code == 200
    assert f'action="/clusters/{cluster_id}/alerts/{alert_id}"' in page.text and "驳回" in page.text
    target = f"/clusters/{cluster_id}/alerts/{alert_id}"
    for data in ({"action": "dismiss"}, {"action": "dismiss", "csrf_token": "forged"}):
        refused = client.post(target, data=data, follow_redirects=False)
        assert refused.status_code == 403
    assert client.get("/v1/clusters", headers=headers["lead"]).json()["raised"][0]["status"] == "open"
    wrong = client.post(target, data={"action": "ignore", "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert wrong.status_code == 422

    done = client.post(target, data={"action": "dismiss", "comment": "<b>两件事</b>", "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/clusters/{cluster_id}"
    after = client.get(f"/clusters/{cluster_id}")
    assert "已驳回" in after.text and "&lt;b&gt;两件事&lt;/b&gt;" in after.text and "<b>两件事" not in after.text
    assert f'action="/clusters/{cluster_id}/alerts/{alert_id}"' not in after.text  # reviewed: no buttons
    [alert] = [a for a in client.get("/v1/clusters", headers=headers["lead"]).json()["raised"]
               if a["alert_id"] == alert_id]
    assert alert["status"] == "dismissed" and alert["reviews"][0]["reviewer"] == "test lead"

    # the complaint page's history shows both decisions the alert made, with their reasons
    history = client.get(f"/review/{members[0]}").text
    assert f"group alert {cluster_id}" in history and f"group alert {cluster_id} dismissed" in history
