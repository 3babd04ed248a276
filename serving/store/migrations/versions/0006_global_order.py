"""One order for many workers and instances: complaints.global_seq, numbered under the store's global-order lock.

Revision ID: 0006
Revises: 0005

Every complaint gets the position at which the similarity layer saw it (`serving/store/order.py` numbers new ones
under a PostgreSQL advisory lock, or SQLite's write lock). Complaints stored before this revision were all
decided by one process in `seq` order, so `seq` is their position (and similarity snapshots that count in `seq`
stay valid).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('complaints', sa.Column('global_seq', sa.BigInteger(), nullable=True))
    op.execute("UPDATE complaints SET global_seq = seq")
    if op.get_bind().dialect.name != "sqlite":
        # SQLite changes a column's nullability only by copying the table, which its foreign keys (decisions,
        # reviews) refuse; the store sets the number on every insert either way.
        op.alter_column('complaints', 'global_seq', existing_type=sa.BigInteger(), nullable=False)
    op.create_index('ix_complaints_global_seq', 'complaints', ['global_seq'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_complaints_global_seq', table_name='complaints')
    op.drop_column('complaints', 'global_seq')
