"""Cost and titles: per-session spend limits, edited titles (issue 12)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each model call is charged to the prompt that was running when it was made (None: between prompts).
    with op.batch_alter_table('model_usage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_index('ix_model_usage_message_id', ['message_id'], unique=False)
    # A session's own spend limit (None: the OPENINSPECT_SESSION_SPEND_LIMIT_USD default), and since when
    # its queue has waited for it.
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spend_limit_usd', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('spend_held_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_column('spend_held_at')
        batch_op.drop_column('spend_limit_usd')
    with op.batch_alter_table('model_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_model_usage_message_id')
        batch_op.drop_column('message_id')
