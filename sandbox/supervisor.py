"""The sandbox's sequence, from connecting to shutting down.

The supervisor owns the order of things and nothing else: it waits for the
bridge's first connection (so progress streams live), syncs the repository,
runs ``setup.sh`` and ``start.sh``, starts the agent, says ``ready``, then runs
prompts one at a time until told to stop. Each step's work belongs to a part it
was given (:class:`~sandbox.git_sync.GitRepo`, :class:`~sandbox.scripts.ScriptRunner`,
the :class:`~sandbox.harness.base.AgentHarness`, the :class:`~sandbox.bridge.Bridge`,
the :class:`~sandbox.pushes.BranchPusher`, the :class:`~sandbox.pull_requests.PullRequestDesk`);
what to do when something happens is decided in :mod:`sandbox.lifecycle`.

GitHub sessions (``work_branch`` set): after the clone the session's branch is
checked out (``git_sync`` names it); ``push`` commands run beside the prompt loop
(a push while a turn runs is fine; the pusher serialises pushes), and
``pull_request_result`` commands go to the desk whose request waits for them.

Exit (:class:`~sandbox.lifecycle.ExitCode`): 0 after a ``shutdown`` command or
:meth:`Supervisor.request_shutdown` (signals); 1 after a fatal ``error`` event
(emitted and flushed first); 3 when the control plane refuses the bridge.
Teardown always closes the harness, ends leftover script processes, flushes
the outbox (bounded by a timeout) and closes the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib

import openinspect_protocol as protocol
from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog
from openinspect_protocol.previews import preview_urls

from sandbox import lifecycle, previews
from sandbox.bridge import Bridge, BridgeCommand, BridgeRejected
from sandbox.config import SupervisorSettings
from sandbox.git_sync import GitError, GitRepo, mask_credentials
from sandbox.harness.base import AgentHarness, AgentStartError
from sandbox.lifecycle import ExitCode, PromptBook, StopAction
from sandbox.log_shipper import LogShipper
from sandbox.pull_requests import PullRequestDesk
from sandbox.pushes import BranchPusher
from sandbox.screenshots import ScreenshotDesk
from sandbox.scripts import ScriptRunner
from sandbox.secret_guard import CommitGuard
from sandbox.verify import TurnChecks

log = EventLog("sandbox.supervisor")

# Why: noticing an agent that died while idle within a second is plenty, and
# reading a flag once a second costs nothing.
AGENT_POLL_INTERVAL_SECONDS = 1.0
# Why: a healthy control plane acks within milliseconds; 10 s covers a reconnect
# without holding a sandbox that is going away anyway.
FLUSH_TIMEOUT_SECONDS = 10.0
# Why: closing the WebSocket takes one round trip; this bounds a dead peer.
BRIDGE_CLOSE_TIMEOUT_SECONDS = 5.0


class _Fatal(Exception):
    """Raised inside the sequence to end it with ``error`` emitted and exit code 1."""

    def __init__(self, error: protocol.ErrorEvent) -> None:
        super().__init__(error.message)
        self.error = error


class Supervisor:
    """Runs the sandbox: start-up stages, the prompt loop, agent restarts, shutdown."""

    def __init__(
        self,
        settings: SupervisorSettings,
        *,
        bridge: Bridge,
        repo: GitRepo,
        scripts: ScriptRunner,
        harness: AgentHarness,
        pusher: BranchPusher | None = None,
        pull_requests: PullRequestDesk | None = None,
        screenshots: ScreenshotDesk | None = None,
        book: PromptBook | None = None,
        commit_guard: CommitGuard | None = None,
        log_shipper: LogShipper | None = None,
        checks: TurnChecks | None = None,
        agent_poll_interval_seconds: float = AGENT_POLL_INTERVAL_SECONDS,
        flush_timeout_seconds: float = FLUSH_TIMEOUT_SECONDS,
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._repo = repo
        self._scripts = scripts
        self._harness = harness
        self._poll_seconds = agent_poll_interval_seconds
        self._flush_seconds = flush_timeout_seconds
        self._emit = bridge.emit
        self._pusher = pusher or BranchPusher(repo, bridge.emit)
        self._pull_requests = pull_requests
        self._screenshots = screenshots
        self._book = book or PromptBook()
        self._commit_guard = commit_guard
        self._log_shipper = log_shipper  # the runtime's own log, shipped to be kept with the session
        self._checks = checks  # verify.sh after turns with commits; the changes after every turn
        self._synced = asyncio.Event()  # pushes wait for the clone
        self._pushes: set[asyncio.Task[object]] = set()
        self._prompt_arrived = asyncio.Event()
        self._shutdown = asyncio.Event()
        self._shutdown_reason = ""
        self._restarts_in_a_row = 0
        self._in_turn = False  # True while harness.run() is running
        self._stop_before_turn = False  # a stop for the running prompt arrived before harness.run()

    def request_shutdown(self, reason: str) -> None:
        """End the sandbox cleanly (a ``shutdown`` command, SIGTERM, SIGINT). Safe to call twice."""
        if not self._shutdown.is_set():
            self._shutdown_reason = reason
            self._shutdown.set()

    async def run(self) -> ExitCode:
        """Run until shutdown or a fatal error; return the process's exit code."""
        bridge_task = asyncio.create_task(self._bridge.run(), name="bridge")
        router = asyncio.create_task(self._route_commands(), name="supervisor.commands")
        work = asyncio.create_task(self._work(), name="supervisor.work")
        shutdown = asyncio.create_task(self._shutdown.wait(), name="supervisor.shutdown")
        shipping = asyncio.create_task(self._log_shipper.run() if self._log_shipper else asyncio.sleep(0),
                                       name="supervisor.log_shipper")
        code = ExitCode.FATAL
        try:
            await asyncio.wait({bridge_task, work, shutdown}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                code = self._work_result(work)
            elif bridge_task.done():
                code = self._bridge_result(bridge_task)
            else:
                log.info("supervisor.shutdown", reason=self._shutdown_reason)
                code = ExitCode.OK
        finally:
            for task in (work, router, shutdown, shipping):
                task.cancel()
            await asyncio.gather(work, router, shutdown, shipping, return_exceptions=True)
            await self._teardown(bridge_task)
        log.info("supervisor.exit", exit_code=int(code))
        return code

    # ---------------------------------------------------------------- outcome

    def _work_result(self, work: asyncio.Task[ExitCode]) -> ExitCode:
        try:
            return work.result()
        except Exception as exc:
            log.exception("supervisor.crashed", error=f"{type(exc).__name__}: {exc}")
            error = exc
        self._emit(protocol.ErrorEvent(code="internal_error", fatal=True,
                                  message=f"the sandbox supervisor failed: {type(error).__name__}: {error}"))
        return ExitCode.FATAL

    def _bridge_result(self, bridge_task: asyncio.Task[None]) -> ExitCode:
        exc = bridge_task.exception()
        if isinstance(exc, BridgeRejected):
            log.error("supervisor.fatal", code="bridge_rejected", status=exc.status_code, reason=exc.body)
            return ExitCode.REJECTED
        log.error("supervisor.fatal", code="bridge_failed", error=repr(exc))
        return ExitCode.FATAL

    async def _teardown(self, bridge_task: asyncio.Task[None]) -> None:
        for push in self._pushes:
            push.cancel()
        await asyncio.gather(*self._pushes, return_exceptions=True)
        if self._pull_requests is not None:
            await self._pull_requests.close()
        if self._screenshots is not None:
            await self._screenshots.close()
        try:
            await self._harness.close()
        except Exception as exc:
            log.warning("supervisor.harness_close_failed", error=f"{type(exc).__name__}: {exc}")
        await self._scripts.close()
        if bridge_task.done():
            if not bridge_task.cancelled():
                bridge_task.exception()  # already reported; retrieved so asyncio does not warn
            return
        if self._log_shipper is not None:
            self._log_shipper.ship_all()  # the lines up to here go with the last flush
        flushed = await self._bridge.flush(self._flush_seconds)
        log.info("supervisor.flushed", complete=flushed, unacked=len(self._bridge.outbox))
        await self._bridge.close()
        try:
            async with asyncio.timeout(BRIDGE_CLOSE_TIMEOUT_SECONDS):
                await asyncio.shield(bridge_task)
        except (TimeoutError, BridgeRejected):
            pass
        finally:
            bridge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, BridgeRejected):
                await bridge_task

    # --------------------------------------------------------------- commands

    async def _route_commands(self) -> None:
        while True:
            command = await self._bridge.commands.get()
            try:
                await self._route(command)
            except Exception:
                log.exception("supervisor.command_failed", type=command.type)

    async def _route(self, command: BridgeCommand) -> None:
        match command:
            case protocol.Prompt():
                if self._book.offer(command) is lifecycle.Offer.DUPLICATE:
                    log.info("supervisor.prompt_duplicate", message_id=command.message_id)
                else:
                    log.info("supervisor.prompt_queued", message_id=command.message_id,
                             request_id=command.request_id, queued=len(self._book.queued))
                    self._prompt_arrived.set()
            case protocol.Stop():
                await self._stop(command)
            case protocol.Shutdown(reason=reason):
                self.request_shutdown(f"shutdown command: {reason}")
            case protocol.Push():
                # Beside the router, so a stop or a prompt is never queued behind a slow push.
                task = asyncio.create_task(self._push(command), name="supervisor.push")
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)
            case protocol.PullRequestResult():
                if self._pull_requests is None or not self._pull_requests.resolve(command):
                    log.warning("supervisor.pull_request_result_unexpected", request_id=command.request_id)

    async def _push(self, command: protocol.Push) -> None:
        await self._synced.wait()
        await self._pusher.push(command.branch, command.message_id)

    async def _stop(self, stop: protocol.Stop) -> None:
        action = self._book.stop_action(stop)
        log.info("supervisor.stop", message_id=stop.message_id, action=action.value)
        match action:
            case StopAction.ABORT_RUNNING if self._in_turn:
                await self._harness.abort()
            case StopAction.ABORT_RUNNING:
                self._stop_before_turn = True
            case StopAction.CANCEL_QUEUED:
                assert stop.message_id is not None
                self._book.cancel_queued(stop.message_id)
                self._emit(protocol.ExecutionComplete(success=False, stopped=True,
                                                      message_id=stop.message_id))
            case StopAction.IGNORE:
                pass

    # --------------------------------------------------------------- sequence

    async def _work(self) -> ExitCode:
        await self._bridge.wait_connected()
        try:
            head_sha = await self._sync()
            self._declare_previews()
            await self._setup()
            await self._start(head_sha)
            await self._serve()
        except _Fatal as fatal:
            log.error("supervisor.fatal", code=fatal.error.code, reason=fatal.error.message)
            self._emit(fatal.error)
            return ExitCode.FATAL
        raise AssertionError("the prompt loop never ends on its own")  # pragma: no cover

    async def _sync(self) -> str | None:
        settings = self._settings
        shown_url = mask_credentials(settings.repo_url)
        self._emit(protocol.StageChanged(stage="syncing"))
        try:
            head_sha = await self._repo.clone(settings.repo_url, settings.branch)
        except GitError as exc:
            self._emit(protocol.GitSync(status="failed", repo_url=shown_url, branch=settings.branch,
                                        detail=str(exc)))
            raise _Fatal(protocol.ErrorEvent(code="git_sync_failed", message=str(exc), fatal=True)) from None
        branch = settings.branch or await self._repo.current_branch()
        if self._checks is not None:  # the changes are measured from where the session started
            self._checks.changes.base_branch, self._checks.changes.start_sha = branch, head_sha
        if settings.work_branch:
            self._pusher.base_branch = branch  # what the session's branch is compared with
            try:
                await self._repo.checkout_work_branch(settings.work_branch)
            except GitError as exc:
                message = f"could not check out the session's branch {settings.work_branch!r}: {exc}"
                self._emit(protocol.GitSync(status="failed", repo_url=shown_url, branch=settings.work_branch,
                                            detail=message))
                raise _Fatal(protocol.ErrorEvent(code="git_sync_failed", message=message, fatal=True)) from None
            branch = settings.work_branch
            head_sha = await self._repo.head_sha()
        self._synced.set()
        self._emit(protocol.GitSync(status="completed", repo_url=shown_url, branch=branch, head_sha=head_sha))
        return head_sha

    def _declare_previews(self) -> None:
        """Report the repository's declared dev servers (``.openinspect/preview.toml``) once, and tell the agent
        where they are; a wrong file is a warning and no preview."""
        declared = previews.read_declaration(self._repo.path)
        if declared is None:
            return
        self._emit(declared)
        if isinstance(declared, protocol.PreviewPorts):
            log.info("supervisor.previews_declared", ports=[p.port for p in declared.ports])
            self._harness.use_previews(preview_urls(declared.ports))
        else:
            log.warning("supervisor.previews_invalid", reason=declared.message)

    async def _setup(self) -> None:
        if not self._scripts.exists("setup"):
            return
        self._emit(protocol.StageChanged(stage="setup"))
        timeout_seconds = self._settings.setup_timeout_seconds
        result = await self._scripts.run("setup", timeout_seconds)
        warning = lifecycle.setup_warning(result, timeout_seconds)
        if warning is not None:
            log.warning("supervisor.setup_failed", reason=warning.message)
            self._emit(warning)

    async def _start(self, head_sha: str | None) -> None:
        self._emit(protocol.StageChanged(stage="starting_agent"))
        if self._scripts.exists("start"):
            timeout_seconds = self._settings.start_timeout_seconds
            result = await self._scripts.run("start", timeout_seconds)
            error = lifecycle.start_error(result, timeout_seconds)
            if error is not None:
                raise _Fatal(error)
        if self._pull_requests is not None:
            await self._pull_requests.start()  # before the agent, whose tool connects to it
        if self._screenshots is not None:
            await self._screenshots.start()  # the same: before the agent
        version, reason = await self._start_agent()
        if version is None:
            raise _Fatal(protocol.ErrorEvent(code="agent_start_failed", fatal=True, message=reason))
        log.info("supervisor.ready", agent=self._harness.name, agent_version=version, head_sha=head_sha)
        self._emit(protocol.Ready(agent=self._harness.name, agent_version=version, head_sha=head_sha))

    async def _start_agent(self) -> tuple[str | None, str]:
        """Start the agent: ``(version, "")``, or ``(None, reason)`` when it did not come up."""
        try:
            return await self._harness.start(), ""
        except AgentStartError as exc:
            reason = str(exc) or "the agent did not start"
        except Exception as exc:
            log.exception("supervisor.agent_start_crashed")
            reason = f"the agent did not start: {type(exc).__name__}: {exc}"
        log.warning("supervisor.agent_start_failed", reason=reason)
        return None, reason

    async def _serve(self) -> None:
        while True:
            self._prompt_arrived.clear()
            prompt = self._book.start_next()
            if prompt is not None:
                await self._run_prompt(prompt)
            if not self._harness.running:
                await self._restart_agent(prompt.message_id if prompt else None)
            elif prompt is not None:
                self._restarts_in_a_row = 0  # a turn ended with the agent alive: it works again
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_seconds):
                        await self._prompt_arrived.wait()

    async def _run_prompt(self, prompt: protocol.Prompt) -> None:
        # Every line of this turn (the harness's and git's too) carries the prompt's ids.
        with logs.bind(message_id=prompt.message_id, request_id=prompt.request_id):
            await self._run_turn(prompt)

    async def _run_turn(self, prompt: protocol.Prompt) -> None:
        message_id = prompt.message_id
        log.info("supervisor.prompt_started", message_id=message_id)
        self._stop_before_turn = False
        try:
            await self._repo.set_attribution(prompt.author, self._settings.bot)
        except GitError as exc:
            log.warning("supervisor.attribution_failed", message_id=message_id, error=str(exc))
            self._emit(protocol.WarningEvent(code="attribution_failed", message_id=message_id,
                                        message=f"commits may not name the prompt's author: {exc}"))
        await self._guard_commits(message_id)
        tips: tuple[str, ...] | None
        try:
            tips = await self._repo.ref_tips()
        except GitError as exc:
            log.warning("supervisor.ref_tips_failed", message_id=message_id, error=str(exc))
            tips = None
        completion = await self._turn(prompt)
        commits = await self._report_commits(message_id, tips) if tips is not None else 0
        await self._check_turn(message_id, commits)
        if self._commit_guard is not None:
            for warning in self._commit_guard.refusals(message_id):
                self._emit(warning)
        self._book.finish()
        self._emit(completion.model_copy(update={"message_id": message_id}))
        log.info("supervisor.prompt_finished", message_id=message_id, success=completion.success,
                 stopped=completion.stopped)

    async def _guard_commits(self, message_id: str) -> None:
        """(Re)install the pre-commit hook before each turn (a script may have moved core.hooksPath)."""
        if self._commit_guard is None:
            return
        try:
            await self._commit_guard.install()
        except (GitError, OSError) as exc:
            log.warning("supervisor.commit_guard_failed", message_id=message_id, error=str(exc))
            self._emit(protocol.WarningEvent(code="commit_guard_failed", message_id=message_id,
                                             message=f"commits are not checked for secrets in this turn: {exc}"))

    async def _turn(self, prompt: protocol.Prompt) -> protocol.ExecutionComplete:
        if self._stop_before_turn:
            return protocol.ExecutionComplete(success=False, stopped=True)
        self._in_turn = True
        try:
            return await self._harness.run(prompt, self._emit)
        except Exception as exc:
            log.exception("supervisor.turn_crashed", message_id=prompt.message_id)
            return protocol.ExecutionComplete(success=False,
                                              error=f"the agent harness failed: {type(exc).__name__}: {exc}")
        finally:
            self._in_turn = False

    async def _check_turn(self, message_id: str, commits: int) -> None:
        """verify.sh when the turn made commits, then the session's changes (sandbox/verify.py)."""
        if self._checks is None:
            return
        if commits:
            await self._checks.verify(message_id, await self._repo.head_sha())
        await self._checks.report_changes(message_id)

    async def _report_commits(self, message_id: str, tips: tuple[str, ...]) -> int:
        """Emit each commit the turn made as an ``artifact``; return how many there were."""
        try:
            commits = await self._repo.commits_since(tips)
        except GitError as exc:
            log.warning("supervisor.commits_unreadable", message_id=message_id, error=str(exc))
            return 0
        for commit in commits:
            self._emit(protocol.Artifact(
                kind="commit",
                ref=commit.sha,
                message_id=message_id,
                data={
                    "subject": commit.subject,
                    "author_name": commit.author_name,
                    "author_email": commit.author_email,
                    "committer_name": commit.committer_name,
                    "committer_email": commit.committer_email,
                },
            ))
        return len(commits)

    async def _restart_agent(self, message_id: str | None) -> None:
        """The agent process is gone: restart it, or raise :class:`_Fatal` after too many tries."""
        max_restarts = lifecycle.MAX_AGENT_RESTARTS
        give_up = lifecycle.AgentExitDecision.GIVE_UP
        log.warning("supervisor.agent_exited", message_id=message_id, restarts_in_a_row=self._restarts_in_a_row)
        if lifecycle.after_agent_exit(self._restarts_in_a_row, max_restarts) is give_up:
            raise _Fatal(lifecycle.agent_gave_up_error(max_restarts))
        self._emit(lifecycle.agent_exited_error(self._restarts_in_a_row + 1, max_restarts, message_id))
        while True:
            self._restarts_in_a_row += 1
            version, reason = await self._start_agent()
            if version is not None:
                log.info("supervisor.agent_restarted", agent_version=version, attempt=self._restarts_in_a_row)
                return
            self._emit(protocol.ErrorEvent(code="agent_start_failed", message=reason))
            if lifecycle.after_agent_exit(self._restarts_in_a_row, max_restarts) is give_up:
                raise _Fatal(lifecycle.agent_gave_up_error(max_restarts))
