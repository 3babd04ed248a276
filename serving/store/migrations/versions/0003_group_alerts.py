"""Group alerts that act on the whole group (issue 14): the alerts and the leads' confirmations and dismissals,
the webhook outbox, and why a decision after the first was made (decisions.reason).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import serving.store.tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=64), nullable=False),
    sa.Column('cluster_id', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('previous_level', sa.String(length=16), nullable=True),
    sa.Column('regrown', sa.Boolean(), nullable=False),
    sa.Column('distinct_customers', sa.Integer(), nullable=False),
    sa.Column('complaints', sa.Integer(), nullable=False),
    sa.Column('escalated', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('trigger_complaint_id', sa.String(length=128), nullable=False),
    sa.Column('raised_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_id')
    )
    with op.batch_alter_table('group_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_alerts_cluster_id'), ['cluster_id'], unique=False)

    op.create_table('alert_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('customers', sa.JSON(), nullable=True),
    sa.Column('after_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['group_alerts.alert_id'], ),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_reviews_alert_id'), ['alert_id'], unique=False)

    op.create_table('alert_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', serving.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['group_alerts.alert_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_outbox_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index('ix_alert_outbox_due', ['delivered_at', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('reason')
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_outbox_due')
        batch_op.drop_index(batch_op.f('ix_alert_outbox_alert_id'))
    op.drop_table('alert_outbox')
    with op.batch_alter_table('alert_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_reviews_alert_id'))
    op.drop_table('alert_reviews')
    with op.batch_alter_table('group_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_alerts_cluster_id'))
    op.drop_table('group_alerts')
