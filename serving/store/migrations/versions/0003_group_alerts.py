"""Reserved for issue 14 — alert state (confirm/dismiss), escalation history and the webhook outbox.

Revision ID: 0003
Revises: 0002

Empty until that work fills it; the chain is laid out in advance so that concurrent work never makes two heads.
"""

from __future__ import annotations

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
