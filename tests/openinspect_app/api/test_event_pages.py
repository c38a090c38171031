"""Pages of events and stream batches are bounded by bytes (OPENINSPECT_MAX_PAGE_BYTES) and lose nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from openinspect_protocol.events import WarningEvent

from openinspect_app.api import routes
from openinspect_core.services import timeline
from tests.support.system import ServedApi, api_token

MAX_PAGE_BYTES = 20_000


async def session_with_big_events(served: ServedApi, sizes: list[int]) -> str:
    async with served.client(token=await api_token(served.context)) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
    async with served.context.work() as work:
        for i, size in enumerate(sizes):
            await timeline.append(work.db, session["id"], WarningEvent(code=f"w{i}", message="x" * size))
    return session["id"]


@pytest.mark.settings(max_page_bytes=MAX_PAGE_BYTES)
async def test_a_page_stops_before_the_byte_cap_and_says_there_is_more(served: ServedApi) -> None:
    session_id = await session_with_big_events(served, [6_000] * 10 + [50_000, 10])
    async with served.client(token=await api_token(served.context)) as http:
        pages, after = [], 0
        while True:
            response = await http.get(f"/api/sessions/{session_id}/events", params={"after": after})
            page = response.json()
            pages.append(page)
            after = page["next_after"]
            if not page["has_more"]:
                break
    for page in pages:
        events_bytes = sum(len(json.dumps(e, separators=(",", ":")).encode()) for e in page["events"])
        assert events_bytes <= MAX_PAGE_BYTES or len(page["events"]) == 1  # one event alone may be larger
    sequences = [e["sequence"] for page in pages for e in page["events"]]
    assert sequences == list(range(1, 14))  # the session_status event and the twelve warnings, each once
    assert len(pages) >= 5 and all(p["has_more"] for p in pages[:-1])
    assert [len(p["events"]) for p in pages if any(len(e["data"]["message"]) == 50_000
                                                   for e in p["events"] if e["type"] == "warning")] == [1]


@pytest.mark.settings(max_page_bytes=MAX_PAGE_BYTES)
async def test_the_stream_sends_everything_in_bounded_batches(served: ServedApi) -> None:
    session_id = await session_with_big_events(served, [6_000] * 10 + [50_000, 10])
    received: list[int] = []
    async with served.client(token=await api_token(served.context)) as http, \
            http.stream("GET", f"/api/sessions/{session_id}/events/stream") as response:
        async with asyncio.timeout(20):
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    received.append(int(line.removeprefix("id: ")))
                    if len(received) == 13:
                        break
    assert received == list(range(1, 14))


async def test_a_stream_ends_once_its_token_is_revoked(served: ServedApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "STREAM_KEEPALIVE_SECONDS", 0.2)  # the credential is checked at each keep-alive
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        token_id = (await http.get("/api/tokens")).json()[0]["id"]
        lines: list[str] = []
        async with http.stream("GET", f"/api/sessions/{session['id']}/events/stream") as response:
            async with asyncio.timeout(20):
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line == ": keepalive":
                        assert (await http.delete(f"/api/tokens/{token_id}")).status_code == 200
    assert lines.count("id: 1") == 1 and ": keepalive" in lines  # it ended by itself, after the revocation
