"""The system's Prometheus metrics: what the database holds now, and what this process saw.

Two kinds, on one :class:`~prometheus_client.CollectorRegistry` per running system (never
the library's global registry: tests run several systems in one process, and one system
must not count another's work):

* **Stored state**, read from the database at each scrape (:class:`StoredState`): sessions
  and sandboxes by status, the queue, model calls with their tokens and cost. Every process
  answers the same numbers for these — the web process and a separate worker alike, before
  and after a restart — because the database is the one place they are kept.
* **What happens in this process** (the instruments on :class:`Metrics`): spawn and ready
  latencies, events ingested, bridge connections, errors by code. Run split, the worker
  has its own (served on its bridge port) and the web process its own; Prometheus tells
  them apart by instance. They restart from zero with the process, as counters may.

Prometheus's collectors are synchronous and the database is not, so a scrape reads the
database first and renders after (:meth:`Metrics.scrape`). Label values that come from a
sandbox (error codes, model names) are bounded (:class:`LabelBudget`): a sandbox cannot
make the metrics grow without limit by inventing names.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from openinspect_protocol.status import MessageStatus, SessionStatus
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from openinspect_core.db import Database
from openinspect_core.models import Message, ModelUsage, Sandbox, SandboxStatus, Session

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format
MIN_TOKEN_CHARS = 16
OTHER = "other"  # the label value for whatever is over a label's budget
MAX_LABEL_VALUES = 50  # distinct values one label may take (per process) before OTHER
MAX_MODELS = 20  # models shown by name; the rest are summed as OTHER
# A sandbox's spawn is a backend call (a process, a Job); ready includes clone, setup.sh and the agent's start.
SPAWN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
READY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

ErrorSource = Literal["api", "push", "sandbox", "bridge", "spawn"]
_LABEL_TEXT = re.compile(r"[a-z0-9_]{1,64}")


def token_matches(configured: str | None, presented: str | None) -> bool:
    """Whether ``presented`` is the metrics token (compared in constant time; none configured: never)."""
    if not configured or not presented:
        return False
    return hmac.compare_digest(configured.encode(), presented.encode())


@dataclass
class LabelBudget:
    """At most ``limit`` distinct, plain (``[a-z0-9_]``) values of one label; anything else is OTHER."""

    limit: int = MAX_LABEL_VALUES
    seen: set[str] = field(default_factory=set)

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if not _LABEL_TEXT.fullmatch(value) or len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


@dataclass(frozen=True)
class ModelTotals:
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float


@dataclass(frozen=True)
class Snapshot:
    """The stored state at one moment."""

    sessions: dict[str, int]
    sandboxes: dict[str, int]
    prompts: dict[str, int]  # queued and running prompts
    models: list[ModelTotals]


async def read_snapshot(db: Database) -> Snapshot:
    """Counts by status and the model usage sums: grouped queries, no row is loaded."""
    async with db.session() as s:
        sessions = (await s.exec(select(Session.status, func.count()).group_by(Session.status))).all()
        boxes = (await s.exec(select(Sandbox.status, func.count()).group_by(Sandbox.status))).all()
        prompts = (await s.exec(select(Message.status, func.count()).where(
            col(Message.status).in_((MessageStatus.QUEUED, MessageStatus.RUNNING))).group_by(Message.status))).all()
        usage = (await s.exec(select(  # (sqlmodel's select takes at most four columns)
            ModelUsage.model, func.count(), func.sum(ModelUsage.input_tokens), func.sum(ModelUsage.output_tokens))
            .group_by(ModelUsage.model))).all()
        costs = dict((await s.exec(select(ModelUsage.model, func.sum(ModelUsage.cost))
                                   .group_by(ModelUsage.model))).all())
    return Snapshot(
        sessions={str(status): n for status, n in sessions},
        sandboxes={str(status): n for status, n in boxes},
        prompts={str(status): n for status, n in prompts},
        models=_bounded_models([ModelTotals(m, int(c), int(i or 0), int(o or 0), float(costs.get(m) or 0.0))
                                for m, c, i, o in usage]),
    )


def _bounded_models(totals: list[ModelTotals]) -> list[ModelTotals]:
    """The MAX_MODELS models with the most tokens by name, the rest summed as OTHER (model names come
    from the sandboxes' requests: they cannot add series without limit)."""
    ranked = sorted(totals, key=lambda t: (-(t.input_tokens + t.output_tokens), t.model))
    kept, rest = ranked[:MAX_MODELS], ranked[MAX_MODELS:]
    if rest:
        kept.append(ModelTotals(OTHER, sum(t.calls for t in rest), sum(t.input_tokens for t in rest),
                                sum(t.output_tokens for t in rest), sum(t.cost for t in rest)))
    return kept


class StoredState(Collector):
    """The stored state as metric families, from the last :func:`read_snapshot` (nothing before the first)."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.snapshot: Snapshot | None = None

    async def refresh(self) -> None:
        if self.db is not None:
            self.snapshot = await read_snapshot(self.db)

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        if snap is None:
            return []
        sessions = GaugeMetricFamily("openinspect_sessions", "Sessions by status (archived ones included).",
                                     labels=["status"])
        for session_status in SessionStatus:
            sessions.add_metric([session_status.value], snap.sessions.get(session_status.value, 0))
        sandboxes = GaugeMetricFamily(
            "openinspect_sandboxes", "Sandboxes by status: spawning and connected are starting, ready is running, "
            "stopped and failed have ended (every sandbox ever started is counted once).", labels=["status"])
        for sandbox_status in SandboxStatus:
            sandboxes.add_metric([sandbox_status.value], snap.sandboxes.get(sandbox_status.value, 0))
        queue = GaugeMetricFamily("openinspect_queue_depth", "Prompts waiting in the sessions' queues (queued).",
                                  value=snap.prompts.get(MessageStatus.QUEUED.value, 0))
        running = GaugeMetricFamily("openinspect_prompts_running", "Prompts an agent is working on now.",
                                    value=snap.prompts.get(MessageStatus.RUNNING.value, 0))
        calls = CounterMetricFamily("openinspect_model_calls", "Model calls through the model proxy.",
                                    labels=["model"])
        tokens = CounterMetricFamily("openinspect_model_tokens", "Tokens of model calls through the model proxy "
                                     "(kind: input or output), as the provider reported them.",
                                     labels=["model", "kind"])
        cost = CounterMetricFamily("openinspect_model_cost", "Cost of model calls as the provider stated it "
                                   "(providers that state none count 0).", labels=["model"])
        for t in snap.models:
            calls.add_metric([t.model], t.calls)
            tokens.add_metric([t.model, "input"], t.input_tokens)
            tokens.add_metric([t.model, "output"], t.output_tokens)
            cost.add_metric([t.model], t.cost)
        return [sessions, sandboxes, queue, running, calls, tokens, cost]


class Metrics:
    """One running system's metrics (see the module docstring); ``db`` None: no stored state."""

    def __init__(self, db: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.spawn_seconds = Histogram(
            "openinspect_sandbox_spawn_seconds", "From deciding to start a sandbox to its backend accepting it.",
            buckets=SPAWN_BUCKETS, registry=r)
        self.ready_seconds = Histogram(
            "openinspect_sandbox_ready_seconds", "From a sandbox's creation to its ready event (clone, setup.sh, "
            "start.sh and the agent's start included).", buckets=READY_BUCKETS, registry=r)
        self.events_ingested = Counter(
            "openinspect_events_ingested", "Sandbox events stored by ingestion, by type (heartbeats included).",
            ["type"], registry=r)
        self.bridge_connections = Counter(
            "openinspect_bridge_connections", "Sandbox bridge connections accepted.", registry=r)
        self.bridge_connections_open = Gauge(
            "openinspect_bridge_connections_open", "Sandbox bridge connections open now.", registry=r)
        self._errors = Counter(
            "openinspect_errors", "Errors by where they were met and their code (docs/debugging.md explains each).",
            ["source", "code"], registry=r)
        self._error_codes = LabelBudget()
        self.stored = StoredState(db)
        r.register(self.stored)

    def error(self, source: ErrorSource, code: str) -> None:
        self._errors.labels(source=source, code=self._error_codes(code)).inc()

    async def scrape(self) -> bytes:
        """Prometheus's text format, the stored state read now."""
        await self.stored.refresh()
        return generate_latest(self.registry)
