"""The sidebar's list on a real database (SQLite and PostgreSQL): mine or everyone's, searched, grouped."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from openinspect_protocol.status import MessageStatus, SessionStatus

from openinspect_core.db import Database
from openinspect_core.models import Message, Session, utcnow
from openinspect_core.services import prompts, session_index, sessions, users
from openinspect_core.services.session_index import Group, group_of
from tests.openinspect_core.services.seed import POLICY

LIMITS = prompts.Limits(max_prompt_chars=100, max_pending_prompts=5)


@pytest.mark.parametrize(
    ("status", "pending", "last", "group"),
    [
        (SessionStatus.FAILED, 0, None, Group.ATTENTION),
        (SessionStatus.IDLE, 0, MessageStatus.FAILED, Group.ATTENTION),  # its newest prompt failed
        (SessionStatus.RUNNING, 1, MessageStatus.RUNNING, Group.RUNNING),
        (SessionStatus.SPAWNING, 0, None, Group.RUNNING),  # starting up: the person waits on it
        (SessionStatus.SETUP, 0, None, Group.RUNNING),
        (SessionStatus.IDLE, 2, MessageStatus.QUEUED, Group.RUNNING),  # prompts waiting
        (SessionStatus.READY, 0, MessageStatus.COMPLETED, Group.RECENT),
        (SessionStatus.STOPPED, 0, MessageStatus.STOPPED, Group.RECENT),
        (SessionStatus.IDLE, 0, MessageStatus.CANCELLED, Group.RECENT),
    ],
)
def test_each_session_falls_in_one_group(status: SessionStatus, pending: int, last: MessageStatus | None,
                                         group: Group) -> None:
    assert group_of(status, pending, last) == group


def test_a_session_held_at_its_spend_limit_needs_attention() -> None:
    assert group_of(SessionStatus.IDLE, 1, MessageStatus.COMPLETED, spend_held=True) == Group.ATTENTION
    assert group_of(SessionStatus.IDLE, 1, MessageStatus.COMPLETED, spend_held=False) == Group.RUNNING


async def test_mine_everyones_search_and_the_newest_prompt(database: Database) -> None:
    async with database.session() as db:
        ada = await users.get_or_create(db, "Ada", "ada@example.com")
        brian = await users.get_or_create(db, "Brian", "bwk@example.com")
        login = await sessions.create(db, repo_url="/tmp/shop", creator=ada, policy=POLICY, title="Fix the login")
        odd = await sessions.create(db, repo_url="/tmp/shop", creator=ada, policy=POLICY, title="100% done_now",
                                    branch="feature/x")
        await sessions.create(db, repo_url="/tmp/tools", creator=brian, policy=POLICY, title="Brian's")
        joined = await sessions.create(db, repo_url="/tmp/tools", creator=brian, policy=POLICY, title="Pairing")
        gone = await sessions.create(db, repo_url="/tmp/shop", creator=ada, policy=POLICY, title="Archived one")
        await sessions.join(db, joined, ada)
        await db.commit()
        for i, content in enumerate(("first", "second")):
            await prompts.enqueue(db, session_id=login.id, author=ada, content=content, client_request_id=f"c{i}",
                                  limits=LIMITS)
        await db.commit()
        await sessions.archive(db, gone.id)
        # The newest prompt failed; the older one (a minute older: no tie on the clock) is still queued.
        await db.exec(sa.update(Message).where(Message.session_id == login.id, Message.content == "first")
                      .values(created_at=utcnow() - timedelta(minutes=1)))
        await db.exec(sa.update(Message).where(Message.session_id == login.id, Message.content == "second")
                      .values(status=MessageStatus.FAILED))
        await db.exec(sa.update(Session).where(Session.id == odd.id).values(status=SessionStatus.IDLE))
        await db.commit()

    async def titles(user_id: str, mine: bool, query: str = "") -> set[str]:
        async with database.session() as db:
            found = await session_index.list_for_sidebar(db, user_id=user_id, mine=mine, query=query)
        return {item.session.title or "" for item in found}

    assert await titles(ada.id, mine=True) == {"Fix the login", "100% done_now", "Pairing"}  # started or joined
    assert await titles(brian.id, mine=True) == {"Brian's", "Pairing"}
    assert await titles(ada.id, mine=False) == {"Fix the login", "100% done_now", "Brian's", "Pairing"}
    assert await titles(ada.id, mine=False, query="  LOGIN ") == {"Fix the login"}
    assert await titles(ada.id, mine=False, query="tools") == {"Brian's", "Pairing"}  # the repository's name
    assert await titles(ada.id, mine=False, query="feature/") == {"100% done_now"}  # the branch
    # The search's own % and _ are literal characters, not wildcards.
    assert await titles(ada.id, mine=False, query="100%") == {"100% done_now"}
    assert await titles(ada.id, mine=False, query="%") == {"100% done_now"}
    assert await titles(ada.id, mine=False, query="e_n") == {"100% done_now"}
    assert await titles(ada.id, mine=False, query="archived") == set()

    async with database.session() as db:
        found = {item.session.title: item for item in
                 await session_index.list_for_sidebar(db, user_id=ada.id, mine=True)}
    login_row = found["Fix the login"]
    assert (login_row.pending_prompts, login_row.last_prompt_status) == (1, MessageStatus.FAILED)
    assert group_of(login_row.session.status, login_row.pending_prompts, login_row.last_prompt_status) \
        == Group.ATTENTION
    assert (found["100% done_now"].pending_prompts, found["100% done_now"].last_prompt_status) == (0, None)
