"""A local sandbox's processes as this host sees them: its PID namespace, its runtime, its end.

bwrap makes the namespace and runs its own small init as PID 1 in it, which
starts the command (the sandbox runtime, PID 2) and reaps orphans. When PID 1
ends, the kernel kills every other process of the namespace, and PID 1 becomes
a zombie only once they are all gone. So: the runtime is the one to ask to stop
(SIGTERM), PID 1 the one to kill to end everything, and PID 1 gone (or a
zombie) means nothing of the sandbox runs any more. bwrap itself may return a
moment before that (it reports the runtime's exit status as soon as it has it).

Processes are held as :class:`psutil.Process`, which compares creation times:
a PID the system has reused since is not mistaken for the sandbox's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import psutil
from psutil import Process

__all__ = ["Process", "alive", "first_process", "kill", "ns_pid", "runtime_pid", "signal_pid", "wait_ended"]

RUNTIME_NS_PID = 2  # bwrap's own init is PID 1 of the namespace; the command it starts is PID 2
NAMESPACE_END_SECONDS = 5.0  # the kernel ends a namespace in milliseconds; past this, its first process is killed
POLL_SECONDS = 0.01


def first_process(info: bytes) -> Process | None:
    """The process bwrap's ``--info-fd`` names (``child-pid``): PID 1 of the namespace."""
    try:
        return Process(int(json.loads(info)["child-pid"]))
    except (ValueError, KeyError, TypeError, psutil.Error):
        return None  # bwrap failed before it made the namespace: there is nothing to end


def alive(proc: Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_ended(init: Process | None) -> None:
    """Block until the namespace's first process has gone, killing it if it lingers."""
    if init is None:
        return
    deadline = time.monotonic() + NAMESPACE_END_SECONDS
    while alive(init):
        if time.monotonic() > deadline:
            with contextlib.suppress(psutil.Error):
                init.kill()
            deadline = time.monotonic() + NAMESPACE_END_SECONDS
        time.sleep(POLL_SECONDS)


def runtime_pid(init: Process | None) -> int | None:
    """The host PID of the runtime: the child of the namespace's first process that is PID 2 inside."""
    if init is None or not alive(init):
        return None
    try:
        children = init.children()
    except psutil.Error:
        return None
    for child in children:
        if ns_pid(child.pid) == RUNTIME_NS_PID:
            return child.pid
    return None


def ns_pid(pid: int) -> int | None:
    """A process's PID in its own (innermost) namespace, from ``NSpid`` in /proc/<pid>/status."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def kill(init: Process | None, bwrap_pid: int) -> None:
    """SIGKILL the namespace's first process (the kernel then kills all of the namespace), and bwrap."""
    if init is not None and alive(init):
        with contextlib.suppress(psutil.Error):
            init.kill()
    signal_pid(bwrap_pid, signal.SIGKILL)  # --die-with-parent covers a namespace not made yet


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
