"""What a session spent and its limit, on a real database (SQLite and PostgreSQL): the proxy's rows
charged to the running prompt, summed per prompt and per session; the hold said once; a new limit;
titles people give, which the agent's later titles do not replace."""

from __future__ import annotations

import asyncio

import openinspect_protocol as p
import pytest
from openinspect_protocol.status import MessageStatus
from openinspect_protocol.timeline import PromptFinished, SessionRenamed, SpendLimitChanged, SpendLimitReached

from backend_jobs import tokens
from backend_jobs.ingestion import Ingestor
from backend_jobs.model_proxy import ledger
from backend_jobs.model_proxy.metering import Usage
from openinspect_core import costs
from openinspect_core.db import Database
from openinspect_core.models import Message, Sandbox, Session
from openinspect_core.notify.local import Notifier
from openinspect_core.services import prompts, spend, titles
from openinspect_core.services.errors import InvalidInput, NotFound
from tests.openinspect_core.services.seed import Seeded, seed, timeline_of

LIMITS = prompts.Limits(max_prompt_chars=1000, max_pending_prompts=10)
PRICES = costs.parse_prices(["scripted=1/1"])  # a dollar per million tokens


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def a_sandbox(database: Database, session_id: str, name: str = "t") -> ledger.Caller:
    async with database.session() as db:
        sandbox = Sandbox(session_id=session_id, backend="test", auth_token_hash=tokens.token_hash(name),
                          status="connected")
        db.add(sandbox)
        await db.commit()
        return ledger.Caller(sandbox_id=sandbox.id, session_id=session_id)


async def a_prompt(database: Database, seeded: Seeded, request_id: str, *, run_on: str | None = None) -> str:
    async with database.session() as db:
        queued = await prompts.enqueue(db, session_id=seeded.session_id, author=seeded.user, content=request_id,
                                       client_request_id=request_id, limits=LIMITS)
        if run_on is not None:
            assert await prompts.start(db, queued.message, run_on)
        await db.commit()
        return queued.message.id


def usage(input_tokens: int, output_tokens: int, cost: float = 0.0) -> Usage:
    return Usage(model="scripted", input_tokens=input_tokens, output_tokens=output_tokens, cost=cost, reported=True)


async def test_each_call_is_charged_to_the_prompt_its_sandbox_is_running(database: Database, seeded: Seeded) -> None:
    caller = await a_sandbox(database, seeded.session_id)
    other = await a_sandbox(database, (await seed(database, repo_url="/tmp/other")).session_id, "t2")
    notifier = Notifier()
    before = await ledger.record(database, caller, usage(100, 10), prices=PRICES)  # nothing running yet
    first = await a_prompt(database, seeded, "first", run_on=caller.sandbox_id)
    async with notifier.subscribe(seeded.session_id) as subscription:
        row = await ledger.record(database, caller, usage(1_000, 200), prices=PRICES, notifier=notifier)
        assert await subscription.wait(1.0)  # viewers hear of it (the header's sums grow)
    stated = await ledger.record(database, caller, usage(10, 10, cost=0.5), prices=PRICES)
    await ledger.record(database, other, usage(5_000, 5_000), prices=PRICES)  # another session's call

    assert before.message_id is None and row.message_id == first and stated.message_id == first
    assert row.cost == pytest.approx(1_200 / 1_000_000)  # the configured price
    assert stated.cost == 0.5  # the provider's own figure wins
    async with database.session() as db:
        total = await spend.of_session(db, seeded.session_id)
        per_prompt = await spend.of_prompts(db, seeded.session_id)
        many = await spend.of_sessions(db, [seeded.session_id, other.session_id, "nobody"])
    assert total == costs.Spend(1_110, 220, pytest.approx(0.5 + 1_310 / 1_000_000), 3)  # type: ignore[arg-type]
    assert per_prompt == {first: costs.Spend(1_010, 210, pytest.approx(0.5 + 1_200 / 1_000_000), 2)}  # type: ignore[arg-type]
    assert many[seeded.session_id] == total and many[other.session_id].calls == 1 and "nobody" not in many


async def test_a_finished_prompt_records_what_it_cost(database: Database, seeded: Seeded) -> None:
    caller = await a_sandbox(database, seeded.session_id)
    message_id = await a_prompt(database, seeded, "m", run_on=caller.sandbox_id)
    await ledger.record(database, caller, usage(300, 30), prices=PRICES)
    await ledger.record(database, caller, usage(200, 20), prices=PRICES)
    silent = await a_prompt(database, seeded, "silent")  # never ran: no usage at all
    async with database.session() as db:
        for mid in (message_id, silent):
            message = await db.get(Message, mid)
            assert message is not None
            await prompts.finish(db, message, MessageStatus.COMPLETED)
        await db.commit()
    finished = {e.message_id: e for e in await timeline_of(database, seeded.session_id)
                if isinstance(e, PromptFinished)}
    assert finished[message_id].usage is not None
    assert finished[message_id].usage.model_dump() == {"input_tokens": 500, "output_tokens": 50,
                                                       "cost_usd": pytest.approx(550 / 1_000_000), "calls": 2}
    assert finished[silent].usage is None


async def test_the_hold_is_said_once_and_a_new_limit_clears_it(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        assert await spend.hold(db, seeded.session_id, spent_usd=1.5, limit_usd=1.0, waiting=2)
        assert not await spend.hold(db, seeded.session_id, spent_usd=1.6, limit_usd=1.0, waiting=2)
        await db.commit()
    async with database.session() as db:
        session = await spend.set_limit(db, seeded.session_id, 10.0, by=seeded.user, default_limit_usd=1.0)
        await db.commit()
    assert (session.spend_limit_usd, session.spend_held_at) == (10.0, None)
    async with database.session() as db:
        await spend.set_limit(db, seeded.session_id, None, by=seeded.user, default_limit_usd=1.0)
        assert await spend.hold(db, seeded.session_id, spent_usd=1.5, limit_usd=1.0, waiting=1)
        assert await spend.release(db, seeded.session_id)
        assert not await spend.release(db, seeded.session_id)
        await db.commit()
    events = [e for e in await timeline_of(database, seeded.session_id)
              if isinstance(e, SpendLimitReached | SpendLimitChanged)]
    assert [type(e).__name__ for e in events] == ["SpendLimitReached", "SpendLimitChanged", "SpendLimitChanged",
                                                  "SpendLimitReached"]
    assert events[1].limit_usd == 10.0 and events[1].by.name == "Ada"  # type: ignore[union-attr]
    assert (events[2].limit_usd, events[2].effective_limit_usd) == (None, 1.0)  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan"), 10_000_000.0])
async def test_a_bad_limit_is_refused_and_nothing_changes(database: Database, seeded: Seeded, bad: float) -> None:
    async with database.session() as db:
        with pytest.raises(InvalidInput) as error:
            await spend.set_limit(db, seeded.session_id, bad, by=seeded.user, default_limit_usd=None)
        assert error.value.code == "invalid_spend_limit"
    async with database.session() as db:
        session = await db.get(Session, seeded.session_id)
        assert session is not None and session.spend_limit_usd is None


async def test_an_unknown_session_is_not_found(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        with pytest.raises(NotFound):
            await spend.set_limit(db, "0" * 32, 1.0, by=seeded.user, default_limit_usd=None)
        with pytest.raises(NotFound):
            await titles.rename(db, "0" * 32, "x", by=seeded.user)


async def test_the_agents_title_applies_until_a_person_gives_one(database: Database, seeded: Seeded) -> None:
    caller = await a_sandbox(database, seeded.session_id)
    ingestor = Ingestor(database, Notifier())

    async def title_now() -> tuple[str | None, bool]:
        async with database.session() as db:
            session = await db.get(Session, seeded.session_id, populate_existing=True)
            assert session is not None
            return session.title, session.title_from_user

    await ingestor.ingest(seeded.session_id, caller.sandbox_id, p.SessionTitle(seq=1, title="Agent's first idea"))
    assert await title_now() == ("Agent's first idea", False)
    async with database.session() as db:
        await titles.rename(db, seeded.session_id, "  Fix the\nlogin   page ", by=seeded.user)
        await db.commit()
    assert await title_now() == ("Fix the login page", True)
    await ingestor.ingest(seeded.session_id, caller.sandbox_id, p.SessionTitle(seq=2, title="Agent's second idea"))
    assert await title_now() == ("Fix the login page", True)  # the person's title stays
    renamed = [e for e in await timeline_of(database, seeded.session_id) if isinstance(e, SessionRenamed)]
    assert [(e.title, e.by.email) for e in renamed] == [("Fix the login page", "ada@example.com")]


@pytest.mark.parametrize(("title", "code"), [("   ", "empty_title"), ("x" * 201, "title_too_long"),
                                             ("a\x00b", "invalid_title")])
async def test_a_bad_title_is_refused(database: Database, seeded: Seeded, title: str, code: str) -> None:
    async with database.session() as db:
        with pytest.raises(InvalidInput) as error:
            await titles.rename(db, seeded.session_id, title, by=seeded.user)
    assert error.value.code == code


async def test_calls_made_while_no_prompt_runs_count_for_the_session_only(database: Database,
                                                                           seeded: Seeded) -> None:
    caller = await a_sandbox(database, seeded.session_id)
    await asyncio.gather(*(ledger.record(database, caller, usage(1, 1), prices=PRICES) for _ in range(3)))
    async with database.session() as db:
        assert await spend.of_prompts(db, seeded.session_id) == {}
        assert (await spend.of_session(db, seeded.session_id)).calls == 3
