"""Slack: threads, deliveries, channel repositories, repository hints, linked people, pending requests; session.source

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 06:03:46.058086
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('slack_delivery',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('slack_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_delivery_received_at'), ['received_at'], unique=False)

    op.create_table('slack_pending',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('thread_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('slack_user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('prompt_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('link_code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('link_code_hash')
    )
    op.create_table('repo_hint',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('repo_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo_id', 'kind', 'value')
    )
    with op.batch_alter_table('repo_hint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repo_hint_repo_id'), ['repo_id'], unique=False)

    op.create_table('slack_channel_repo',
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('channel_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('repo_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repo.id'], ),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('channel_id')
    )
    with op.batch_alter_table('slack_channel_repo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_channel_repo_repo_id'), ['repo_id'], unique=False)

    op.create_table('slack_user_link',
    sa.Column('slack_user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('slack_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('slack_user_id')
    )
    with op.batch_alter_table('slack_user_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_user_link_user_id'), ['user_id'], unique=False)

    op.create_table('slack_thread',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('thread_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('status_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('reported_event_seq', sa.Integer(), nullable=False),
    sa.Column('reported_message_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('slack_user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel_id', 'thread_ts'),
    sa.UniqueConstraint('session_id')
    )
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='api'))



def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_column('source')

    op.drop_table('slack_thread')
    with op.batch_alter_table('slack_user_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_user_link_user_id'))

    op.drop_table('slack_user_link')
    with op.batch_alter_table('slack_channel_repo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_channel_repo_repo_id'))

    op.drop_table('slack_channel_repo')
    with op.batch_alter_table('repo_hint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repo_hint_repo_id'))

    op.drop_table('repo_hint')
    op.drop_table('slack_pending')
    with op.batch_alter_table('slack_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_delivery_received_at'))

    op.drop_table('slack_delivery')
