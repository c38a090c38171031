"""One container of a Pod on the stand-in node, as a local process: :class:`Container`, :class:`Launcher`.

A :class:`Container` holds what kubelet reports of it (state, last state, restart count) and its
process; a :class:`Launcher` starts one with the Pod's local paths and environment, and
:func:`reap` records its exit. Which containers run, in which order, is :class:`PodRunner`'s
business (``pod_runner.py``): init containers one by one to completion, then the others together.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kube import podspec
from tests.support.kube.components import die_with_parent
from tests.support.kube.podspec import Json

RESTART_DELAY_SECONDS = 1.0  # kubelet's CrashLoopBackOff starts at 10 s; tests need no wait that long


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    spec: Json
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    state: Json = field(default_factory=lambda: podspec.waiting_state("ContainerCreating"))
    last_state: Json = field(default_factory=dict)
    restart_count: int = 0
    restart_at: float | None = None
    started_at: str = ""
    env: dict[str, str] = field(default_factory=dict)  # the container's own variables, resolved

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def container_id(self) -> str:
        return f"standin://{self.process.pid}" if self.process else ""

    @property
    def exit_code(self) -> int | None:
        """The exit code once it has terminated; None while it waits or runs."""
        terminated = self.state.get("terminated")
        return None if terminated is None else terminated.get("exitCode", 1)

    def status(self) -> Json:
        running = "running" in self.state
        entry: Json = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": running,
            "started": running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.process:
            entry["containerID"] = self.container_id
        return entry


@dataclass(frozen=True)
class Launcher:
    """Starts a Pod's containers: its paths mapped to local directories, its own environment."""

    base_env: Mapping[str, str]
    python_bin_dir: str
    image_paths: tuple[str, ...]  # host dirs playing the image's files: never mapped
    home: Path  # the Pod's HOME and fallback working directory
    hostname: str

    def start(self, container: Container, mounts: Mapping[str, str]) -> None:
        """Run ``command`` + ``args`` in its own process group; a command that cannot start: StartError."""
        spec = container.spec

        def local(path: str) -> str:
            return podspec.map_mount_paths(path, mounts, self.image_paths)

        env = {**self.base_env, **{k: local(v) for k, v in container.env.items()}}
        env["PATH"] = f"{self.python_bin_dir}:{env.get('PATH', os.defpath)}"
        env.setdefault("HOSTNAME", self.hostname)
        env.setdefault("HOME", str(self.home))
        argv = [local(podspec.expand_references(arg, container.env)) for arg in podspec.container_argv(spec)]
        workdir = local(spec["workingDir"]) if spec.get("workingDir") else ""
        if not workdir or not Path(workdir).is_dir():
            workdir = str(self.home)
        container.log_path.parent.mkdir(parents=True, exist_ok=True)
        container.started_at = now_rfc3339()
        try:
            with container.log_path.open("ab") as output:
                container.process = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # the runner thread outlives its processes
                )
        except OSError as exc:
            container.process = None
            container.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": f"{argv[0]}: {exc}",
                    "startedAt": container.started_at,
                    "finishedAt": now_rfc3339(),
                }
            }
            return
        container.state = podspec.running_state(container.started_at)


def reap(container: Container, restart_policy: str) -> bool:
    """Record a container that exited; schedule its restart if the policy says so."""
    process = container.process
    if process is None or "running" not in container.state or process.poll() is None:
        return False
    exit_code = podspec.exit_code_of(process.returncode)
    output = container.log_path.read_text(errors="replace") if container.log_path.exists() else ""
    container.state = podspec.terminated_state(
        exit_code, container.started_at, now_rfc3339(), podspec.termination_message(output), container.container_id
    )
    if restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0):
        container.restart_at = time.monotonic() + RESTART_DELAY_SECONDS
    return True


def restart(container: Container, launcher: Launcher, mounts: Mapping[str, str]) -> None:
    """Run it again, as kubelet restarts a container: its last state and a restart counted."""
    container.restart_at = None
    container.last_state = container.state
    container.restart_count += 1
    launcher.start(container, mounts)


def signal_group(process: subprocess.Popen[Any], signum: signal.Signals) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
