"""The review pages' session: a signed cookie that keeps the signed-in key's id and a CSRF token (never the
secret), the CSRF check of every form, redirects to the sign-in page that come back only to these pages, and
one-time messages."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, token: str) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and bool(token) and secrets.compare_digest(str(expected), token)


def sign_in(request: Request, key_id: int) -> None:
    """A fresh session for this key (and a fresh CSRF token)."""
    request.session.clear()
    request.session.update({"key_id": key_id, "csrf": secrets.token_urlsafe(32)})


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
