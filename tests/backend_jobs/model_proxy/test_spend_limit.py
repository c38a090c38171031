"""The spend limit, end to end below the browser: the real runtime and OpenCode, the scripted model
behind the model proxy, the REST API. A tiny limit lets the first turn finish, holds the second
prompt with the reason on the timeline and in the session, and raising it releases the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend_jobs.model_proxy.running import system_with_model, usage_of
from tests.fakes.scripted_model import ScriptedModel
from tests.support.system import WAIT_SECONDS, make_repo

KEY = "sk-spend-limit-test"
# One US dollar per million tokens: a scripted turn (a few hundred tokens a call) costs a few hundredths
# of a cent, well above the limit below.
PRICES = ("scripted=1/1",)
LIMIT_USD = 0.0001


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel(api_key=KEY) as scripted:
        yield scripted


async def test_a_tiny_limit_holds_the_second_prompt_and_raising_it_releases_it(
        tmp_path: Path, database_url: str, model: ScriptedModel) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "# Project\n"})
    async with system_with_model(tmp_path, database_url, model, KEY, model_prices=PRICES,
                                 session_spend_limit_usd=LIMIT_USD) as running:
        session = await running.create_session(repo)
        sid = session["id"]
        assert session["spend"]["limit_usd"] == LIMIT_USD and session["spend"]["own_limit_usd"] is None
        first = await running.prompt(sid, "#script text text=first")
        second = await running.prompt(sid, "#script text text=second")

        # The first turn runs to its end although it passes the limit on the way.
        ended = await running.wait_for_prompt_end(sid, first["id"])
        assert ended["data"]["status"] == "completed", ended
        usage = ended["data"]["usage"]
        assert usage["calls"] >= 1 and usage["input_tokens"] > 0 and usage["cost_usd"] > LIMIT_USD, usage

        # The second waits, and the session says why: a timeline event, and the session's own state.
        held = await running.wait_for(sid, lambda e: e["type"] == "spend_limit_reached")
        assert held["data"]["limit_usd"] == LIMIT_USD and held["data"]["waiting"] == 1
        assert held["data"]["spent_usd"] >= LIMIT_USD
        state = (await running.client.get(f"/api/sessions/{sid}")).json()
        assert state["spend"]["limit_reached"] and state["spend"]["queue_held"], state["spend"]
        assert state["spend"]["total"]["cost_usd"] >= usage["cost_usd"]
        [waiting] = (await running.client.get(f"/api/sessions/{sid}/prompts", params={"unfinished": True})).json()
        assert (waiting["id"], waiting["status"]) == (second["id"], "queued")
        # Still waiting a moment later: the hold is no race the dispatcher happens to win.
        await asyncio.sleep(1.0)
        [still] = (await running.client.get(f"/api/sessions/{sid}/prompts", params={"unfinished": True})).json()
        assert still["status"] == "queued"
        assert [e["type"] for e in await running.events(sid)].count("spend_limit_reached") == 1

        # Raising the limit releases the queue.
        raised = await running.client.patch(f"/api/sessions/{sid}", json={"spend_limit_usd": 100})
        assert raised.status_code == 200, raised.text
        assert raised.json()["spend"]["own_limit_usd"] == 100 and not raised.json()["spend"]["limit_reached"]
        done = await running.wait_for_prompt_end(sid, second["id"])
        assert done["data"]["status"] == "completed", done
        changed = await running.wait_for(sid, lambda e: e["type"] == "spend_limit_changed")
        assert changed["data"]["limit_usd"] == 100 and changed["data"]["by"]["name"]

        # Every call is on the books, charged to the prompt that was running (the title request too).
        async with asyncio.timeout(WAIT_SECONDS):
            while len(rows := await usage_of(running, sid)) < len(model.requests):
                await asyncio.sleep(0.1)
        cost = (await running.client.get(f"/api/sessions/{sid}/cost")).json()
        final = (await running.client.get(f"/api/sessions/{sid}")).json()

    assert {row.message_id for row in rows} <= {first["id"], second["id"]}
    assert {p["message_id"] for p in cost["prompts"]} == {first["id"], second["id"]}
    assert [p["message_id"] for p in cost["prompts"]] == [first["id"], second["id"]]  # in queue order
    assert sum(p["usage"]["calls"] for p in cost["prompts"]) == len(rows) == cost["total"]["calls"]
    assert cost["total"]["cost_usd"] == pytest.approx(sum(row.cost for row in rows), abs=1e-6)
    assert cost["total"]["cost_usd"] == pytest.approx(
        sum(row.input_tokens + row.output_tokens for row in rows) / 1_000_000, abs=1e-6)
    assert not final["spend"]["queue_held"]
