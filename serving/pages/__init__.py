"""The team leads' review pages: server-rendered HTML (Jinja2, autoescaped), a session cookie, CSRF tokens.

A lead signs in by pasting an API key once: the key is checked, and the session (a signed cookie) keeps its id
and a CSRF token, never the secret. Every request checks the key again, so a revoked key is signed out at
once. Every POST form carries the session's CSRF token; a POST without it is refused (403).

Three modules: `filters.py` (templates, their filters, the growth chart), `session.py` (session and CSRF),
`views.py` (the pages). The signed-in lead is a dependency of `serving/deps.py`.
"""

from serving.pages.filters import TEMPLATES, Chart, growth_chart, templates
from serving.pages.views import EXCEPTION_HANDLERS, router

__all__ = ["EXCEPTION_HANDLERS", "TEMPLATES", "Chart", "growth_chart", "router", "templates"]
