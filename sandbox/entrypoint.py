"""The sandbox process's one composition root: ``python -m sandbox.entrypoint``.

It first makes its own memory unreadable to the sandbox's other processes (they
run as the same user: without this, ``/proc/<pid>/mem`` and ``environ`` of the
runtime would be theirs to read), then reads the environment once into a frozen
:class:`~sandbox.config.SandboxConfig` — taking the bridge token from its file,
which is then removed, before anything is started — drops the secrets from its
own environment, builds every part through its constructor, handing
each only its own sub-config, routes SIGTERM and SIGINT to the supervisor's one
shutdown, and exits with the supervisor's :class:`~sandbox.lifecycle.ExitCode`
(2 when the environment is incomplete, before anything starts).

Agents are picked from :data:`HARNESSES` by name and imported only when chosen;
``OPENINSPECT_AGENT`` may also be ``module:Class`` (a harness outside this
package, e.g. a test double), constructed the same way, with an
:class:`~sandbox.harness.base.AgentConfig`.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import importlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, MutableMapping
from urllib.parse import quote

from openinspect_protocol import logs
from openinspect_protocol.redaction import process_redactor

from sandbox.bridge import Bridge
from sandbox.changes import ChangeReader
from sandbox.config import ConfigError, SandboxConfig, scrubbed_names
from sandbox.git_credentials import CredentialBroker, GitCredentials, broker_url
from sandbox.git_sync import GitRepo, mask_credentials
from sandbox.harness.base import AgentHarness
from sandbox.lifecycle import ExitCode, PromptBook
from sandbox.log_shipper import LogShipper
from sandbox.outbox import Outbox
from sandbox.pull_requests import PullRequestDesk
from sandbox.pushes import BranchPusher
from sandbox.screenshots import ArtifactUploader, ScreenshotDesk
from sandbox.scripts import ScriptRunner
from sandbox.scrubbing import register_runtime_values
from sandbox.secret_guard import CommitGuard
from sandbox.supervisor import Supervisor
from sandbox.verify import TurnChecks

log = logs.EventLog("sandbox.entrypoint")

HARNESSES: dict[str, str] = {
    "opencode": "sandbox.harness.opencode:OpenCodeHarness",
}


def load_harness(name: str) -> type[AgentHarness]:
    """The harness class registered as ``name`` (or named by a ``module:Class`` spec)."""
    spec = HARNESSES.get(name) or (name if ":" in name else None)
    if spec is None:
        raise ConfigError(f"OPENINSPECT_AGENT: unknown agent {name!r}; known: {', '.join(sorted(HARNESSES))}")
    module_name, _, class_name = spec.partition(":")
    try:
        harness_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"OPENINSPECT_AGENT: cannot load {spec!r}: {exc}") from None
    if not (isinstance(harness_class, type) and issubclass(harness_class, AgentHarness)):
        raise ConfigError(f"OPENINSPECT_AGENT: {spec!r} is not an AgentHarness")
    return harness_class


def git_credentials(config: SandboxConfig) -> GitCredentials | None:
    """The broker's credentials for the runtime's own git commands, when the launch spec asks for them."""
    if not config.supervisor.git_credentials:
        return None
    url = broker_url(config.bridge.control_plane_url, quote(config.session_id, safe=""))
    return GitCredentials(CredentialBroker(url, config.bridge.sandbox_token), config.supervisor.repo_url)


def build(config: SandboxConfig) -> Supervisor:
    """Every part of a sandbox, wired; nothing started yet."""
    # One redactor for events, log lines and pushes: the secrets and every token the runtime holds.
    redactor = process_redactor()
    register_runtime_values(redactor, secrets=config.secrets, sandbox_token=config.bridge.sandbox_token,
                            model_proxy_key=config.agent.provider.api_key)
    bridge = Bridge(config.bridge, Outbox(config.max_outbox_events), redactor=redactor)
    # The runtime's own git gets the child environment without the secrets.
    repo = GitRepo(config.repo_dir, env=config.child_env, credentials=git_credentials(config))
    pusher = BranchPusher(repo, bridge.emit, base_branch=config.supervisor.branch, redactor=redactor)
    book = PromptBook()
    desk = None
    agent = config.agent
    if config.supervisor.work_branch:
        desk = PullRequestDesk(config.supervisor.work_branch, pusher, bridge.emit,
                               lambda: book.running.message_id if book.running else None)
        agent = dataclasses.replace(agent, pull_request_socket=str(desk.socket_path))
    # The agent's screenshot tool, in every session: images go up with this sandbox's token.
    screenshots = ScreenshotDesk(ArtifactUploader(config.bridge),
                                 lambda: book.running.message_id if book.running else None)
    agent = dataclasses.replace(agent, screenshot_socket=str(screenshots.socket_path))
    scripts = ScriptRunner(config.repo_dir, env=config.script_env, emit=bridge.emit,
                           max_output_bytes=config.max_script_output_bytes)
    settings = config.supervisor
    # verify.sh gets the scripts' environment (secrets too); the runtime's own diff gets the child's.
    checks = TurnChecks(scripts, ChangeReader(config.repo_dir, env=config.child_env,
                                              max_file_bytes=settings.changes_max_file_bytes,
                                              max_total_bytes=settings.changes_max_total_bytes),
                        bridge.emit, verify_timeout_seconds=settings.verify_timeout_seconds)
    return Supervisor(
        config.supervisor,
        bridge=bridge,
        repo=repo,
        scripts=scripts,
        harness=load_harness(config.agent_name)(agent),
        pusher=pusher,
        pull_requests=desk,
        screenshots=screenshots,
        book=book,
        commit_guard=CommitGuard(repo, config.workspace / "git-hooks", config.secrets),
        log_shipper=ship_logs(bridge),
        checks=checks,
    )


def ship_logs(bridge: Bridge) -> LogShipper:
    """The runtime's own log lines, from now on, also go to the control plane (kept with the session)."""
    shipper = LogShipper(bridge.emit)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, LogShipper)]:
        root.removeHandler(handler)  # one per process, whoever built a sandbox before (tests build several)
    root.addHandler(shipper)
    return shipper


async def serve(supervisor: Supervisor) -> ExitCode:
    """Run ``supervisor`` with SIGTERM/SIGINT routed to its shutdown."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, supervisor.request_shutdown, f"signal {signum.name}")
    try:
        return await supervisor.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


PR_SET_DUMPABLE = 4  # prctl(2), <linux/prctl.h>


def protect_memory() -> bool:
    """Make this process non-dumpable: no process of the same user may then ptrace it or read its
    ``/proc/<pid>/mem``, ``environ`` or open files (the kernel asks for CAP_SYS_PTRACE, which no
    process of a sandbox has). What it starts is dumpable again after ``exec``: they hold no token.
    False where the call is not available (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _drop_secrets(environ: MutableMapping[str, str]) -> None:
    for name in scrubbed_names():
        environ.pop(name, None)


async def _run(config: SandboxConfig) -> ExitCode:
    try:
        supervisor = build(config)
    except ConfigError as exc:
        log.error("entrypoint.config_error", error=str(exc))
        return ExitCode.CONFIG
    return await serve(supervisor)


def main(environ: Mapping[str, str] | None = None) -> int:
    """Read ``environ`` (default: the process's environment), run the sandbox, return the exit code."""
    logs.configure(json_lines=True)
    if environ is None and not protect_memory():
        log.warning("entrypoint.memory_unprotected")  # still runs: the token file is gone all the same
    try:
        config = SandboxConfig.from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        log.error("entrypoint.config_error", error=str(exc))
        return ExitCode.CONFIG
    if environ is None:
        _drop_secrets(os.environ)
    config.agent_state_dir.mkdir(parents=True, exist_ok=True)
    # Every line from here on names the session and sandbox (and is shipped with them to the control plane).
    with logs.bind(session_id=config.session_id, sandbox_id=config.sandbox_id):
        return _start(config)


def _start(config: SandboxConfig) -> int:
    log.info(
        "entrypoint.starting",
        session_id=config.session_id,
        sandbox_id=config.sandbox_id,
        agent=config.agent_name,
        repo_url=mask_credentials(config.supervisor.repo_url),
        branch=config.supervisor.branch,
        workspace=str(config.workspace),
        control_plane_url=mask_credentials(config.bridge.control_plane_url),
    )
    return int(asyncio.run(_run(config)))


if __name__ == "__main__":
    sys.exit(main())
