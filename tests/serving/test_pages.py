"""The review pages through the whole app (TestClient, the real model): sign-in, CSRF, the queue, a complaint,
confirm and correct, escaping, clusters."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from serving.pages import growth_chart

# English texts: the model was trained on Chinese, so each needs review (reason `language`).
ENGLISH = [
    "My credit card annual fee was charged twice this year and nobody at the bank will refund it.",
    "The mobile banking app keeps crashing when I try to log in, I cannot pay my bills on time.",
    "Your collection agent called my employer three times last week about my loan, this is harassment.",
]
PHONE = "13812345678"
ID_CARD = "110101199003078515"  # a valid GB 11643 check digit: the masker recognises it
CLUSTER_TEXT = "信用卡年费被重复扣收两次，要求退还多收的年费，已经打了好几次客服电话都没有解决"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client, secret: str):
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"key": secret, "csrf_token": csrf_of(form.text)}, follow_redirects=False)


def submit(client, headers, text: str, customer_id: str | None = None, **fields) -> dict:
    response = client.post("/v1/complaints", json={"text": text, "customer_id": customer_id, **fields},
                           headers=headers["intake"])
    assert response.status_code == 201, response.text
    return response.json()


def needing_review(client, headers, text: str = ENGLISH[0], customer_id: str = "U-page-1") -> dict:
    decision = submit(client, headers, text, customer_id)
    assert decision["needs_review"], decision["review_reasons"]
    return decision


def session_payload(client) -> dict:
    """The session cookie's data (Starlette signs it, it does not encrypt it)."""
    cookie = client.cookies.get("triage_session")
    assert cookie
    data = cookie.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))


@pytest.fixture
def lead(client, api_keys):
    """The client, signed in as the lead."""
    response = sign_in(client, api_keys["lead"])
    assert response.status_code == 303
    return client


# ---- sign-in -------------------------------------------------------------------------------------------
def test_lead_signs_in_and_the_cookie_keeps_a_session_token_not_the_key(client, api_keys):
    response = sign_in(client, api_keys["lead"])
    assert response.status_code == 303
    assert response.headers["location"] == "/review"
    session = session_payload(client)
    assert set(session) == {"sid", "csrf"} and len(session["sid"]) >= 43  # 256 random bits
    assert api_keys["lead"] not in json.dumps(session)
    page = client.get("/review")
    assert page.status_code == 200
    assert "审核队列" in page.text and "test lead" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_admin_may_sign_in(client, api_keys):
    assert sign_in(client, api_keys["admin"]).headers["location"] == "/review"


def test_intake_key_is_refused_with_a_chinese_message(client, api_keys):
    response = sign_in(client, api_keys["intake"])
    assert response.status_code == 403
    assert "只有组长（lead）或管理员（admin）可以登录" in response.text
    assert "sid" not in session_payload(client)
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_wrong_key_is_refused(client):
    response = sign_in(client, "trk_not-a-key")
    assert response.status_code == 401
    assert "密钥无效" in response.text
    assert client.get("/review", follow_redirects=False).headers["location"].startswith("/login")


@pytest.mark.parametrize("path", ["/review", "/review/C1", "/clusters", "/clusters/G000001"])
def test_pages_need_a_session(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_sign_in_returns_to_the_page_asked_for_and_never_elsewhere(client, api_keys):
    assert client.get("/review/C1", follow_redirects=False).headers["location"] == "/login?next=%2Freview%2FC1"
    form = client.get("/login?next=/review/C1")
    assert 'name="next" value="/review/C1"' in form.text
    response = client.post("/login", data={"key": api_keys["lead"], "csrf_token": csrf_of(form.text),
                                           "next": "/review/C1"}, follow_redirects=False)
    assert response.headers["location"] == "/review/C1"
    client.cookies.clear()
    form = client.get("/login")
    response = client.post("/login", data={"key": api_keys["lead"], "csrf_token": csrf_of(form.text),
                                           "next": "//evil.example/review"}, follow_redirects=False)
    assert response.headers["location"] == "/review"


def test_a_revoked_key_is_signed_out(lead, client, headers):
    keys = client.get("/v1/admin/keys", headers=headers["admin"]).json()
    key_id = next(k["id"] for k in keys if k["name"] == "test lead")
    assert client.get("/review").status_code == 200
    assert client.delete(f"/v1/admin/keys/{key_id}", headers=headers["admin"]).status_code == 204
    response = client.get("/review", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_logout_ends_the_session_and_a_replayed_cookie_opens_nothing(lead, client, headers):
    decision = needing_review(client, headers)
    complaint_id = decision["complaint_id"]
    token = csrf_of(client.get(f"/review/{complaint_id}").text)
    old_cookie = client.cookies.get("triage_session")
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/review", follow_redirects=False).status_code == 303

    # The cookie as it was before logout, replayed: its signature is still good, its session is gone.
    client.cookies.clear()
    client.cookies.set("triage_session", old_cookie)
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    client.cookies.set("triage_session", old_cookie)
    review = client.post(f"/review/{complaint_id}", data={"action": "confirm", "csrf_token": token},
                         follow_redirects=False)
    assert review.status_code == 303 and review.headers["location"].startswith("/login")
    assert client.get(f"/v1/complaints/{complaint_id}", headers=headers["lead"]).json()["reviews"] == []


def test_an_idle_session_ends(service_settings, api_keys, trained_model):
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.model_source import LoadedModel

    settings = service_settings.model_copy(update={"session_idle_timeout": timedelta(seconds=3)})
    with TestClient(create_app(settings, model=LoadedModel(trained_model, "test session model"))) as client:
        assert sign_in(client, api_keys["lead"]).status_code == 303
        for _ in range(5):  # used every second: longer than the timeout in all, and still signed in
            assert client.get("/review", follow_redirects=False).status_code == 200
            time.sleep(1)
        time.sleep(4)
        response = client.get("/review", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


# ---- CSRF ----------------------------------------------------------------------------------------------
def test_login_without_or_with_a_wrong_csrf_token_is_refused(client, api_keys):
    client.get("/login")
    assert client.post("/login", data={"key": api_keys["lead"]}, follow_redirects=False).status_code == 403
    client.get("/login")
    response = client.post("/login", data={"key": api_keys["lead"], "csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 403
    assert "sid" not in session_payload(client)


def test_login_without_a_form_shown_first_is_refused(client, api_keys):
    """No token in the session at all (a cross-site POST from a fresh browser)."""
    response = client.post("/login", data={"key": api_keys["lead"], "csrf_token": ""}, follow_redirects=False)
    assert response.status_code == 403


def test_review_and_logout_without_or_with_a_wrong_csrf_token_are_refused(lead, client, headers):
    decision = needing_review(client, headers)
    complaint_id = decision["complaint_id"]
    for data in ({"action": "confirm"}, {"action": "confirm", "csrf_token": "forged"}):
        response = client.post(f"/review/{complaint_id}", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert client.get(f"/v1/complaints/{complaint_id}", headers=headers["lead"]).json()["reviews"] == []
    assert client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    assert client.get("/review").status_code == 200  # still signed in


# ---- the queue -----------------------------------------------------------------------------------------
def test_queue_lists_a_complaint_that_needs_review(lead, client, headers):
    decision = needing_review(client, headers)
    assert any(reason.startswith("language") for reason in decision["review_reasons"])
    page = client.get("/review")
    assert page.status_code == 200
    assert f'href="/review/{decision["complaint_id"]}"' in page.text
    assert decision["category"] in page.text and decision["department"] in page.text
    assert "共 1 件待审核" in page.text


def test_queue_filters_and_pages(lead, client, headers):
    decisions = [needing_review(client, headers, text, f"U-{i}") for i, text in enumerate(ENGLISH)]
    page = client.get("/review?limit=1")
    assert page.text.count('<tr class="row-') == 1
    assert "下一页" in page.text and "上一页" not in page.text
    second = client.get("/review?limit=1&offset=1")
    assert "上一页" in second.text
    tier = decisions[0]["tier"]["label"]
    filtered = client.get(f"/review?tier={tier}&min_age_hours=&max_age_hours=")
    assert filtered.status_code == 200
    expected = {d["complaint_id"] for d in decisions if d["tier"]["label"] == tier}
    shown = set(re.findall(r'href="/review/(C[^"]+)"', filtered.text))
    assert shown == expected
    old = client.get("/review?min_age_hours=48")
    assert "没有符合筛选条件的待审核投诉" in old.text
    bad = client.get("/review?min_age_hours=abc&limit=x")
    assert bad.status_code == 200 and "最短等待必须是 0 到 1,000,000 之间的小时数" in bad.text


# ---- a complaint ---------------------------------------------------------------------------------------
def test_complaint_page_shows_the_masked_text_only(lead, client, headers):
    text = f"信用卡被盗刷了两万元，我的电话{PHONE}，身份证{ID_CARD}，请尽快处理并回电"
    decision = submit(client, headers, text, customer_id=PHONE)
    page = client.get(f"/review/{decision['complaint_id']}")
    assert page.status_code == 200
    assert decision["masked_text"] in page.text
    assert "[手机号]" in page.text and "[身份证号]" in page.text
    assert PHONE not in page.text and ID_CARD not in page.text  # neither in the text nor as the customer id
    for item in decision["top_categories"][:3]:
        assert item["label"] in page.text
    for reason in decision["tier"]["reasons"]:
        assert reason["rule"] in page.text
    assert "答复时限" in page.text


def test_complaint_page_links_the_customers_other_complaints(lead, client, headers):
    first = needing_review(client, headers, ENGLISH[0], "U-same")
    second = needing_review(client, headers, ENGLISH[1], "U-same")
    page = client.get(f"/review/{second['complaint_id']}")
    assert f'href="/review/{first["complaint_id"]}"' in page.text
    assert "该客户的其他投诉" in page.text


def test_unknown_complaint_is_404(lead, client):
    response = client.get("/review/C-nope")
    assert response.status_code == 404 and "未找到投诉" in response.text


def test_correction_through_the_form_is_stored_and_leaves_the_queue(lead, client, headers):
    decision = needing_review(client, headers)
    other = needing_review(client, headers, ENGLISH[1], "U-page-2")
    complaint_id = decision["complaint_id"]
    page = client.get(f"/review/{complaint_id}")
    tier = next(t for t in ("red", "yellow", "green") if t != decision["tier"]["label"])
    response = client.post(f"/review/{complaint_id}", follow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "action": "correct", "category": decision["category"], "tier": tier,
        "department": decision["department"], "comment": "等级偏低"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/review/{other['complaint_id']}"  # the next in the queue
    record = client.get(f"/v1/complaints/{complaint_id}", headers=headers["lead"]).json()
    assert record["tier"] == tier and record["reviewed_at"] is not None
    [review] = record["reviews"]
    assert review["action"] == "correct" and review["tier"] == tier and review["reviewer"] == "test lead"
    assert review["category"] == decision["category"] and review["comment"] == "等级偏低"
    following = client.get(response.headers["location"])
    assert f"已更正 {complaint_id}" in following.text  # the flash message, once
    assert "已更正" not in client.get("/review").text
    assert f'href="/review/{complaint_id}"' not in client.get("/review").text


def test_confirm_through_the_form_and_back_to_an_empty_queue(lead, client, headers):
    decision = needing_review(client, headers)
    page = client.get(f"/review/{decision['complaint_id']}")
    response = client.post(f"/review/{decision['complaint_id']}", follow_redirects=False,
                           data={"csrf_token": csrf_of(page.text), "action": "confirm", "category": "其他"})
    assert response.status_code == 303 and response.headers["location"] == "/review"
    [review] = client.get(f"/v1/complaints/{decision['complaint_id']}", headers=headers["lead"]).json()["reviews"]
    assert review["action"] == "confirm" and review["category"] == decision["category"]
    queue = client.get("/review")
    assert "队列已清空" in queue.text and f"已确认 {decision['complaint_id']}" in queue.text


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "更正需要改变类别、等级或部门中的至少一项"),
    ({"category": "不存在的类别"}, "is unknown"),
    ({"department": "不存在的部门"}, "is unknown"),
    ({"tier": "purple"}, "Input should be"),
])
def test_invalid_corrections_are_refused_on_the_page(lead, client, headers, fields, message):
    decision = needing_review(client, headers)
    complaint_id = decision["complaint_id"]
    page = client.get(f"/review/{complaint_id}")
    data = {"csrf_token": csrf_of(page.text), "action": "correct", "category": decision["category"],
            "tier": decision["tier"]["label"], "department": decision["department"], "comment": "我的意见",
            **fields}
    response = client.post(f"/review/{complaint_id}", data=data, follow_redirects=False)
    assert response.status_code == 422
    assert message in response.text
    assert "我的意见" in response.text  # the comment is kept
    assert client.get(f"/v1/complaints/{complaint_id}", headers=headers["lead"]).json()["reviews"] == []


def test_user_data_is_escaped(client, headers):
    reviewer = '<img src=x onerror="alert(3)">组长'
    created = client.post("/v1/admin/keys", json={"name": reviewer, "role": "lead"}, headers=headers["admin"])
    assert sign_in(client, created.json()["key"]).status_code == 303
    decision = needing_review(client, headers, "<script>alert(1)</script> my card was charged twice, refund it",
                              customer_id="<b>cust<b>")
    complaint_id = decision["complaint_id"]
    page = client.get(f"/review/{complaint_id}")
    comment = "<script>alert(2)</script><i>斜体</i>"
    client.post(f"/review/{complaint_id}", data={"csrf_token": csrf_of(page.text), "action": "confirm",
                                                 "comment": comment})
    page = client.get(f"/review/{complaint_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;&lt;i&gt;斜体&lt;/i&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(3)&#34;&gt;组长" in page
    assert "&lt;b&gt;cust&lt;b&gt;" in page
    for raw in ("<script>alert", "<img src=x", "<i>斜体", "<b>cust"):
        assert raw not in page


def test_hostile_ids_are_refused_or_escaped(lead, client, headers):
    """Complaint ids are restricted to URL-safe characters; a customer id may hold markup, shown escaped."""
    refused = client.post("/v1/complaints", headers=headers["intake"],
                          json={"text": ENGLISH[0], "complaint_id": 'C"><img src=x>?#..'})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "complaint_id"]
    customer = '"><b>alert(4)<b>'
    response = client.post("/v1/complaints", headers=headers["intake"],
                           json={"text": ENGLISH[0], "complaint_id": "C-hostile.1:a", "customer_id": customer})
    assert response.status_code == 201 and response.json()["needs_review"]
    page = client.get("/review/C-hostile.1:a")
    assert page.status_code == 200
    assert "&#34;&gt;&lt;b&gt;alert(4)&lt;b&gt;" in page.text and "<b>alert(4)" not in page.text
    review = client.post("/review/C-hostile.1:a", data={"csrf_token": csrf_of(page.text), "action": "confirm"},
                         follow_redirects=False)
    assert review.status_code == 303
    record = client.get("/v1/complaints/C-hostile.1:a", headers=headers["lead"]).json()
    assert record["reviews"][0]["action"] == "confirm"


# ---- clusters ------------------------------------------------------------------------------------------
def test_clusters_page_draws_the_cluster(lead, client, headers):
    decisions = [submit(client, headers, CLUSTER_TEXT, f"U-group-{i}") for i in range(5)]
    cluster_id = decisions[-1]["group"]["cluster_id"]
    assert cluster_id and decisions[-1]["group"]["cluster_size"] >= 3, decisions[-1]["group"]
    page = client.get("/clusters")
    assert page.status_code == 200
    assert f'href="/clusters/{cluster_id}"' in page.text
    assert '<svg class="chart"' in page.text and "<polyline points=" in page.text
    detail = client.get(f"/clusters/{cluster_id}")
    assert detail.status_code == 200 and '<svg class="chart"' in detail.text
    for decision in decisions:
        assert f'href="/review/{decision["complaint_id"]}"' in detail.text
    complaint = client.get(f"/review/{decisions[-1]['complaint_id']}")
    assert f'href="/clusters/{cluster_id}"' in complaint.text
    assert client.get("/clusters/G999999").status_code == 404


def test_growth_chart_is_cumulative_and_numbers_only():
    from datetime import UTC, datetime, timedelta

    start = datetime(2025, 9, 1, tzinfo=UTC)
    chart = growth_chart([start + timedelta(hours=h) for h in (0, 1, 5)], width=100, height=20, pad=0)
    assert chart is not None and chart.count == 3
    points = [tuple(map(float, p.split(","))) for p in chart.points.split()]
    assert points[0] == (0.0, 20.0) and points[-1] == (100.0, 0.0)
    assert [y for _, y in points] == sorted((y for _, y in points), reverse=True)  # never shrinks
    assert re.fullmatch(r"[0-9., ]+", chart.points)
    assert growth_chart([]) is None
    one = growth_chart([start])
    assert one is not None and one.points  # one member: no division by zero


def test_static_files(client):
    css = client.get("/static/review.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/review.js").status_code == 200
    assert client.get("/static/..%2fpages.py").status_code == 404
    assert client.get("/static/pages.py").status_code == 404


def test_templates_autoescape_and_never_mark_data_safe():
    from serving.pages import TEMPLATES, templates

    assert templates.env.autoescape is True
    assert list(TEMPLATES.glob("*.html"))
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text(encoding="utf-8")
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, template.name
        assert "style=" not in source and "<script>" not in source, template.name  # the CSP allows neither
