"""A lead's split and join of a customer's matters (issue 17): the matter_corrections table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import serving.store.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matter_corrections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('complaint_ids', sa.JSON(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('after_seq', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('matter_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matter_corrections_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('matter_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matter_corrections_customer_id'))
    op.drop_table('matter_corrections')
