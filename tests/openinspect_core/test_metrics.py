"""The metrics registry: stored state read from a real database at scrape time, one registry per
system, bounded labels, the metrics token. (A whole session scraped: tests/integration/test_metrics.py.)"""

from __future__ import annotations

from openinspect_protocol.status import MessageStatus, SessionStatus
from prometheus_client.parser import text_string_to_metric_families

from openinspect_core.db import Database
from openinspect_core.metrics import MAX_MODELS, OTHER, LabelBudget, Metrics, token_matches
from openinspect_core.models import Message, ModelUsage, Repo, Sandbox, SandboxStatus, Session, User

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(metrics: Metrics) -> Samples:
    text = (await metrics.scrape()).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labelled(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def fill(db: Database) -> tuple[str, str]:
    """Three sessions (two failed), four sandboxes, a queue of two and one running prompt, model calls.
    Returns the running session's id and its ready sandbox's."""
    async with db.session() as s:
        user = User(email="ada@example.com", name="Ada")
        repo = Repo(url="/tmp/repo", name="repo")
        s.add_all([user, repo])
        await s.flush()
        sessions = [Session(repo_id=repo.id, created_by=user.id, status=status)
                    for status in (SessionStatus.RUNNING, SessionStatus.FAILED, SessionStatus.FAILED)]
        s.add_all(sessions)
        await s.flush()
        boxes = [Sandbox(session_id=sessions[0].id, backend="local", auth_token_hash=f"h{i}", status=status)
                 for i, status in enumerate((SandboxStatus.READY, SandboxStatus.SPAWNING, SandboxStatus.FAILED,
                                             SandboxStatus.FAILED))]
        s.add_all(boxes)
        await s.flush()
        for i, status in enumerate((MessageStatus.RUNNING, MessageStatus.QUEUED, MessageStatus.QUEUED,
                                    MessageStatus.COMPLETED)):
            s.add(Message(session_id=sessions[0].id, author_id=user.id, content="x", client_request_id=f"r{i}",
                          status=status))
        for model, tokens_in, tokens_out, cost in (("a/one", 10, 5, 0.25), ("a/one", 1, 2, 0.5), ("b/two", 7, 0, 0)):
            s.add(ModelUsage(session_id=sessions[0].id, sandbox_id=boxes[0].id, model=model,
                             input_tokens=tokens_in, output_tokens=tokens_out, cost=cost))
        await s.commit()
        return sessions[0].id, boxes[0].id


async def test_stored_state_is_read_at_each_scrape(database: Database) -> None:
    metrics = Metrics(database)
    empty = await scrape(metrics)
    assert labelled(empty, "openinspect_sessions", status="running") == 0
    await fill(database)
    samples = await scrape(metrics)  # the same registry: what the database holds now, not at start
    assert labelled(samples, "openinspect_sessions", status="running") == 1
    assert labelled(samples, "openinspect_sessions", status="failed") == 2
    assert labelled(samples, "openinspect_sessions", status="idle") == 0  # every status has its series
    assert labelled(samples, "openinspect_sandboxes", status="ready") == 1
    assert labelled(samples, "openinspect_sandboxes", status="spawning") == 1
    assert labelled(samples, "openinspect_sandboxes", status="failed") == 2
    assert labelled(samples, "openinspect_queue_depth") == 2
    assert labelled(samples, "openinspect_prompts_running") == 1
    assert labelled(samples, "openinspect_model_calls_total", model="a/one") == 2
    assert labelled(samples, "openinspect_model_tokens_total", model="a/one", kind="input") == 11
    assert labelled(samples, "openinspect_model_tokens_total", model="a/one", kind="output") == 7
    assert labelled(samples, "openinspect_model_tokens_total", model="b/two", kind="input") == 7
    assert labelled(samples, "openinspect_model_cost_total", model="a/one") == 0.75


async def test_each_system_counts_only_its_own() -> None:
    one, two = Metrics(), Metrics()
    one.events_ingested.labels(type="token").inc(3)
    one.spawn_seconds.observe(0.2)
    one.error("push", "push_rejected")
    first, second = await scrape(one), await scrape(two)
    assert labelled(first, "openinspect_events_ingested_total", type="token") == 3
    assert labelled(first, "openinspect_sandbox_spawn_seconds_count") == 1
    assert labelled(first, "openinspect_errors_total", source="push", code="push_rejected") == 1
    assert ("openinspect_events_ingested_total", frozenset({("type", "token")})) not in second
    assert labelled(second, "openinspect_sandbox_spawn_seconds_count") == 0
    # No database: in-process metrics only, no stored state.
    assert not any(name == "openinspect_sessions" for name, _ in second)


def test_labels_from_sandboxes_are_bounded() -> None:
    budget = LabelBudget(limit=2)
    assert budget("push_rejected") == "push_rejected"
    assert budget("Not Plain!") == OTHER and budget("x" * 65) == OTHER
    assert budget("agent_exited") == "agent_exited"
    assert budget("one_too_many") == OTHER
    assert budget("push_rejected") == "push_rejected"  # a value seen before stays itself


async def test_beyond_max_models_the_rest_is_summed(database: Database) -> None:
    session_id, sandbox_id = await fill(database)
    async with database.session() as s:
        for i in range(MAX_MODELS + 3):
            s.add(ModelUsage(session_id=session_id, sandbox_id=sandbox_id, model=f"spam/{i}",
                             input_tokens=1))
        await s.commit()
    samples = await scrape(Metrics(database))
    models = {dict(labels)["model"] for name, labels in samples if name == "openinspect_model_calls_total"}
    assert len(models) == MAX_MODELS + 1 and OTHER in models
    assert "a/one" in models  # the most tokens: kept by name
    assert sum(v for (name, _), v in samples.items() if name == "openinspect_model_calls_total") == 3 + MAX_MODELS + 3


def test_the_metrics_token_is_compared_whole() -> None:
    token = "a-metrics-token-of-some-length"
    assert token_matches(token, token)
    assert not token_matches(token, token[:-1]) and not token_matches(token, token + "x")
    assert not token_matches(None, token) and not token_matches("", "") and not token_matches(token, None)

