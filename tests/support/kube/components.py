"""Where the control-plane binaries come from, and one running control-plane process.

:func:`kube_binaries` finds (building once, through ``scripts/build-kube``) kube-apiserver,
kube-controller-manager, kube-scheduler and kubectl, and Debian's etcd. :class:`Component`
owns one process started from them: its own process group, its log file, and how it is stopped.
What flags each one gets, and in what order they start, is ``cluster.py``'s business.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-kube"
KUBE_VERSION = "1.20.2"
KUBE_BINARY_NAMES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# SIGTERM first; a component that ignores it this long is killed.
STOP_GRACE_SECONDS = 5.0
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class KubeBinaries:
    """Absolute paths of the executables a :class:`~tests.support.kube.cluster.TestCluster` runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path


def kube_cache_dir() -> Path:
    """The cache ``scripts/build-kube`` fills (same default as the script; keep the two in step)."""
    override = os.environ.get("OPENINSPECT_KUBE_CACHE")
    if override:
        return Path(override)
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "openinspect" / f"kubernetes-{KUBE_VERSION}"


def binaries_cached() -> bool:
    bin_dir = kube_cache_dir() / "bin"
    return all(os.access(bin_dir / name, os.X_OK) for name in KUBE_BINARY_NAMES)


def kube_binaries() -> KubeBinaries:
    """The cached binaries, running ``scripts/build-kube`` first when any is missing (minutes, once)."""
    bin_dir = kube_cache_dir() / "bin"
    if not binaries_cached():
        print(f"kube: building Kubernetes {KUBE_VERSION} with {BUILD_SCRIPT} (once; a few minutes)", file=sys.stderr)
        subprocess.run([str(BUILD_SCRIPT)], check=True)
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(etcd, os.X_OK):
        raise RuntimeError("etcd not found: `apt-get install etcd-server` (scripts/build-kube installs it)")
    return KubeBinaries(
        etcd=Path(etcd),
        kube_apiserver=bin_dir / "kube-apiserver",
        kube_controller_manager=bin_dir / "kube-controller-manager",
        kube_scheduler=bin_dir / "kube-scheduler",
        kubectl=bin_dir / "kubectl",
    )


# Variables that would steer a component elsewhere than this cluster's files and loopback ports.
_STEERING_VARIABLES = frozenset({"KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"})


def component_environment() -> dict[str, str]:
    """This process's environment without ETCD_* and :data:`_STEERING_VARIABLES`."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ETCD_") and name not in _STEERING_VARIABLES
    }


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """``preexec_fn``: SIGKILL the child when the thread that started it dies (Linux), so a test run
    killed with SIGKILL leaves no etcd or sandbox behind. Start children from long-lived threads."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Component:
    """One control-plane process: started in its own process group, output into ``log_path``."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=component_environment(),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> RuntimeError:
        """An error naming this component, with the tail of its log."""
        status = "running" if self.running() else f"exited with {self._process.returncode if self._process else None}"
        return RuntimeError(f"{self.name} ({status}): {what}\n--- {self.log_path} (tail) ---\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after :data:`STOP_GRACE_SECONDS`; idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Children that outlived the leader (none expected) go with the group.
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
