"""github accounts, installations, repositories, webhook deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:17:23.574969
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('github_installation',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_login', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('account_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('repository_selection', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_delivery_received_at'), ['received_at'], unique=False)

    op.create_table('github_account',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('github_id', sa.BigInteger(), nullable=False),
    sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('access_token', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('access_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_token', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('refresh_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('github_id'),
    sa.UniqueConstraint('user_id')
    )
    with op.batch_alter_table('github_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_github_account_login'), ['login'], unique=False)

    with op.batch_alter_table('repo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('full_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('github_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('installation_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('private', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_repo_installation_id'), ['installation_id'], unique=False)
        batch_op.create_unique_constraint('uq_repo_full_name', ['full_name'])

    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_branch', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('pushed_sha', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_column('pushed_sha')
        batch_op.drop_column('work_branch')

    with op.batch_alter_table('repo', schema=None) as batch_op:
        batch_op.drop_constraint('uq_repo_full_name', type_='unique')
        batch_op.drop_index(batch_op.f('ix_repo_installation_id'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('private')
        batch_op.drop_column('installation_id')
        batch_op.drop_column('github_id')
        batch_op.drop_column('full_name')

    with op.batch_alter_table('github_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_github_account_login'))

    op.drop_table('github_account')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_received_at'))

    op.drop_table('webhook_delivery')
    op.drop_table('github_installation')
