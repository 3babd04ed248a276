"""A session ends in a real browser when the lead logs out, when the key is revoked, and after the idle
timeout; a copy of the old cookie replayed afterwards is sent to the sign-in page, and a review form posted
with it changes nothing."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx
import pytest

pytestmark = pytest.mark.slow

ENGLISH = "My credit card annual fee was charged twice this year and nobody at the bank will refund it."
COOKIE = "triage_session"


def sign_in(page, base_url: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/review")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#key", key)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base_url}/review")


def session_cookie(page) -> dict:
    cookies = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert cookies, "no session cookie"
    return cookies[0]


def replay(page, cookie: dict) -> None:
    """Put the old cookie back, as someone who copied it would."""
    page.context.clear_cookies()
    page.context.add_cookies([cookie])


def flagged_complaint(api: httpx.Client, intake_key: str) -> str:
    response = api.post("/v1/complaints", json={"text": ENGLISH, "customer_id": "U-session"},
                        headers={"Authorization": f"Bearer {intake_key}"})
    assert response.status_code == 201 and response.json()["needs_review"], response.text
    return response.json()["complaint_id"]


def assert_sent_to_sign_in(page, base_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/review")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Freview$"))
    expect(page.locator("#key")).to_be_visible()


def test_after_logout_the_old_cookie_is_sent_to_sign_in_and_posts_nothing(live_server, api_keys, page):
    from playwright.sync_api import expect

    lead = {"Authorization": f"Bearer {api_keys['lead']}"}
    with httpx.Client(base_url=live_server, timeout=60) as api:
        complaint_id = flagged_complaint(api, api_keys["intake"])
        sign_in(page, live_server, api_keys["lead"])
        # A second tab holds the complaint's review form, with the session's CSRF token.
        form = page.context.new_page()
        form.goto(f"{live_server}/review/{complaint_id}")
        expect(form.get_by_role("button", name=re.compile("确认当前路由"))).to_be_visible()
        old = session_cookie(page)

        page.get_by_role("button", name="退出").click()
        expect(page).to_have_url(f"{live_server}/login")
        assert_sent_to_sign_in(page, live_server)

        replay(page, old)
        assert_sent_to_sign_in(page, live_server)
        replay(page, old)
        form.get_by_role("button", name=re.compile("确认当前路由")).click()
        expect(form).to_have_url(re.compile(r"/login"))
        assert api.get(f"/v1/complaints/{complaint_id}", headers=lead).json()["reviews"] == []


def test_after_the_key_is_revoked_the_old_cookie_is_sent_to_sign_in(live_server, api_keys, page):
    admin = {"Authorization": f"Bearer {api_keys['admin']}"}
    with httpx.Client(base_url=live_server, timeout=60) as api:
        created = api.post("/v1/admin/keys", json={"name": "lead Zhao", "role": "lead"}, headers=admin).json()
        sign_in(page, live_server, created["key"])
        page.goto(f"{live_server}/clusters")
        assert page.url == f"{live_server}/clusters"
        old = session_cookie(page)
        assert api.delete(f"/v1/admin/keys/{created['id']}", headers=admin).status_code == 204
    assert_sent_to_sign_in(page, live_server)
    replay(page, old)
    assert_sent_to_sign_in(page, live_server)
    # Another lead's session is untouched.
    sign_in(page, live_server, api_keys["lead"])


def test_an_idle_session_ends(service_settings, server_of, api_keys, page):
    settings = service_settings.model_copy(update={"session_idle_timeout": timedelta(seconds=3)})
    with server_of(settings) as base_url:
        sign_in(page, base_url, api_keys["lead"])
        for _ in range(4):  # in use: 4 s in all, longer than the timeout, and still signed in
            time.sleep(1)
            page.goto(f"{base_url}/review")
            assert page.url == f"{base_url}/review"
        old = session_cookie(page)
        time.sleep(4)
        assert_sent_to_sign_in(page, base_url)
        replay(page, old)
        assert_sent_to_sign_in(page, base_url)
