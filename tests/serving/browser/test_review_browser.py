"""A lead's round in a real browser: sign in, the queue, a complaint, a correction by clicking, a confirmation by
keyboard, the clusters page; the store has the reviews. Screenshots are kept as test artifacts."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.slow

ENGLISH = [
    "My credit card annual fee was charged twice this year and nobody at the bank will refund it.",
    "The mobile banking app keeps crashing when I try to log in, I cannot pay my bills on time.",
    "Your collection agent called my employer three times last week about my loan, this is harassment.",
]
CLUSTER_TEXT = "信用卡年费被重复扣收两次，要求退还多收的年费，已经打了好几次客服电话都没有解决"


def test_a_lead_reviews_complaints_in_a_real_browser(live_server, api_keys, page, artifacts):
    from playwright.sync_api import expect

    intake = {"Authorization": f"Bearer {api_keys['intake']}"}
    lead = {"Authorization": f"Bearer {api_keys['lead']}"}
    with httpx.Client(base_url=live_server, timeout=60) as api:
        decisions = []
        for i, text in enumerate(ENGLISH):
            response = api.post("/v1/complaints", json={"text": text, "customer_id": f"U-browser-{i}"}, headers=intake)
            assert response.status_code == 201, response.text
            decisions.append(response.json())
        assert all(d["needs_review"] for d in decisions), [d["review_reasons"] for d in decisions]
        grouped = [api.post("/v1/complaints", json={"text": CLUSTER_TEXT, "customer_id": f"U-group-{i}"},
                            headers=intake).json() for i in range(5)]
        assert grouped[-1]["group"]["cluster_size"] >= 3

        # Sign in: the queue sends us to the login form and back.
        page.goto(f"{live_server}/review")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.fill("#key", api_keys["lead"])
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(f"{live_server}/review")
        expect(page.get_by_role("heading", name=re.compile("审核队列"))).to_be_visible()
        for decision in decisions:
            expect(page.locator(f'a[href="/review/{decision["complaint_id"]}"]')).to_be_visible()
        page.screenshot(path=artifacts / "review-queue.png", full_page=True)

        # A complaint: open it from the queue, correct its tier by clicking.
        target = decisions[0]
        target_id = target["complaint_id"]
        page.locator(f'a[href="/review/{target_id}"]').click()
        expect(page).to_have_url(f"{live_server}/review/{target_id}")
        expect(page.locator(".text")).to_have_text(target["masked_text"])
        expect(page.locator("aside")).to_contain_text("该客户的其他投诉")
        page.screenshot(path=artifacts / "complaint-page.png", full_page=True)
        tier = next(t for t in ("red", "yellow", "green") if t != target["tier"]["label"])
        page.select_option("#tier", tier)
        page.fill("#comment", "浏览器中更正等级")
        page.get_by_role("button", name="提交更正").click()
        expect(page.locator(".flash")).to_contain_text(f"已更正 {target_id}")
        record = api.get(f"/v1/complaints/{target_id}", headers=lead).json()
        assert record["tier"] == tier
        assert [(r["action"], r["tier"], r["comment"]) for r in record["reviews"]] == [
            ("correct", tier, "浏览器中更正等级")]

        # It left the queue.
        page.get_by_role("link", name="审核队列").click()
        expect(page.locator("table.queue")).to_be_visible()
        expect(page.locator(f'a[href="/review/{target_id}"]')).to_have_count(0)

        # The keyboard: n opens the head of the queue, / focuses the comment (typing there is not a shortcut),
        # c confirms.
        page.keyboard.press("n")
        expect(page).to_have_url(re.compile(r"/review/C"))
        head_id = page.url.rsplit("/", 1)[1]
        page.keyboard.press("/")
        expect(page.locator("#comment")).to_be_focused()
        page.keyboard.type("ok c")
        expect(page).to_have_url(f"{live_server}/review/{head_id}")  # still here: "c" was typed, not pressed
        page.locator("h1").click()  # focus leaves the comment
        page.keyboard.press("c")
        expect(page.locator(".flash")).to_contain_text(f"已确认 {head_id}")
        reviews = api.get(f"/v1/complaints/{head_id}", headers=lead).json()["reviews"]
        assert [(r["action"], r["comment"]) for r in reviews] == [("confirm", "ok c")]

        # Clusters: the chart is drawn.
        page.get_by_role("link", name="群体聚类").click()
        cluster_id = grouped[-1]["group"]["cluster_id"]
        expect(page.locator(f'a[href="/clusters/{cluster_id}"]').first).to_be_visible()
        expect(page.locator("svg.chart").first).to_be_visible()
        page.screenshot(path=artifacts / "clusters.png", full_page=True)

        # Sign out.
        page.get_by_role("button", name="退出").click()
        expect(page).to_have_url(f"{live_server}/login")

    assert page.problems == []  # no console errors: nothing blocked by the CSP, no missing file
