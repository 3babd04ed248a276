"""Reserved for issue 16 — server-side sessions.

Revision ID: 0005
Revises: 0004

Empty until that work fills it; the chain is laid out in advance so that concurrent work never makes two heads.
"""

from __future__ import annotations

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
