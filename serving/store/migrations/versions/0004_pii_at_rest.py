"""Personal data at rest (issue 16): the complaint's original text sealed (complaints.original), and who read it
(original_reads).

Revision ID: 0004
Revises: 0003

Rows stored before this revision keep their text in clear until the store, which holds the key, seals them the
first time it opens the database (`serving.store.originals.seal_plaintext_rows`): a migration has no key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import serving.store.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('original', sa.LargeBinary(), nullable=True))
    op.create_table('original_reads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('complaint_seq', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('reader', sa.String(length=200), nullable=False),
    sa.Column('read_at', serving.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['complaint_seq'], ['complaints.seq'], ),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('original_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_original_reads_complaint_seq'), ['complaint_seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('original_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_original_reads_complaint_seq'))
    op.drop_table('original_reads')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('original')
