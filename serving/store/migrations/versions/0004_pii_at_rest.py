"""Reserved for issue 16 — the complaint text encrypted at rest and the reads of it recorded.

Revision ID: 0004
Revises: 0003

Empty until that work fills it; the chain is laid out in advance so that concurrent work never makes two heads.
"""

from __future__ import annotations

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
