"""Reports every Slack-started session in its thread: one status message updated in place, and replies.

The database is the truth and a notification only says where to look, as for
the web's live view (``openinspect_app/live/projector.py``): one task listens
to "session X changed" for every session and wakes the :class:`_Follower` of X
when X has a :class:`~openinspect_core.models.SlackThread`; a sweep every
:data:`SWEEP_SECONDS` also wakes every thread whose session has events past
the thread's stored position (a notification from another process can be
lost, and after a restart this is how reporting goes on where it stopped).

A follower folds its session's timeline into a
:class:`~backend_jobs.slack.thread_state.ThreadState` — from the first event,
quietly up to ``SlackThread.reported_event_seq``, so a restart neither repeats
a reply nor loses the state a later reply needs — then, in one task per
thread (so its Slack calls never race):

- the status message: posted once (``status_ts``), then ``chat.update`` at
  most once per ``min_update_seconds`` with the newest state (what happened
  in between is coalesced away), and only when its face changed;
- the replies, in order; the stored position moves past a reply only once
  Slack has it (at least once: a crash between the post and the save repeats
  one reply, never loses one).

Slack being slow, rate-limiting (429 ``Retry-After``, honoured per method) or
down never reaches a session: every call happens here, in the reporter's own
tasks, and a failure is a ``slack.update_failed`` warning and a retry later
(backing off to :data:`MAX_BACKOFF_SECONDS`) that catches up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from openinspect_protocol import ProtocolError, logs
from openinspect_protocol.logs import EventLog
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import col, select

from backend_jobs.slack.slack_calls import POST, UPDATE, Outcome, Result, SlackCalls
from backend_jobs.slack.status_blocks import SlackMessage, ThreadHeader, reply_message, status_message
from backend_jobs.slack.thread_state import Reply, ThreadState
from openinspect_core.context import AppContext
from openinspect_core.models import Repo, Session, SlackThread, utcnow
from openinspect_core.services import timeline
from openinspect_core.slack import threads

log = EventLog(__name__)

READ_BATCH = 1000
SWEEP_SECONDS = 15.0  # threads with unreported events are looked for this often even without a notification
SWEEP_LIMIT = 500
ROUND_GAP_SECONDS = 0.1  # a burst of notifications (streamed tokens) is read in one round
LINGER_SECONDS = 300.0  # a follower with nothing to do ends after this; the next event starts it again
PUSH_WAIT_SECONDS = 30.0  # how long a finished prompt's reply waits for its commits' push
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0  # Slack down: a thread tries again at most this far apart
SAVE_EVERY_SECONDS = 5.0  # the position past quiet events is stored this often (replies save at once)
SESSION_STARTED_WAIT_SECONDS = 5.0  # session_started waits this long for the status message, then goes on
UNPOSTED_STATUS_DAYS = 1  # a thread whose status message could never be posted is retried this long
KNOWN_SESSIONS_MAX = 10_000  # remembered "no thread" answers (a session gets its thread when it is made)


@dataclass
class _Thread:
    """What the follower knows of its SlackThread row (and keeps in step with what it stores)."""

    channel_id: str
    thread_ts: str
    status_ts: str | None
    status_text: str | None
    reported_event_seq: int


class Reporter:
    """Follows every session that has a Slack thread and keeps the thread current (see the module doc)."""

    def __init__(self, context: AppContext, client: AsyncWebClient, *, min_update_seconds: float = 1.0,
                 sweep_seconds: float = SWEEP_SECONDS, push_wait_seconds: float = PUSH_WAIT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.context = context
        self.calls = SlackCalls(client, clock=clock)
        self.min_update_seconds = min_update_seconds
        self.sweep_seconds = sweep_seconds
        self.push_wait_seconds = push_wait_seconds
        self.clock = clock
        self._followers: dict[str, _Follower] = {}
        self._no_thread: set[str] = set()  # sessions known to have no Slack thread
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        """Listen for changes and catch up on every thread with unreported events; returns once listening."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="slack-reporter")
            await self._listening.wait()

    async def close(self) -> None:
        tasks = {task for task in (self._task, *(f.task for f in self._followers.values())) if task is not None}
        while tasks:
            for task in tasks:
                task.cancel()
            # Again if need be: a cancel that meets a wake-up in asyncio.wait_for (the notifier's) can be lost.
            _, tasks = await asyncio.wait(tasks, timeout=1.0)
        self._task = None
        self._followers.clear()

    async def session_started(self, session_id: str) -> None:
        """Post the session's status message in its thread now (waits a little for it, never fails)."""
        try:
            follower = self._follow(session_id)
            if follower.thread is not None and follower.thread.status_ts is not None:
                return
            done = follower.next_round()
            await asyncio.wait({done}, timeout=SESSION_STARTED_WAIT_SECONDS)
        except Exception:  # the session is started; its thread catches up by itself
            log.exception("slack.reporter_failed", session_id=session_id)

    def poke(self, session_id: str) -> None:
        """Look at the session again now (a hint, like a notification)."""
        self._follow(session_id)

    # ------------------------------------------------------------ listening

    async def _listen(self) -> None:
        while True:
            try:
                async with self.context.notifier.subscribe() as subscription:
                    self._listening.set()
                    await self._sweep()
                    swept = self.clock()
                    while True:
                        changed = await subscription.wait(self.sweep_seconds)
                        if changed:
                            await self._wake(changed)
                        if self.clock() - swept >= self.sweep_seconds:
                            await self._sweep()
                            swept = self.clock()
                        await asyncio.sleep(ROUND_GAP_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: listen again, lose only hints (the sweep finds the rest)
                log.exception("slack.reporter_failed")
                self._listening.set()
                await asyncio.sleep(BASE_BACKOFF_SECONDS)

    async def _wake(self, session_ids: Iterable[str]) -> None:
        unknown = [sid for sid in session_ids if sid not in self._followers and sid not in self._no_thread]
        if unknown:
            async with self.context.db.session() as db:
                found = await threads.threads_of_sessions(db, unknown)
            if len(self._no_thread) > KNOWN_SESSIONS_MAX:
                self._no_thread.clear()
            self._no_thread.update(sid for sid in unknown if sid not in found)
        for sid in session_ids:
            if sid in self._followers or sid not in self._no_thread:
                self._follow(sid)

    async def _sweep(self) -> None:
        """Wake the threads the database says are behind: events past their position, or no status message."""
        recent = utcnow() - timedelta(days=UNPOSTED_STATUS_DAYS)
        async with self.context.db.session() as db:
            rows = await db.exec(
                select(SlackThread.session_id).join(Session, col(Session.id) == SlackThread.session_id)
                .where(sa.or_(col(Session.last_event_seq) > col(SlackThread.reported_event_seq),
                              sa.and_(col(SlackThread.status_ts).is_(None), col(SlackThread.created_at) > recent)))
                .limit(SWEEP_LIMIT))
            behind = list(rows.all())
        for session_id in behind:
            self._follow(session_id)

    def _follow(self, session_id: str) -> _Follower:
        self._no_thread.discard(session_id)
        follower = self._followers.get(session_id)
        if follower is None or follower.task is None or follower.task.done():
            follower = self._followers[session_id] = _Follower(self, session_id)
            with logs.bind(session_id=session_id):
                follower.task = asyncio.create_task(follower.run(), name=f"slack-thread-{session_id}")
        follower.wake.set()
        return follower

    def _ended(self, follower: _Follower) -> None:
        if self._followers.get(follower.session_id) is follower:
            del self._followers[follower.session_id]


class _Follower:
    """One session's thread: folds its events, talks to Slack for it, stores how far it got."""

    def __init__(self, reporter: Reporter, session_id: str) -> None:
        self.reporter = reporter
        self.session_id = session_id
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.thread: _Thread | None = None
        self.header: ThreadHeader | None = None
        self.state = ThreadState()
        self.quiet_through = 0  # replies for events up to here were given before (a restart folds them again)
        self.outbox: list[Reply] = []
        self.last_update_at = -float("inf")
        self.retry_at = 0.0
        self.failures = 0
        self.gone = False  # the channel is closed to us: fold on, say nothing
        self.held_since: float | None = None
        self.saved_at = -float("inf")
        self.idle_since: float | None = None
        self._round_waiters: list[asyncio.Future[None]] = []

    def next_round(self) -> asyncio.Future[None]:
        """Done when the next round (begun after this call) has ended."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._round_waiters.append(future)
        self.wake.set()
        return future

    async def run(self) -> None:
        clock = self.reporter.clock
        try:
            while True:
                self.wake.clear()
                waiters, self._round_waiters = self._round_waiters, []
                seen = self.state.last_sequence
                try:
                    if not await self._round():
                        self.reporter._no_thread.add(self.session_id)
                        return  # the session has no thread (or no longer exists)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database failed, or a bug: try again later, never end the reporter
                    log.exception("slack.reporter_failed", session_id=self.session_id)
                    self._back_off()
                finally:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                due = self._due_in()
                if self.state.last_sequence != seen:
                    self.idle_since = None  # the session goes on: so does its follower
                if due is None:
                    self.idle_since = self.idle_since or clock()
                    if clock() - self.idle_since >= LINGER_SECONDS:
                        return
                    due = LINGER_SECONDS
                else:
                    self.idle_since = None
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that meets a set event.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(due, 0.0)):
                        await self.wake.wait()
                await asyncio.sleep(ROUND_GAP_SECONDS)
        finally:
            for waiter in self._round_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self.reporter._ended(self)

    # ---------------------------------------------------------------- round

    async def _round(self) -> bool:
        """Read, fold, tell Slack, store. False when there is nothing to follow."""
        if self.thread is None and not await self._load():
            return False
        await self._read()
        now = self.reporter.clock()
        if self.state.held is None:
            self.held_since = None
        elif self.held_since is None:
            self.held_since = now
        elif now - self.held_since >= self.reporter.push_wait_seconds:
            self._queue(self.state.release())  # no push came: the reply goes without the PR button
            self.held_since = None
        posted = False
        if not self.gone and now >= self.retry_at:
            posted = await self._tell_slack()
        if self.gone:  # nothing can be said there: fold on quietly, and store it all as reported (no retries)
            self.state.release()
            self.outbox.clear()
        await self._save(force=posted or (self.gone and self._unsaved()))
        return True

    async def _load(self) -> bool:
        async with self.reporter.context.db.session() as db:
            row = (await db.exec(
                select(SlackThread, Session, Repo).join(Session, col(Session.id) == SlackThread.session_id)
                .join(Repo, col(Repo.id) == Session.repo_id).where(SlackThread.session_id == self.session_id)
            )).first()
        if row is None:
            return False
        thread, session, repo = row
        self.thread = _Thread(thread.channel_id, thread.thread_ts, thread.status_ts, thread.status_text,
                              thread.reported_event_seq)
        self.quiet_through = thread.reported_event_seq
        origin = self.reporter.context.settings.origin
        self.header = ThreadHeader(
            session_id=session.id, session_url=f"{origin}/sessions/{session.id}",
            repository=repo.full_name or repo.url,
            repository_url=repo.url.removesuffix(".git") if repo.full_name else None,
            slack_user_id=thread.slack_user_id)
        self.state = ThreadState(pushes=session.work_branch is not None and repo.full_name is not None)
        return True

    async def _read(self) -> None:
        async with self.reporter.context.db.session() as db:
            while True:
                rows = await timeline.after(db, self.session_id, self.state.last_sequence, READ_BATCH)
                for row in rows:
                    try:
                        event = timeline.typed(row)
                    except (ProtocolError, TypeError) as error:  # one bad row stops nothing
                        log.warning("slack.unreadable_event", session_id=self.session_id, sequence=row.sequence,
                                    type=row.type, reason=str(error)[:300])
                        self.state.skip(row.sequence)
                        continue
                    self._queue(self.state.apply(row.sequence, event))
                if len(rows) < READ_BATCH:
                    return

    def _queue(self, replies: list[Reply]) -> None:
        # Replies for events the thread reported before a restart were posted then: folded, not said again.
        self.outbox.extend(reply for reply in replies if reply.sequence > self.quiet_through)

    async def _tell_slack(self) -> bool:
        """The status message first (posted, or brought up to date), then the replies in order.

        True when something Slack took must be stored now (a new status, a reply posted).
        """
        assert self.thread is not None and self.header is not None
        thread, calls, now = self.thread, self.reporter.calls, self.reporter.clock()
        status = self.state.status()
        fingerprint = status.fingerprint()
        stored = False
        if thread.status_ts is None and calls.quiet_seconds(POST) > 0:
            return stored  # rate-limited: the status message (then the replies) when Retry-After is over
        if thread.status_ts is None or (fingerprint != thread.status_text and calls.quiet_seconds(UPDATE) == 0
                                        and now - self.last_update_at >= self.reporter.min_update_seconds):
            result = await self._status_call(thread, status_message(status, self.header))
            if result.outcome is Outcome.OK or (result.outcome is Outcome.REFUSED and thread.status_ts is not None):
                thread.status_text, stored = fingerprint, True  # (a refused face is not tried again)
            elif thread.status_ts is None or result.outcome is not Outcome.RATE_LIMITED:
                return stored  # the replies wait for the status message (first in the thread), or for Slack
        while self.outbox and calls.quiet_seconds(POST) == 0:
            reply = self.outbox[0]
            result = await calls.post(thread.channel_id, thread.thread_ts,
                                                    reply_message(reply, self.header))
            if not self._handled(result, POST, reply=type(reply).__name__):
                return stored
            self.outbox.pop(0)
            stored = True
        self.failures = 0
        return stored

    async def _status_call(self, thread: _Thread, message: SlackMessage) -> Result:
        """Post or update the status message (a deleted one is posted again)."""
        calls = self.reporter.calls
        if thread.status_ts is not None:
            result = await calls.update(thread.channel_id, thread.status_ts, message)
            self.last_update_at = self.reporter.clock()
            if result.outcome is not Outcome.MESSAGE_GONE:
                self._handled(result, UPDATE)
                return result
            log.info("slack.status_reposted", session_id=self.session_id, reason=result.error)
        result = await calls.post(thread.channel_id, thread.thread_ts, message)
        self.last_update_at = self.reporter.clock()
        if self._handled(result, POST) and result.outcome is Outcome.OK and result.ts is not None:
            thread.status_ts = result.ts
            log.info("slack.status_posted", session_id=self.session_id, channel=thread.channel_id, ts=result.ts)
            return result
        return result if result.outcome is not Outcome.OK else Result(Outcome.REFUSED, error="no_ts")

    def _handled(self, result: Result, method: str, *, reply: str = "") -> bool:
        """True when the call's message is done with (taken, or refused for good); else retried later."""
        match result.outcome:
            case Outcome.OK:
                return True
            case Outcome.RATE_LIMITED:  # SlackCalls keeps the method quiet for Retry-After
                log.info("slack.rate_limited", session_id=self.session_id, method=method,
                         retry_after_seconds=round(result.retry_after_seconds, 1))
                return False
            case Outcome.UNAVAILABLE | Outcome.MESSAGE_GONE:
                log.warning("slack.update_failed", session_id=self.session_id, method=method, error=result.error,
                            attempt=self.failures + 1)
                self._back_off()
                return False
            case Outcome.THREAD_GONE:
                log.warning("slack.thread_unreachable", session_id=self.session_id, method=method,
                            error=result.error, channel=self.thread.channel_id if self.thread else "")
                self.gone = True
                self.outbox.clear()
                return False
            case Outcome.REFUSED:
                # Slack refused this very message (our bug): drop it so that the rest still gets through.
                log.error("slack.message_refused", session_id=self.session_id, method=method, error=result.error,
                          reply=reply or "status")
                self._back_off()  # a status message that cannot be posted is not tried again at once
                return True

    def _back_off(self) -> None:
        self.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** min(self.failures - 1, 10))
        self.retry_at = self.reporter.clock() + delay

    def _due_in(self) -> float | None:
        """Seconds until this thread has something to do without a new event; None: nothing to do."""
        if self.thread is None:
            return None
        calls, now, waits = self.reporter.calls, self.reporter.clock(), []
        if not self.gone:
            if self.thread.status_ts is None:
                waits.append(max(self.retry_at - now, calls.quiet_seconds(POST)))
            elif self.state.status().fingerprint() != self.thread.status_text:
                update_at = self.last_update_at + self.reporter.min_update_seconds
                waits.append(max(self.retry_at, update_at) - now + calls.quiet_seconds(UPDATE))
            if self.outbox:
                waits.append(max(self.retry_at - now, calls.quiet_seconds(POST)))
        if self.held_since is not None:
            waits.append(self.held_since + self.reporter.push_wait_seconds - now)
        if self._unsaved():
            waits.append(self.saved_at + SAVE_EVERY_SECONDS - now)
        return max(0.0, min(waits)) if waits else None

    def _position(self) -> int:
        position = self.state.safe_position()
        if self.outbox:
            position = min(position, self.outbox[0].sequence - 1)
        return position

    def _unsaved(self) -> bool:
        return self.thread is not None and self._position() > self.thread.reported_event_seq

    async def _save(self, *, force: bool) -> None:
        assert self.thread is not None
        thread, now = self.thread, self.reporter.clock()
        position = self._position()
        if not force and not (self._unsaved() and now - self.saved_at >= SAVE_EVERY_SECONDS):
            return
        async with self.reporter.context.db.writer() as db:
            await threads.save_status(db, self.session_id, status_ts=thread.status_ts, status_text=thread.status_text,
                                      reported_event_seq=position)
            await db.commit()
        thread.reported_event_seq = max(thread.reported_event_seq, position)
        self.saved_at = now
