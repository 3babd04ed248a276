"""Server-side sessions of the review pages (issue 16): a random token's hash, the key it was opened with,
when it was opened and last used. Logout, key revocation and expiry delete the row.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import serving.store.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('created_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_last_seen_at'), ['last_seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_last_seen_at'))
        batch_op.drop_index(batch_op.f('ix_sessions_key_id'))
    op.drop_table('sessions')
