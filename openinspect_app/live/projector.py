"""Keeps every watched session's shared UI state in step with its stored events.

One task per session that somebody is viewing: it folds new events into a
:class:`TimelineView` and sends viewers only what changed. Reflex re-sends the
whole value of a changed var, so the timeline is not one growing list: the
newest entries are spread over a fixed ring of small *slots* (pages of
``SLOT_SIZE`` entries; ``SLOT_COUNT`` pages form the live window) plus a
one-entry *tail* — the entry that is streaming right now. A new token re-sends
the tail; a new entry re-sends one slot; neither depends on how long the
session is. Older entries leave the window and are loaded on demand, per viewer.

Everything is read from the database after a notification, so a viewer that
joins late, or a burst of notifications, never skips or repeats an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from openinspect_protocol import ProtocolError, PushComplete, SessionTitle
from openinspect_protocol.logs import EventLog
from openinspect_protocol.timeline import (
    SessionArchived,
    SessionRenamed,
    SessionRestored,
    SessionStatusChanged,
    TimelineEvent,
)
from sqlmodel import col, select

from openinspect_app.live.cost_view import read_cost_fields
from openinspect_app.live.presence import PresenceBook
from openinspect_app.live.timeline_view import Entry, TimelineView
from openinspect_app.live.viewer_guard import ViewerGuard
from openinspect_app.routes import slack_thread_url
from openinspect_core.context import AppContext
from openinspect_core.models import Event, Participant, SlackThread, User
from openinspect_core.notify.local import Subscription
from openinspect_core.services import identity, sessions, timeline
from openinspect_core.slack import threads

log = EventLog(__name__)

SLOT_COUNT = 8  # the shared state declares one var per slot (state/session.py; a test keeps them equal)
SLOT_SIZE = 16
READ_BATCH = 1000
PUSH_INTERVAL_SECONDS = 0.05  # coalesce bursts (tokens) into one update per viewer
SWEEP_SECONDS = 2.0  # presence is re-judged this often
REREAD_SECONDS = 15.0  # events are re-read this often even without a notification (they are hints)
# The events that change the session row's fields the page shows (others need not re-read it).
SUMMARY_EVENTS: tuple[type, ...] = (
    SessionStatusChanged, SessionTitle, SessionArchived, SessionRestored, PushComplete, SessionRenamed)
LINGER_SECONDS = 60.0  # keep a projection this long after its last viewer left
ARTIFACTS_SHOWN = 50

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


def slot_var(slot: int) -> str:
    """The name of the shared-state var that holds slot ``slot``."""
    return f"slot_{slot}"


SLOT_VARS: tuple[str, ...] = tuple(slot_var(slot) for slot in range(SLOT_COUNT))


@dataclasses.dataclass
class Window:
    """Which pages of entries sit in which slot; pure bookkeeping."""

    entry_count: int = 0
    first_page: int = 0

    def changes(self, entries: list[Entry], changed: set[int], *, full: bool = False) -> dict[str, Any]:
        total = len(entries)
        body_count = max(total - 1, 0)  # everything but the tail
        last_page = (body_count - 1) // SLOT_SIZE if body_count else 0
        first_page = max(0, last_page - SLOT_COUNT + 1)
        previous_body = max(self.entry_count - 1, 0)
        dirty_pages = {i // SLOT_SIZE for i in changed if i < body_count}
        # Entries that were the tail (or new) and now belong to the body.
        dirty_pages |= {i // SLOT_SIZE for i in range(min(previous_body, body_count), body_count)}
        out: dict[str, Any] = {}
        if full:
            dirty_pages = set(range(first_page, last_page + 1))
        if full or first_page != self.first_page:
            # A page that left the window frees its slot for the new page.
            dirty_pages |= set(range(first_page, last_page + 1)) - set(range(self.first_page, self.first_page
                                                                                + SLOT_COUNT))
            order = [0] * SLOT_COUNT
            for page in range(first_page, first_page + SLOT_COUNT):
                order[page % SLOT_COUNT] = page - first_page
            out["slot_order"] = order
            out["window_start"] = first_page * SLOT_SIZE
        if full:
            for slot in range(SLOT_COUNT):
                out[slot_var(slot)] = []
        for page in sorted(p for p in dirty_pages if first_page <= p <= last_page):
            out[slot_var(page % SLOT_COUNT)] = entries[page * SLOT_SIZE:min((page + 1) * SLOT_SIZE, body_count)]
        if full or total != self.entry_count or (total - 1) in changed:
            out["tail"] = entries[-1:] if total else []
        self.entry_count = total
        self.first_page = first_page
        return out


@dataclasses.dataclass
class Projection:
    session_id: str
    view: TimelineView = dataclasses.field(default_factory=TimelineView)
    window: Window = dataclasses.field(default_factory=Window)
    task: asyncio.Task[None] | None = None
    subscription: Subscription | None = None
    sent: dict[str, Any] = dataclasses.field(default_factory=dict)  # last value published per var
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)  # the session row's fields, as last read
    idle_since: float | None = None


class LiveSessions:
    def __init__(self, context: AppContext, publish: Publish, presence: PresenceBook | None = None) -> None:
        self.context = context
        self.publish = publish
        self.presence = presence or PresenceBook()
        # Tabs linked to each session, unlinked when their sign-in ends (the pages install its ``forget``).
        self.viewers = ViewerGuard(self._sign_in_works)
        self._projections: dict[str, Projection] = {}

    def watch(self, session_id: str) -> None:
        """Make sure the session's shared state is live (called when a viewer joins).

        Never publishes from the caller: a Reflex event handler holds the lock of
        the shared state it is linked to, and publishing waits for that lock.
        """
        projection = self._projections.get(session_id)
        if projection is None:
            projection = self._projections[session_id] = Projection(session_id)
            projection.task = asyncio.create_task(self._run(projection), name=f"live-{session_id}")
        else:
            self.presence_changed(session_id)

    def older(self, session_id: str, before_index: int, count: int) -> list[Entry]:
        """Entries just before ``before_index``, for a viewer scrolling back."""
        projection = self._projections.get(session_id)
        if projection is None:
            return []
        start = max(0, before_index - count)
        return projection.view.entries[start:before_index]

    def presence_changed(self, session_id: str) -> None:
        """Wake the session's projection to publish presence (see ``watch`` on why not publish here).

        Only a poke: presence lives in memory, so no database read follows.
        """
        projection = self._projections.get(session_id)
        if projection is not None and projection.subscription is not None:
            projection.subscription.poke()

    async def close(self) -> None:
        tasks = [p.task for p in self._projections.values() if p.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._projections.clear()

    async def _run(self, projection: Projection) -> None:
        session_id = projection.session_id
        try:
            async with self.context.notifier.subscribe(session_id) as subscription:
                projection.subscription = subscription
                await self._load_participants(session_id)
                await self._catch_up(projection, full=True)
                last_read = self.presence.clock()
                while True:
                    changed = await subscription.wait(SWEEP_SECONDS)
                    # Re-read now and then even unnotified: a notification from another process can be lost.
                    read = bool(changed) or self.presence.clock() - last_read > REREAD_SECONDS
                    if read:
                        last_read = self.presence.clock()
                    await self._catch_up(projection, read_events=read)
                    await self._unlink_signed_out(session_id)
                    if self._should_stop(projection):
                        return
                    await asyncio.sleep(PUSH_INTERVAL_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live.projection_failed", session_id=session_id)
        finally:
            if self._projections.get(session_id) is projection:
                del self._projections[session_id]

    async def _sign_in_works(self, sign_in: str) -> bool:
        async with self.context.db.session() as db:
            return await identity.find_sign_in(db, sign_in) is not None

    async def _unlink_signed_out(self, session_id: str) -> None:
        try:
            gone = await self.viewers.sweep(session_id)
        except Exception:  # a failed sweep is tried again on the next round; the projection goes on
            log.exception("live.viewer_sweep_failed", session_id=session_id)
            return
        for client_token in gone:
            self.presence.leave(session_id, client_token)

    def _should_stop(self, projection: Projection) -> bool:
        now = self.presence.clock()
        if self.presence.viewers(projection.session_id):
            projection.idle_since = None
            return False
        projection.idle_since = projection.idle_since or now
        return now - projection.idle_since > LINGER_SECONDS

    async def _catch_up(self, projection: Projection, *, full: bool = False, read_events: bool = True) -> None:
        """Fold new events in (when asked to read) and publish what changed, presence included."""
        view = projection.view
        out: dict[str, Any] = {}
        if read_events or full:
            changed: set[int] = set()
            summary_changed = False
            async with self.context.db.session() as db:
                while True:
                    rows = await timeline.after(db, projection.session_id, view.last_sequence, READ_BATCH)
                    for row in rows:
                        event = _read(row)
                        if event is None:
                            view.skip(row.sequence)
                            continue
                        changed |= view.apply(row.sequence, event)
                        summary_changed = summary_changed or isinstance(event, SUMMARY_EVENTS)
                    if len(rows) < READ_BATCH:
                        break
                # The session row changes only with these events: a token need not re-read it.
                if full or summary_changed:
                    projection.summary = _summary_fields(await sessions.summary(db, projection.session_id), view,
                                                         await threads.thread_of_session(db, projection.session_id))
                # Spending grows without events (the proxy's rows): read on every read (live/cost_view.py).
                spending = await read_cost_fields(db, projection.session_id,
                                                  self.context.settings.session_spend_limit_usd)
            out = projection.window.changes(view.entries, changed, full=full)
            out.update(spending)
            out.update(projection.summary, queue=view.queue(), artifacts=view.artifacts(ARTIFACTS_SHOWN),
                       pull_request=view.pull_request(), preview_ports=list(view.preview_ports))
            # The verify badge and the Changes panel's cue (live/gate_entries.py).
            out.update(verify=view.verify, verify_detail=view.verify_detail, changes_seq=view.changes_seq)
        out["participants"] = self.presence.snapshot(projection.session_id)
        # Only what differs from what viewers already have (Reflex sends every var that is set).
        fresh = {k: v for k, v in out.items() if full or k.startswith("slot_") or k == "tail"
                 or projection.sent.get(k, _UNSET) != v}
        if not fresh:
            return
        projection.sent.update(fresh)
        await self.publish(projection.session_id, fresh)

    async def _load_participants(self, session_id: str) -> None:
        async with self.context.db.session() as db:
            rows = (await db.exec(select(User.email, User.name).join(Participant, col(Participant.user_id) == User.id)
                                  .where(Participant.session_id == session_id))).all()
        self.presence.know(session_id, dict(rows))


_UNSET = object()


def _read(row: Event) -> TimelineEvent | None:
    """The typed event a row holds; None (and a log line) when it holds none, so one bad row stops nothing."""
    try:
        return timeline.typed(row)
    except (ProtocolError, TypeError) as error:  # TypeError: ``data`` is not an object at all
        log.warning("live.unreadable_event", session_id=row.session_id, sequence=row.sequence, type=row.type,
                    reason=str(error))
        return None


def _summary_fields(summary: sessions.SessionSummary, view: TimelineView,
                    thread: SlackThread | None = None) -> dict[str, Any]:
    session, repo = summary.session, summary.repo
    return {
        "session_id": session.id, "title": session.title or view.title or repo.name,
        "repo": repo.full_name or repo.url, "branch": session.branch or "",
        "status": str(session.status), "status_reason": session.status_reason or "",
        "archived": session.archived_at is not None,
        # A GitHub repository's owner/name ("" for any other) and the session's own branch: with both,
        # the page offers to open a pull request.
        "github_repo": repo.full_name or "", "work_branch": session.work_branch or "",
        "pushed": session.pushed_sha is not None,
        # Where it was started (api, web, slack) and, for a Slack-started one, its thread in Slack.
        "source": session.source,
        "slack_thread": slack_thread_url(thread.channel_id, thread.thread_ts) if thread is not None else "",
    }
