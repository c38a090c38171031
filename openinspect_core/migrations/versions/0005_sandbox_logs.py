"""the sandbox runtime's log kept with the session; the request id of each prompt

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 03:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sandbox_log_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sandbox_seq', sa.Integer(), nullable=True),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('line', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sandbox_log_line', schema=None) as batch_op:
        batch_op.create_index('ix_sandbox_log_line_session_id_id', ['session_id', 'id'], unique=False)

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('request_id')

    with op.batch_alter_table('sandbox_log_line', schema=None) as batch_op:
        batch_op.drop_index('ix_sandbox_log_line_session_id_id')

    op.drop_table('sandbox_log_line')
