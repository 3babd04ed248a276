"""Reserved for issue 15 — one order for many workers and instances.

Revision ID: 0006
Revises: 0005

Empty until that work fills it; the chain is laid out in advance so that concurrent work never makes two heads.
"""

from __future__ import annotations

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
