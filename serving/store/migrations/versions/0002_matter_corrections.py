"""Reserved for issue 17 — a lead's split and join of a customer's matters.

Revision ID: 0002
Revises: 0001

Empty until that work fills it; the chain is laid out in advance so that concurrent work never makes two heads.
"""

from __future__ import annotations

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
