"""Changes and verify: a turn's diff against the base branch, verify.sh outcomes (issue 12)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A session's changes, kept after its sandbox ends. The verify gate's outcomes need no table of their
    # own: they are `verify_finished` events on the timeline.
    op.create_table('session_changes',
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('base_ref', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('base_sha', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('head_sha', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('additions', sa.Integer(), nullable=False),
    sa.Column('deletions', sa.Integer(), nullable=False),
    sa.Column('folded', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], ),
    sa.PrimaryKeyConstraint('session_id')
    )


def downgrade() -> None:
    op.drop_table('session_changes')
