"""The team leads' review pages: server-rendered HTML (Jinja2, autoescaped), a session cookie, CSRF tokens.

A lead signs in by pasting an API key once: the key is checked and a server-side session is opened; the
signed cookie keeps only its random token and a CSRF token, never the key. Every request looks the session up
in the store, so logout, a revoked key, the idle timeout and the session's lifetime end it at once. Every POST
form carries the session's CSRF token; a POST without it is refused (403).

Three modules: `filters.py` (templates, their filters, the growth chart), `session.py` (session and CSRF),
`views.py` (the pages). The signed-in lead is a dependency of `serving/deps.py`.
"""

from serving.pages.filters import TEMPLATES, Chart, growth_chart, templates
from serving.pages.views import EXCEPTION_HANDLERS, router

__all__ = ["EXCEPTION_HANDLERS", "TEMPLATES", "Chart", "growth_chart", "router", "templates"]
