"""Store: the one object that reads and writes the database (SQLAlchemy; SQLite or PostgreSQL).

A facade over four parts, one module each: API keys (`keys.py`), complaints with their decisions, reviews,
window and clusters (`complaints.py`), a customer's matters and the leads' corrections of them (`matters.py`),
group alerts with their reviews and webhook outbox (`alerts.py`), the monthly figures (`figures.py`), the
review pages' sessions (`sessions.py`), and the sealed original texts with who read them (`originals.py`).
Every method returns typed records (`records.py`).
"""

from __future__ import annotations

from serving.store.alerts import AlertStore
from serving.store.complaints import ComplaintStore
from serving.store.figures import FigureStore
from serving.store.keys import KeyStore
from serving.store.matters import MatterStore
from serving.store.originals import OriginalStore
from serving.store.sessions import SessionStore


class Store(KeyStore, SessionStore, ComplaintStore, MatterStore, AlertStore, FigureStore, OriginalStore):
    """Open with a SQLAlchemy URL; the schema is migrated to the newest revision on opening."""
