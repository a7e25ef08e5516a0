"""delivery preferences, outbox planning and edit columns; follow labels

Subscribers get a daily digest hour and optional quiet hours (mode, timezone and thread_id exist since 0001);
deliveries get `edit_requested_at` (a sent story gained an outlet: edit the message) and an index for the
sender's due query; follows get a display `label` (a keyword topic's name as the reader wrote it).

Every change is an ADD COLUMN / CREATE INDEX, so SQLite never recreates a table (`recreate="never"`): recreating
`subscribers` with foreign keys on would cascade-delete follows and deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscribers', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('digest_hour', sa.Integer(), server_default='8', nullable=False))
        batch_op.add_column(sa.Column('quiet_start', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('quiet_end', sa.Integer(), nullable=True))

    with op.batch_alter_table('deliveries', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('edit_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deliveries_status_not_before', ['status', 'not_before'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_edit_requested_at'), ['edit_requested_at'], unique=False)

    with op.batch_alter_table('follows', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite drops columns in place (ALTER TABLE DROP COLUMN, SQLite >= 3.35), so no table is recreated here either.
    with op.batch_alter_table('follows', recreate='never') as batch_op:
        batch_op.drop_column('label')

    with op.batch_alter_table('deliveries', recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_edit_requested_at'))
        batch_op.drop_index('ix_deliveries_status_not_before')
        batch_op.drop_column('edit_requested_at')

    with op.batch_alter_table('subscribers', recreate='never') as batch_op:
        batch_op.drop_column('quiet_end')
        batch_op.drop_column('quiet_start')
        batch_op.drop_column('digest_hour')
