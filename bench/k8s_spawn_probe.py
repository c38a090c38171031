"""What ``bench/k8s_spawn.py`` records, all on one clock (``time.time()``), and the figures made of it.

* :class:`Marks`: per session, the first moment each named point was reached. Written from the
  event loop and from watch threads, so guarded by a lock.
* :class:`BridgeConnections`: a logging handler on ``backend_jobs.bridge_handler`` that keeps when the
  control plane accepted each sandbox's bridge (``bridge_handler.connected``, logged once the token
  is checked and the row says ``connected``); the time is the log record's own ``created``.
* :class:`ClusterWatch`: the sandbox namespace's Jobs and Pods, listed then watched with the admin
  token (the stand-in kubelet's own ``ListWatch``), each change stamped when it arrives: Job seen,
  Pod created (by the Job controller), bound (by the scheduler), Running (written by the stand-in
  kubelet right after it started the process). ``creationTimestamp``/``startTime`` have a one-second
  resolution; these receive times are milliseconds and on the same clock as everything else.
* :class:`TimedKubernetesBackend` / :class:`TimedLocalBackend`: the real backends, with a spawn that
  notes when it was called and returned, and that may swap the sandbox's agent harness (the burst
  runs a light one, ``OPENINSPECT_AGENT=module:Class``, everything else unchanged).

The rest reads what was recorded: a session's points, the tables, CPU use by process kind,
and the printed report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from kubernetes import client
from openinspect_protocol.logs import fields_of

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from backend_jobs.sandboxes.kubernetes import KubernetesSandboxBackend
from backend_jobs.sandboxes.local import LocalSandboxBackend
from bench.sandbox_start import first_event, first_logged, render_table, stored_at, summarize
from tests.support.kube.rawapi import RawApi
from tests.support.kube.watching import ListWatch

MANAGER_LOGGER = "backend_jobs.bridge_handler"
Points = dict[str, float | None]  # a session's points: wall times, None where not reached
WATCH_JOIN_SECONDS = 10.0


class Marks:
    """``session_id -> point -> first time`` (seconds since the epoch); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self.pod_names: dict[str, str] = {}
        self.config_waits: set[str] = set()  # Pods that waited for their Secret (CreateContainerConfigError)

    def first(self, session_id: str, point: str, at: float | None = None) -> None:
        with self._lock:
            self._points[session_id].setdefault(point, time.time() if at is None else at)

    def of(self, session_id: str) -> dict[str, float]:
        with self._lock:
            return dict(self._points.get(session_id, {}))


class BridgeConnections(logging.Handler):
    """Notes ``bridge_connected`` per session from the bridge handler's own log record."""

    def __init__(self, marks: Marks) -> None:
        super().__init__(logging.INFO)
        self.marks = marks

    def emit(self, record: logging.LogRecord) -> None:
        session_id = fields_of(record).get("session_id")
        if record.getMessage() == "bridge_handler.connected" and session_id:
            self.marks.first(session_id, "bridge_connected", record.created)

    def install(self) -> None:
        logger = logging.getLogger(MANAGER_LOGGER)
        logger.setLevel(logging.INFO)  # the root handlers stay at WARNING (see main)
        logger.addHandler(self)

    def remove(self) -> None:
        logging.getLogger(MANAGER_LOGGER).removeHandler(self)


class ClusterWatch:
    """Receive times of the sandbox Jobs' and Pods' changes, per session (label ``openinspect.dev/session``)."""

    def __init__(self, api_client: client.ApiClient, namespace: str, marks: Marks) -> None:
        self._api = RawApi(api_client)
        self._marks = marks
        self._stop = threading.Event()
        query = {"labelSelector": manifests.SELECTOR}
        self._watches = [
            ListWatch(self._api, f"/apis/batch/v1/namespaces/{namespace}/jobs", query,
                      on_list=self._listed(self._job), on_event=self._job),
            ListWatch(self._api, f"/api/v1/namespaces/{namespace}/pods", query,
                      on_list=self._listed(self._pod), on_event=self._pod),
        ]
        self._threads = [threading.Thread(target=w.run, args=(self._stop,), name="bench-watch", daemon=True)
                         for w in self._watches]

    def start(self) -> None:
        for watch in self._watches:
            watch.sync()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._api.close_watches()
        for thread in self._threads:
            thread.join(WATCH_JOIN_SECONDS)

    @staticmethod
    def _listed(handler: Any) -> Any:
        def on_list(items: list[dict[str, Any]]) -> None:
            for item in items:  # a re-list after 410 Gone: late, but better than nothing
                handler("LISTED", item)
        return on_list

    @staticmethod
    def _session(obj: dict[str, Any]) -> str | None:
        return (obj["metadata"].get("labels") or {}).get(manifests.LABEL_SESSION)

    def _job(self, kind: str, job: dict[str, Any]) -> None:
        session = self._session(job)
        if session and kind != "DELETED":
            self._marks.first(session, "job_seen")

    def _pod(self, kind: str, pod: dict[str, Any]) -> None:
        session = self._session(pod)
        if not session or kind == "DELETED":
            return
        now = time.time()
        self._marks.pod_names.setdefault(session, pod["metadata"]["name"])
        self._marks.first(session, "pod_created", now)
        if pod["spec"].get("nodeName"):
            self._marks.first(session, "pod_scheduled", now)
        status = pod.get("status") or {}
        if status.get("phase") == "Running":
            self._marks.first(session, "pod_running", now)
        for container in status.get("containerStatuses") or []:
            if (container.get("state", {}).get("waiting") or {}).get("reason") == "CreateContainerConfigError":
                self._marks.config_waits.add(session)


# ------------------------------------------------------------------ backends


class _TimedSpawn:
    """Notes ``spawn_called`` / ``spawn_returned``; with ``agent`` set, the sandbox runs that harness."""

    marks: Marks
    agent: str | None = None

    async def spawn(self, spec: SandboxSpec) -> str:
        if self.agent:
            spec = replace(spec, env={**spec.env, "OPENINSPECT_AGENT": self.agent})
        self.marks.first(spec.session_id, "spawn_called")
        external_id: str = await super().spawn(spec)  # type: ignore[misc]
        self.marks.first(spec.session_id, "spawn_returned")
        return external_id


class TimedKubernetesBackend(_TimedSpawn, KubernetesSandboxBackend):
    pass


class TimedLocalBackend(_TimedSpawn, LocalSandboxBackend):
    pass


# ------------------------------------------------------------------ figures (pure)

# Each session's points, in the order they happen. "started": the sandbox runtime's process
# exists (Kubernetes: the Pod is Running, written by the kubelet after it started the process;
# local: spawn returned, which it does once the process is started).
POINTS = (
    ("spawning", "sandbox_spawning row"),
    ("spawn_called", "backend.spawn called"),
    ("job_seen", "Job created (watch)"),
    ("spawn_returned", "backend.spawn returned"),
    ("pod_created", "Pod created (Job controller)"),
    ("pod_scheduled", "Pod bound (scheduler)"),
    ("started", "process started / Pod Running"),
    ("runtime_imported", "runtime imported (entrypoint.starting)"),
    ("bridge_connected", "bridge connected (control plane)"),
    ("first_event", "first sandbox event stored"),
    ("ready", "ready (session_status row)"),
)
LABELS = dict(POINTS)
KUBERNETES_ONLY = frozenset({"job_seen", "pod_created", "pod_scheduled"})


def session_points(kubernetes: bool, marks: dict[str, float], events: list[dict[str, Any]],
                   log: list[dict[str, Any]], posted: float) -> Points:
    """Wall times of one session's points (None: not reached or not seen)."""
    sandbox_event = next((e for e in events if "ts" in e["data"]), None)
    return {
        "post": posted,
        "spawning": stored_at(first_event(events, "sandbox_spawning")),
        "spawn_called": marks.get("spawn_called"),
        "spawn_returned": marks.get("spawn_returned"),
        "job_seen": marks.get("job_seen"),
        "pod_created": marks.get("pod_created"),
        "pod_scheduled": marks.get("pod_scheduled"),
        "started": marks.get("pod_running") if kubernetes else marks.get("spawn_returned"),
        "runtime_imported": first_logged(log, "entrypoint.starting"),
        "bridge_connected": marks.get("bridge_connected"),
        "first_event": stored_at(sandbox_event),
        "ready": stored_at(first_event(events, "session_status", status="ready")),
    }


def spans(samples: list[Points], start: str, end: str) -> list[float]:
    found = [(s.get(start), s.get(end)) for s in samples]
    return [b - a for a, b in found if a is not None and b is not None]


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def spread(values: list[float]) -> str:
    """``median (min-max)`` in ms, or ``-``."""
    if not values:
        return "-"
    s = summarize(values)
    return f"{ms(s.median)} ({ms(s.low)}-{ms(s.high)})"


def milestone_table(local: list[Points], kube: list[Points]) -> str:
    """Each point, from ``POST /api/sessions``: median (min-max) ms per backend."""
    rows = [(f"POST → {label}", "-" if point in KUBERNETES_ONLY else spread(spans(local, "post", point)),
             spread(spans(kube, "post", point))) for point, label in POINTS]
    return render_table(("ms from POST, median (min-max)", "local", "kubernetes"), rows)


STEPS = (
    ("POST → sandbox_spawning row (REST, commit, dispatcher)", "post", "spawning"),
    ("sandbox_spawning row → backend.spawn called", "spawning", "spawn_called"),
    ("backend.spawn, called → returned", "spawn_called", "spawn_returned"),
    ("spawn called → Job created (Secret, Job)", "spawn_called", "job_seen"),
    ("Job created → Pod created (Job controller)", "job_seen", "pod_created"),
    ("Pod created → bound (scheduler)", "pod_created", "pod_scheduled"),
    ("bound → Pod Running (stand-in kubelet)", "pod_scheduled", "started"),
    ("process started → runtime imported", "started", "runtime_imported"),
    ("runtime imported → bridge connected", "runtime_imported", "bridge_connected"),
    ("bridge connected → first sandbox event stored", "bridge_connected", "first_event"),
    ("first sandbox event → ready (clone, setup.sh, agent start)", "first_event", "ready"),
)
SUMMARY_STEPS = (
    ("spawn called → process started / Pod Running", "spawn_called", "started"),
    ("spawn called → bridge connected", "spawn_called", "bridge_connected"),
    ("Job created → Pod Running", "job_seen", "started"),
    ("Job created → bridge connected", "job_seen", "bridge_connected"),
    ("Job created → ready", "job_seen", "ready"),
)


def step_table(local: list[Points], kube: list[Points]) -> str:
    rows = [(label, spread(spans(local, a, b)), spread(spans(kube, a, b))) for label, a, b in (*STEPS, *SUMMARY_STEPS)]
    return render_table(("step, ms median (min-max)", "local", "kubernetes"), rows)


BURST_POINTS = (("answered", "POST /api/sessions answered"), *POINTS)


def most_at_once(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def burst_rows(samples: list[Points], started: float, asked: int,
               kubernetes: bool) -> list[tuple[str, ...]]:
    """Per point: how many reached it, seconds from the burst's start to the first, half and all, per second."""
    rows = []
    for point, label in BURST_POINTS:
        if point in KUBERNETES_ONLY and not kubernetes:
            continue
        times = sorted(t - started for s in samples if (t := s.get(point)) is not None)
        if not times:
            rows.append((label, f"0/{asked}", "-", "-", "-", "-"))
            continue
        rate = len(times) / times[-1] if times[-1] > 0 else float("inf")
        rows.append((label, f"{len(times)}/{asked}", f"{times[0]:.2f}", f"{statistics.median(times):.2f}",
                     f"{times[-1]:.2f}", f"{rate:.1f}"))
    return rows


def burst_table(rows: list[tuple[str, ...]]) -> str:
    return render_table(("point", "reached", "first s", "median s", "all s", "per s (n / all)"), rows)


def failure_counts(reasons: Iterable[str]) -> list[tuple[int, str]]:
    """Failure reasons with ids and names made generic, most frequent first."""
    generic = (re.sub(r"[0-9a-f]{32}", "<id>", reason) for reason in reasons)
    return [(n, reason) for reason, n in Counter(generic).most_common()]


# ------------------------------------------------------------------ CPU

CLUSTER_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
RUNTIMES = "sandbox runtimes (+ their git)"
OWN = "this process: control plane, REST, stand-in kubelet, watches"
EXITED = "this process's exited children (git http-backend, ...)"
MACHINE = "the whole machine (busy)"


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far: this process, its children by kind, and the whole machine.

    Read it before and after a window and subtract (:func:`cpu_used`); a process that both
    started and ended inside the window counts only once its parent has reaped it.
    """
    me = psutil.Process()
    own = me.cpu_times()
    used: defaultdict[str, float] = defaultdict(float)
    used[OWN] = own.user + own.system
    used[EXITED] = own.children_user + own.children_system
    children = me.children(recursive=True)
    runtimes = set()
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "sandbox.entrypoint" in child.cmdline():
                runtimes.add(child.pid)
    for child in children:
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            argv = child.cmdline()
            name = Path(argv[0]).name if argv else ""
            if child.pid in runtimes:
                used[RUNTIMES] += times.user + times.system + times.children_user + times.children_system
            elif any(parent.pid in runtimes for parent in child.parents()):
                used[RUNTIMES] += times.user + times.system
            elif name in CLUSTER_BINARIES:
                used[name] += times.user + times.system
            else:
                used["other children"] += times.user + times.system
    machine = psutil.cpu_times()
    used[MACHINE] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return dict(used)


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}


def cpu_table(used: dict[str, float], window_seconds: float, cores: int) -> str:
    available = window_seconds * cores
    order = [OWN, EXITED, *CLUSTER_BINARIES, RUNTIMES, "other children", MACHINE]
    rows = [(name, f"{used[name]:.1f}", f"{used[name] / available:.0%}") for name in order if name in used]
    return render_table((f"CPU s in {window_seconds:.1f} s x {cores} cores", "CPU s", "of all"), rows)


# ------------------------------------------------------------------ results and the report


@dataclass
class Burst:
    asked: int
    started: float
    samples: list[Points]
    failures: dict[str, str]  # session id -> why it was not ready at the end
    spawns_at_once: int
    runtimes_rss_mib: float  # the sandbox runtimes' resident memory, all together, once all were up
    window_seconds: float  # the first POST -> every session ready or failed
    cpu: dict[str, float]  # CPU seconds used in that window, by what


@dataclass
class Results:
    single: dict[str, list[Points]]
    bursts: dict[str, Burst]
    config_waits: set[str]  # sessions whose Pod first waited for its Secret


def runtimes_rss_mib() -> float:
    """Resident memory of every sandbox runtime process this one started (either backend)."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "sandbox.entrypoint" in child.cmdline():
                total += child.memory_info().rss
    return total / 2**20


def render_report(header: list[str], intro: str, results: Results, light_agent: str) -> str:
    local, kube = results.single["local"], results.single["kubernetes"]
    lines = [
        "", f"Kubernetes sandbox start (test cluster) beside the local backend, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        *header, "", intro, milestone_table(local, kube), "", step_table(local, kube), "",
        f"Pods that first waited for their Secret (CreateContainerConfigError, retried every 0.5 s), bursts "
        f"included: {len(results.config_waits)}, of which failed: "
        f"{sum(len(results.config_waits & b.failures.keys()) for b in results.bursts.values())}",
    ]
    if results.bursts:
        asked = next(iter(results.bursts.values())).asked
        lines += ["", f"Burst: {asked} sessions created at once (concurrent POST /api/sessions), per backend. The "
                  f"sandboxes run the real runtime with OPENINSPECT_AGENT={light_agent} (no OpenCode; the harness "
                  "starts at once) on light.git (README only): clone, then ready. Seconds from the first POST."]
        for name, result in results.bursts.items():
            lines += ["", f"{name}:", burst_table(burst_rows(result.samples, result.started, result.asked,
                                                              name == "kubernetes")),
                      f"most backend.spawn calls in flight at once: {result.spawns_at_once}; sandbox runtimes' "
                      f"RSS together once all were up: {result.runtimes_rss_mib:,.0f} MiB",
                      *(f"  failed ({n}x): {reason}" for n, reason in failure_counts(result.failures.values())),
                      cpu_table(result.cpu, result.window_seconds, os.cpu_count() or 1)]
        lines += ["", "Burst, per sandbox (the same steps, under the burst's load):",
                  step_table(results.bursts["local"].samples, results.bursts["kubernetes"].samples)]
    return "\n".join(lines)
