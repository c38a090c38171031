"""``/metrics`` scraped after a real session (real sandbox, real OpenCode, the scripted model):
every number matches what happened, as the database and the timeline tell it.

Runs on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func
from sqlmodel import col, select

from openinspect_app.http import cookies
from openinspect_core.models import Event, ModelUsage
from tests.support.system import RunningSystem, sign_in_cookie

METRICS_TOKEN = "metrics-token-for-prometheus-0123"
# Ingested (and counted) but not kept on the timeline: liveness, and the sandbox's own log lines (kept apart).
NOT_ON_THE_TIMELINE = ("heartbeat", "sandbox_log")
# A turn's changes are kept apart too; the timeline holds a summary of the frame, under the frame's number.
STORED_AS = {"changes_updated": "changes"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: v for (n, labels), v in samples.items() if n == name}


async def scrape(s: RunningSystem, url: str = "/metrics", token: str = METRICS_TOKEN) -> Samples:
    response = await s.client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def ingested_by_type(s: RunningSystem) -> Mapping[str, int]:
    """The events ingestion stored from the sandbox's bridge (they carry its sequence number)."""
    async with s.system.db.session() as db:
        rows = (await db.exec(select(Event.type, func.count()).where(col(Event.sandbox_seq).is_not(None))
                              .group_by(Event.type))).all()
    return Counter({STORED_AS.get(kind, kind): n for kind, n in rows})


def on_the_timeline(samples: Samples) -> dict[str, float]:
    counted = by_label(samples, "openinspect_events_ingested_total", "type")
    return {kind: n for kind, n in counted.items() if kind not in NOT_ON_THE_TIMELINE}


async def settled(s: RunningSystem) -> tuple[Samples, Mapping[str, int]]:
    """A scrape and the stored events once they agree: the sandbox may still be sending its last
    events (a title, a heartbeat) when the prompt has finished, so the two are compared at rest."""
    deadline = time.monotonic() + 30
    while True:
        samples, stored = await scrape(s), await ingested_by_type(s)
        counted = on_the_timeline(samples)
        if counted == stored or time.monotonic() > deadline:
            return samples, stored
        await asyncio.sleep(0.2)


@pytest.mark.settings(metrics_token=METRICS_TOKEN)
async def test_metrics_after_a_session_match_what_happened(running_system: RunningSystem, repo: object) -> None:
    s = running_system
    session = await s.create_session(repo)
    message = await s.prompt(session["id"], "#script write-file path=metrics.txt content=counted")
    finished = await s.wait_for_prompt_end(session["id"], message["id"])
    assert finished["data"]["status"] == "completed", finished
    await s.wait_for_status(session["id"], "idle")

    # Nobody and a wrong token are refused, and counted as errors.
    async with httpx.AsyncClient(base_url=str(s.client.base_url), timeout=30) as anonymous:
        for headers in ({}, {"Authorization": "Bearer not-the-metrics-token-at-all"}):
            refused = await anonymous.get("/metrics", headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "unauthenticated"
            assert "openinspect_" not in refused.text

    samples, stored = await settled(s)
    assert on_the_timeline(samples) == stored
    assert {"ready", "token", "tool_call", "tool_result", "step_finish", "execution_complete"} <= set(stored)

    # One session, idle; one sandbox, ready (running); nothing queued or running.
    sessions = by_label(samples, "openinspect_sessions", "status")
    assert sessions.pop("idle") == 1 and set(sessions.values()) == {0}
    sandboxes = by_label(samples, "openinspect_sandboxes", "status")
    assert sandboxes.pop("ready") == 1 and set(sandboxes.values()) == {0}
    assert value(samples, "openinspect_queue_depth") == 0
    assert value(samples, "openinspect_prompts_running") == 0

    # One spawn and one ready, each timed once.
    assert value(samples, "openinspect_sandbox_spawn_seconds_count") == 1
    assert value(samples, "openinspect_sandbox_ready_seconds_count") == 1
    assert value(samples, "openinspect_sandbox_ready_seconds_sum") > 0
    assert value(samples, "openinspect_bridge_connections_total") == 1
    assert value(samples, "openinspect_bridge_connections_open") == 1

    # The model's tokens and cost are the ledger's sums.
    async with s.system.db.session() as db:
        calls, input_tokens, output_tokens = (await db.exec(select(
            func.count(), func.sum(ModelUsage.input_tokens), func.sum(ModelUsage.output_tokens)))).one()
    assert calls > 0 and input_tokens > 0 and output_tokens > 0
    tokens = {(dict(labels)["model"], dict(labels)["kind"]): v for (n, labels), v in samples.items()
              if n == "openinspect_model_tokens_total"}
    assert sum(v for (_, kind), v in tokens.items() if kind == "input") == input_tokens
    assert sum(v for (_, kind), v in tokens.items() if kind == "output") == output_tokens
    assert sum(by_label(samples, "openinspect_model_calls_total", "model").values()) == calls

    # The two refused scrapes above, by their code; nothing went wrong in the sandbox.
    errors = {(dict(labels)["source"], dict(labels)["code"]): v for (n, labels), v in samples.items()
              if n == "openinspect_errors_total"}
    assert errors == {("api", "unauthenticated"): 2}


@pytest.mark.settings(metrics_token=METRICS_TOKEN)
async def test_people_and_the_worker_port(running_system: RunningSystem) -> None:
    """A signed-in person reads the web app's metrics with their cookie or API token; the bridge port
    (where a separate worker is scraped) takes only the metrics token."""
    s = running_system
    cookie = await sign_in_cookie(s.system.context)
    async with httpx.AsyncClient(base_url=str(s.client.base_url), timeout=30) as browser:
        by_cookie = await browser.get("/metrics", headers={"Cookie": f"{cookies.COOKIE_NAME}={cookie}"})
    assert by_cookie.status_code == 200, by_cookie.text
    assert (await s.client.get("/metrics")).status_code == 200  # Ada's API token

    assert s.system.jobs is not None
    worker = f"http://127.0.0.1:{s.system.jobs.bridge_server.port}/metrics"
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(worker)).status_code == 401
        assert (await http.get(worker, headers={"Authorization": "Bearer nearly-the-metrics-token"})).status_code == 401
        answer = await http.get(worker, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    samples = parse(answer.text)
    assert set(by_label(samples, "openinspect_sessions", "status").values()) == {0}
    assert value(samples, "openinspect_bridge_connections_open") == 0
