"""secrets (global and per repository, encrypted) and their audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 02:28:56.222403
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('secret',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('scope_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('repo_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope_key', 'name')
    )
    with op.batch_alter_table('secret', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_secret_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_secret_repo_id'), ['repo_id'], unique=False)

    op.create_table('secret_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('repo_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('secret_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_secret_audit_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_secret_audit_scope_created', ['scope_key', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('secret_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_secret_audit_scope_created')
        batch_op.drop_index(batch_op.f('ix_secret_audit_created_at'))

    op.drop_table('secret_audit')
    with op.batch_alter_table('secret', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_secret_repo_id'))
        batch_op.drop_index(batch_op.f('ix_secret_key_id'))

    op.drop_table('secret')
