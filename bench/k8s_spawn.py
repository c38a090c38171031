"""Sandbox start on the Kubernetes backend (test cluster), beside the local backend.

Run from the project root; it prints figures and asserts nothing (what they mean:
docs/performance.md, "Kubernetes sandbox start (test cluster)")::

    python -m bench.k8s_spawn [--runs 5] [--warmup 1] [--burst 50] [--database-url URL]

It starts the test cluster (``tests/support/kube``: etcd, kube-apiserver,
controller-manager and scheduler 1.20.2 on loopback) with the stand-in kubelet
(each Pod's command as a local process), applies ``k8s/base`` namespaces, RBAC
and sandbox quota, and runs two embedded systems in this process, one per
backend: Kubernetes (as the worker's ServiceAccount, the Role from
``k8s/base/rbac.yaml``) and local. Both clone the same repository over git HTTP
and use the scripted model.

* **per sandbox** (``--runs``, alternating local and Kubernetes): the real
  sandbox runtime and OpenCode; ``POST /api/sessions`` → ``ready`` on the
  session's SSE stream, then the sandbox is stopped (and, on Kubernetes, its Pod
  gone) before the next run.
* **burst** (``--burst`` sessions created at once through the REST API, per
  backend): the real sandbox runtime with a light agent harness
  (``OPENINSPECT_AGENT=tests.sandbox.doubles:ScriptedHarness``, no OpenCode) on
  a one-file repository, so the spawn path is what is measured; how many
  sandboxes per second reach each point.

The points come from ``bench/k8s_spawn_probe.py``: stored events' ``created_at``,
the runtime's JSON log, the bridge handler's ``bridge_handler.connected`` log record, and
receive times of Job/Pod watch events, all ``time.time()`` on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from backend_jobs.control_plane import ControlPlane
from backend_jobs.sandboxes import kubernetes_manifests as manifests
from bench.k8s_spawn_probe import (
    BridgeConnections,
    Burst,
    ClusterWatch,
    Marks,
    Points,
    Results,
    TimedKubernetesBackend,
    TimedLocalBackend,
    cpu_seconds,
    cpu_used,
    most_at_once,
    render_report,
    runtimes_rss_mib,
    session_points,
)
from bench.sandbox_start import (
    PROJECT_ROOT,
    REPO_FILES,
    RunFailed,
    StreamRecorder,
    database,
    first_event,
    log_records,
    machine_description,
    timeline_text,
    version_of,
)
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.fakes.scripted_model import ScriptedModel
from tests.support.git_http import serve_git_http
from tests.support.http import serve_http
from tests.support.kube.cluster import TestCluster
from tests.support.kube.kubelet import StandInKubelet
from tests.support.kube.waiting import wait_until
from tests.support.system import make_repo

DEFAULT_RUNS, DEFAULT_WARMUP_RUNS, DEFAULT_BURST = 5, 1, 50
MODEL = "openinspect/scripted"
LIGHT_AGENT = "tests.sandbox.doubles:ScriptedHarness"  # the sandbox runtime's test double: starts at once
SANDBOX_NAMESPACE = "openinspect-sandboxes"
MANIFESTS = ("namespaces.yaml", "rbac.yaml", "sandbox-quota.yaml")
# The tests' Pod sizes: 50 Pods at the default 500m CPU request would not fit the stand-in node's 16 CPUs.
POD = manifests.PodSettings.parse(namespace=SANDBOX_NAMESPACE, image="openinspect/sandbox:bench", cpu="100m/1",
                                  memory="256Mi/2Gi", active_deadline_seconds=900, ttl_seconds_after_finished=60)
# Why 120: one start takes a few seconds; past two minutes something is broken.
WAIT_SECONDS = 120.0
# Why 120: fifty starts took under 20 s here; a session not ended after two minutes is stuck.
BURST_WAIT_SECONDS = 120.0
POLL_SECONDS = 0.25
# A sandbox the backend ends just as it got ready shows as failed a moment later: wait that long for it.
SETTLE_SECONDS = 2.0
HTTP_TIMEOUT_SECONDS = 60.0
ENDED = ("ready", "failed", "stopped")


@dataclass
class Side:
    """One backend's system, its REST client and where its sandboxes' logs are."""

    name: str
    system: ControlPlane
    http: httpx.AsyncClient
    backend: TimedKubernetesBackend | TimedLocalBackend
    marks: Marks
    kubelet: StandInKubelet | None = None
    core: client.CoreV1Api | None = None  # admin: to see the Pods go

    @property
    def kubernetes(self) -> bool:
        return self.kubelet is not None

    async def events(self, session_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = (await self.http.get(f"/api/sessions/{session_id}/events", params={"after": after})).json()
            events += page["events"]
            after = page["next_after"]
            if not page["has_more"]:
                return events

    def sandbox_log(self, session_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.kubelet is not None:
            pod = self.marks.pod_names.get(session_id)
            with contextlib.suppress(KeyError):
                return log_records(self.kubelet.container_log(SANDBOX_NAMESPACE, pod)) if pod else []
            return []
        sandbox_id = (first_event(events, "sandbox_spawning") or {"data": {}})["data"].get("sandbox_id")
        path = self.system.settings.data_dir / "workspaces" / session_id / f"sandbox-{sandbox_id}.log"
        return log_records(path.read_text(errors="replace")) if path.exists() else []

    async def statuses(self) -> dict[str, str]:
        response = await self.http.get("/api/sessions", params={"limit": 200})
        return {s["id"]: s["status"] for s in response.raise_for_status().json()}

    async def stop(self, session_ids: list[str], events: dict[str, list[dict[str, Any]]]) -> None:
        """Stop these sessions' sandboxes; wait for the rows to say so and, on Kubernetes, the Pods to go."""
        supervisor = self.system.jobs.supervisor  # type: ignore[union-attr]
        sandbox_ids = [e["data"]["sandbox_id"] for sid in session_ids
                       if (e := first_event(events[sid], "sandbox_spawning"))]
        await asyncio.gather(*(supervisor.stop(s, "benchmark run finished") for s in sandbox_ids))

        async def stopped() -> bool:
            statuses = await self.statuses()
            return all(statuses.get(sid) in ("stopped", "failed") for sid in session_ids)

        async def pods_gone() -> bool:
            return self.core is None or not (await asyncio.to_thread(
                self.core.list_namespaced_pod, SANDBOX_NAMESPACE, label_selector=manifests.SELECTOR)).items

        await poll(stopped, WAIT_SECONDS)
        await poll(pods_gone, WAIT_SECONDS)


async def poll(condition: Callable[[], Awaitable[bool]], timeout_seconds: float) -> bool:
    """Ask ``condition`` every POLL_SECONDS until it holds (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if await condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


async def single_run(side: Side, repo_url: str) -> Points:
    """One session with the real runtime and OpenCode: create → ready, then stop its sandbox."""
    posted = time.time()
    response = await side.http.post("/api/sessions", json={"repo_url": repo_url})
    session_id = response.raise_for_status().json()["id"]
    stream = StreamRecorder(side.http, f"/api/sessions/{session_id}/events/stream")
    try:
        async with stream, asyncio.timeout(WAIT_SECONDS):
            ended = await stream.first(lambda e: e["type"] == "session_status" and e["data"]["status"] in ENDED)
    except TimeoutError:
        ended = None
    events = await side.events(session_id)
    try:
        if ended is None or ended.event["data"]["status"] != "ready":
            raise RunFailed(f"{side.name}: the session did not get ready:\n{timeline_text(events)}")
        return session_points(side.kubernetes, side.marks.of(session_id), events,
                              side.sandbox_log(session_id, events), posted)
    finally:
        await side.stop([session_id], {session_id: events})


async def burst(side: Side, repo_url: str, count: int) -> Burst:
    """``count`` sessions created at once; the sandboxes run the light harness."""
    side.backend.agent = LIGHT_AGENT

    async def create() -> tuple[str, float, float]:
        posted = time.time()
        response = await side.http.post("/api/sessions", json={"repo_url": repo_url})
        return response.raise_for_status().json()["id"], posted, time.time()

    cpu_before = cpu_seconds()
    started = time.time()
    try:
        created = await asyncio.gather(*(create() for _ in range(count)))
        ids = [session_id for session_id, _, _ in created]

        async def all_ended() -> bool:
            statuses = await side.statuses()
            return all(statuses.get(sid) in ENDED for sid in ids)

        await poll(all_ended, BURST_WAIT_SECONDS)
        window = time.time() - started
        cpu = cpu_used(cpu_before, cpu_seconds())
        rss = runtimes_rss_mib()
        await asyncio.sleep(SETTLE_SECONDS)
        events = dict(zip(ids, await asyncio.gather(*(side.events(sid) for sid in ids)), strict=True))
    finally:
        side.backend.agent = None
    samples: list[Points] = []
    failures: dict[str, str] = {}
    stuck: set[str] = set()  # never ended: nothing to stop, no status to wait for
    for session_id, posted, answered in created:
        marks = side.marks.of(session_id)
        points = session_points(side.kubernetes, marks, events[session_id],
                                side.sandbox_log(session_id, events[session_id]), posted)
        samples.append(points | {"answered": answered})
        statuses = [e["data"] for e in events[session_id] if e["type"] == "session_status"]
        if not statuses or statuses[-1]["status"] != "ready":
            reason = str(statuses[-1].get("reason") or statuses[-1]["status"]) if statuses else "no answer"
            if not statuses or statuses[-1]["status"] not in ENDED:
                stuck.add(session_id)
                reason = f"stuck in {reason}; statuses: " + ", ".join(s["status"] for s in statuses)
            failures[session_id] = reason + (" (after it was ready)" if points["ready"] else "")
    called = [(m["spawn_called"], m["spawn_returned"]) for sid in ids
              if "spawn_returned" in (m := side.marks.of(sid))]
    await side.stop([sid for sid in ids if sid not in stuck], events)
    return Burst(count, started, samples, failures, most_at_once(called), rss, window, cpu)


# --------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------


def make_bare_repo(root: Path, name: str, files: dict[str, str]) -> None:
    work = make_repo(root / f"{name}-work", files)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / f"{name}.git")], check=True)


def install(cluster: TestCluster) -> str:
    """The manifests' namespaces, RBAC and quota; returns the worker ServiceAccount's token."""
    for name in MANIFESTS:
        cluster.kubectl("apply", "-f", str(PROJECT_ROOT / "k8s" / "base" / name))
    with cluster.api_client() as admin:
        core = client.CoreV1Api(admin)
        wait_until(lambda: bool(core.list_namespaced_service_account(
            SANDBOX_NAMESPACE, field_selector="metadata.name=default").items), "default service account", 30)
    return cluster.service_account_token("openinspect", "openinspect-worker")


@contextlib.asynccontextmanager
async def running(side_name: str, settings: Settings, backend: TimedKubernetesBackend | TimedLocalBackend,
                  marks: Marks, kubelet: StandInKubelet | None = None,
                  core: client.CoreV1Api | None = None) -> AsyncIterator[Side]:
    backend.marks = marks
    system = ControlPlane(settings, backend=backend)
    await system.start()
    api = build_api()
    attach(api, system.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(
                base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as http:
            yield Side(side_name, system, http, backend, marks, kubelet, core)
    finally:
        if kubelet is not None:  # Kubernetes sandboxes outlive the control plane on purpose: not here
            for sandbox in await backend.alive():
                await backend.stop(sandbox)
        await system.stop()


async def run_all(args: argparse.Namespace, tmp: Path, urls: tuple[str, str], git_base: str,
                  model: ScriptedModel, cluster: TestCluster, kubelet: StandInKubelet,
                  worker_token: str) -> Results:
    marks = Marks()
    bridges = BridgeConnections(marks)
    bridges.install()
    common = dict(bridge_port=0, opencode_bin=args.opencode_bin, provider_base_url=model.base_url, model=MODEL)
    local_settings = Settings.from_env({}, data_dir=tmp / "local", database_url=urls[0], **common)
    kube_settings = Settings.from_env({}, data_dir=tmp / "kubernetes", database_url=urls[1],
                                      sandbox_backend="kubernetes", **common)
    with cluster.api_client() as admin, cluster.api_client(worker_token) as worker:
        watch = ClusterWatch(admin, SANDBOX_NAMESPACE, marks)
        watch.start()
        try:
            async with running("local", local_settings, TimedLocalBackend(tmp / "local" / "workspaces"),
                               marks) as local, running(
                    "kubernetes", kube_settings, TimedKubernetesBackend(worker, POD), marks,
                    kubelet, client.CoreV1Api(admin)) as kube:
                single: dict[str, list[Points]] = {"local": [], "kubernetes": []}
                for index in range(args.warmup + args.runs):
                    counted = index >= args.warmup
                    for side in (local, kube):
                        points = await single_run(side, f"{git_base}/project.git")
                        label = f"run {index - args.warmup + 1}/{args.runs}" if counted else "warm-up"
                        print(f"{label:>9} {side.name:>10}: POST → bridge connected "
                              f"{_delta(points, 'bridge_connected')} ms, → ready {_delta(points, 'ready')} ms",
                              flush=True)
                        if counted:
                            single[side.name].append(points)
                bursts = {}
                for side in (local, kube) if args.burst else ():
                    bursts[side.name] = result = await burst(side, f"{git_base}/light.git", args.burst)
                    print(f"    burst {side.name:>10}: {len(result.samples) - len(result.failures)}/{args.burst} "
                          "ready at the end", flush=True)
        finally:
            watch.stop()
            bridges.remove()
    return Results(single, bursts, set(marks.config_waits))


def _delta(points: Points, point: str) -> str:
    at, posted = points.get(point), points["post"]
    return "-" if at is None or posted is None else f"{(at - posted) * 1000:,.0f}"


def describe(args: argparse.Namespace, cluster: TestCluster, database_description: str) -> list[str]:
    with cluster.api_client() as admin:
        kube_version = client.VersionApi(admin).get_code().git_version
    etcd = version_of(["etcd", "--version"]).splitlines()[0]
    return [
        f"machine:    {machine_description()}",
        f"python:     {platform.python_version()}; {version_of(['git', '--version'])}",
        f"kubernetes: test cluster {kube_version} (tests/support/kube: {etcd}, kube-apiserver, controller-manager, "
        f"scheduler on loopback; started in {cluster.start_seconds:.1f} s) + the stand-in kubelet (Pods as local "
        "processes); the backend acts as the worker ServiceAccount (k8s/base/rbac.yaml)",
        f"sandbox Pod: cpu {POD.cpu_request}/{POD.cpu_limit}, memory {POD.memory_request}/{POD.memory_limit} "
        "(request/limit; the stand-in ignores them)",
        f"database:   {database_description} (one per backend)",
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.k8s_spawn", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="counted runs per backend (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_RUNS, help="uncounted runs first (default 1)")
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST,
                        help="sessions created at once per backend (default %(default)s; 0: no burst)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: SQLite in a temp dir); for postgresql://USER@HOST:PORT/DB "
                             "throwaway databases are created beside DB and dropped at the end")
    parser.add_argument("--opencode-bin", default=os.environ.get(
        "OPENINSPECT_OPENCODE_BIN", str(PROJECT_ROOT / "node_modules" / ".bin" / "opencode")))
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.burst < 0:
        parser.error("--runs must be at least 1, --warmup and --burst at least 0")
    return args


@contextlib.contextmanager
def test_cluster() -> Iterator[tuple[TestCluster, StandInKubelet, str]]:
    with TestCluster() as cluster:
        token = install(cluster)
        with cluster.api_client(cluster.node_token) as node_api, StandInKubelet(
                node_api, cluster.node_name, extra_env={"PYTHONPATH": str(PROJECT_ROOT)}) as kubelet:
            yield cluster, kubelet, token


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # the manager's logger is lowered to INFO for its bridge records
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # "pool is full" under the burst
    with tempfile.TemporaryDirectory(prefix="oi-bench-k8s-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        make_bare_repo(tmp / "git", "project", REPO_FILES)
        make_bare_repo(tmp / "git", "light", {"README.md": "# Light\n"})
        for name in ("db-local", "db-kubernetes"):
            (tmp / name).mkdir()
        with (database(args.database_url, tmp / "db-local") as (local_url, description),
              database(args.database_url, tmp / "db-kubernetes") as (kube_url, _),
              serve_git_http(tmp / "git") as git, ScriptedModel() as model,
              test_cluster() as (cluster, kubelet, token)):
            header = describe(args, cluster, description)
            try:
                results = asyncio.run(run_all(args, tmp, (local_url, kube_url), git.base_url, model, cluster,
                                              kubelet, token))
            except RunFailed as exc:
                print(f"benchmark run failed: {exc}", file=sys.stderr)
                return 1
    intro = (f"Per sandbox: the real sandbox runtime + OpenCode {version_of([args.opencode_bin, '--version'])}, "
             f"scripted model; repository project.git (README + setup.sh) over git HTTP; {args.runs} runs each "
             f"(+{args.warmup} warm-up), alternating, each sandbox stopped before the next.")
    print(render_report(header, intro, results, LIGHT_AGENT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
