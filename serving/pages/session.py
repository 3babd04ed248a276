"""The review pages' session: sign-in and sign-out against the store's server-side sessions, the CSRF check of
every form, redirects to the sign-in page that come back only to these pages, and one-time messages.

The signed cookie carries a random session token (the store keeps only its hash, the key it was opened with and
when it was last used: `serving/store/sessions.py`), the CSRF token and a one-time message; never the key, its
secret or its id. Whether someone is signed in is asked of the store on every request (`serving.deps`), so
logout, revoking the key and expiry end a session at once, whatever copy of the cookie is replayed."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from serving.config import ServiceSettings
from serving.deps import SESSION_TOKEN
from serving.store import Store


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, token: str) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and bool(token) and secrets.compare_digest(str(expected), token)


def sign_in(request: Request, store: Store, key_id: int, settings: ServiceSettings) -> None:
    """A fresh server-side session for this key (and a fresh CSRF token); a session this browser had ends."""
    sign_out(request, store)
    token = store.open_session(key_id, settings.session_idle_timeout, settings.session_lifetime)
    request.session.update({SESSION_TOKEN: token, "csrf": secrets.token_urlsafe(32)})


def sign_out(request: Request, store: Store) -> None:
    """Ends this browser's session in the store (a replayed copy of the cookie opens nothing) and clears the
    cookie."""
    token = request.session.get(SESSION_TOKEN)
    if isinstance(token, str):
        store.end_session(token)
    request.session.clear()


def local_path(target: str | None) -> str | None:
    """`target` when it is a path of these pages (no open redirect), else None."""
    if not target or not target.startswith(("/review", "/clusters")) or "//" in target or "\\" in target:
        return None
    return target


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = f"?{urlencode({'next': target})}" if local_path(target) else ""
    return RedirectResponse(f"/login{query}", status_code=303, headers={"Cache-Control": "no-store"})


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}
