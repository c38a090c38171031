"""A stand-in for kubelet: :class:`StandInKubelet` plays one Node, running its Pods as local processes.

No real kubelet can run here (no container runtime, no images). The stand-in registers a Node
(Ready, with cpu/memory/pods capacity, and without the ``not-ready`` taint that admission puts
on every new Node and the disabled node-lifecycle controller would otherwise lift), watches the
Pods bound to it (``spec.nodeName``) with list + watch from a resourceVersion (re-listing on
410 Gone), and hands each Pod to a :class:`~tests.support.kube.pod_runner.PodRunner`, which:

- resolves each container's environment (``env``, ``valueFrom`` Secret/ConfigMap keys and a few
  ``fieldRef`` paths, ``envFrom`` Secrets/ConfigMaps), reading them through the API and retrying
  while one is missing (status ``waiting: CreateContainerConfigError``, as kubelet does);
- maps each volume (``emptyDir``, ``secret``, ``configMap``; ``hostPath`` is the path itself) to a
  local directory and rewrites every env value, argument and workingDir that starts with a mount
  path to it: there is no container filesystem, so ``/workspace/repo`` becomes
  ``<tmp>/<pod>/volumes/workspace/repo``. The host plays the image's filesystem, and paths inside
  ``image_paths`` (default: this checkout and the venv) are its files, never mapped: a checkout
  under /tmp keeps its OpenCode and venv although the sandbox Pod mounts a volume at ``/tmp``;
- runs ``command`` + ``args`` as a local process in its own process group, PATH starting with this
  venv's ``bin`` (so ``python -m sandbox.entrypoint`` is the project's real sandbox runtime), HOME
  a fresh per-Pod directory, plus ``extra_env``; it inherits nothing else from the test process;
- runs init containers first, one at a time, each to completion; a failing one fails the Pod
  (``restartPolicy: Never``; its status says which, with its exit code) or is run again;
- reports Running, then Succeeded/Failed with a terminated container status (exit code, reason
  Completed/Error, message = the last lines of output); restarts per ``restartPolicy`` (1 s delay);
- never "pulls" an image from a registry in :data:`~tests.support.kube.podspec.UNPULLABLE_REGISTRIES`
  (``registry.invalid/...``): ``waiting: ErrImagePull`` then ``ImagePullBackOff``, nothing runs;
- on deletion (deletionTimestamp): SIGTERM to the process group, SIGKILL after the grace period,
  then deletes the Pod with grace 0, as kubelet finishes a graceful deletion.

It does not: pull or look at images (``command`` is required), isolate processes (no namespaces,
cgroups, resource limits, user IDs), run probes or ephemeral containers, give
Pods their own network (podIP is 127.0.0.1; ports are the host's), mount a service-account token
where in-cluster clients look for it, serve ``kubectl logs``/``exec`` (use :meth:`container_log`),
post Events, or renew a node Lease. One instance per node name.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from tests.support.kube.pod_runner import PodRunner, delete_for_good, now_rfc3339
from tests.support.kube.podspec import Json
from tests.support.kube.rawapi import MERGE_PATCH, RawApi
from tests.support.kube.watching import ListWatch

log = logging.getLogger(__name__)

DEFAULT_NODE_NAME = "stand-in-node"
DEFAULT_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
NOT_READY_TAINT_KEY = "node.kubernetes.io/not-ready"
STOP_JOIN_SECONDS = 10.0
# This checkout: the sandbox runtime (PYTHONPATH) and node_modules/.bin/opencode, the image's files.
CHECKOUT = Path(__file__).resolve().parents[3]


class StandInKubelet:
    """Plays Node ``node_name`` for ``api_client`` (use the node's own token for Node-authorizer realism).

    Use as a context manager, or ``start()``/``stop()``. Thread-safe to read logs from tests.
    """

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        node_name: str = DEFAULT_NODE_NAME,
        extra_env: Mapping[str, str] | None = None,
        *,
        capacity: Mapping[str, str] | None = None,
        python_bin_dir: str | None = None,
        image_paths: Iterable[str | Path] | None = None,
    ) -> None:
        self.node_name = node_name
        self._api = RawApi(api_client)
        self._capacity = dict(capacity or DEFAULT_CAPACITY)
        self._python_bin_dir = python_bin_dir or str(Path(sys.executable).parent)
        if image_paths is None:  # the checkout, and the environment whose bin/ leads PATH
            image_paths = (CHECKOUT, Path(self._python_bin_dir).parent)
        self._image_paths = tuple(str(path) for path in image_paths)
        self._base_env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", **(extra_env or {})}
        self._root: Path | None = None
        self._runners: dict[str, PodRunner] = {}  # by Pod uid, while the Pod exists
        self._logs: dict[tuple[str, str], dict[str, Path]] = {}  # (namespace, pod) -> container -> log
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pods = ListWatch(
            self._api,
            "/api/v1/pods",
            {"fieldSelector": f"spec.nodeName={node_name}"},
            on_list=self._pods_listed,
            on_event=self._pod_event,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> StandInKubelet:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> StandInKubelet:
        """Register the Node and start watching; returns once the Node is schedulable."""
        if self._thread is not None:
            raise RuntimeError("the stand-in kubelet is already started")
        self._root = Path(tempfile.mkdtemp(prefix=f"openinspect-{self.node_name}-"))
        self._register_node()
        self._pods.sync()
        self._thread = threading.Thread(
            target=self._pods.run, args=(self._stopping,), name=f"kubelet-{self.node_name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, kill every process started (SIGTERM, SIGKILL 2 s later), remove local dirs.
        Pods are left as they are in the API (as when a real kubelet stops)."""
        self._stopping.set()
        self._api.close_watches()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_SECONDS)
        with self._lock:
            runners = list(self._runners.values())
            self._runners.clear()
        for runner in runners:
            runner.stop(wait=False)
        for runner in runners:
            runner.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    # --- what tests read ----------------------------------------------------------------------------

    def container_log(self, namespace: str, pod_name: str, container: str | None = None) -> str:
        """All output of a container (the Pod's only one by default) the stand-in ran, so far."""
        with self._lock:
            paths = self._logs.get((namespace, pod_name))
        if not paths:
            raise KeyError(f"no pod {namespace}/{pod_name} ran on {self.node_name}")
        path = paths[container] if container else next(iter(paths.values()))
        return path.read_text(errors="replace") if path.exists() else ""

    # --- the Node ---------------------------------------------------------------------------------

    def _register_node(self) -> None:
        name = self.node_name
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }
        try:
            self._api.create(
                "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
        now = now_rfc3339()

        def condition(kind: str, status: str, reason: str) -> Json:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        status = {
            "capacity": self._capacity,
            "allocatable": self._capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "kubeletVersion": "v1.20.2-standin",
                "kubeProxyVersion": "v1.20.2-standin",
                "containerRuntimeVersion": "standin://1",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "Open-Inspect stand-in kubelet (local processes)",
            },
        }
        self._api.patch(f"/api/v1/nodes/{name}/status", {"status": status})
        node = self._api.get(f"/api/v1/nodes/{name}")
        taints = node["spec"].get("taints") or []
        kept = [t for t in taints if t["key"] != NOT_READY_TAINT_KEY]
        if kept != taints:
            self._api.patch(f"/api/v1/nodes/{name}", {"spec": {"taints": kept or None}}, content_type=MERGE_PATCH)

    # --- the Pods bound here: list, then watch (watching.py) ------------------------------------

    def _pods_listed(self, pods: list[Json]) -> None:
        """A full resync: Pods known here but not listed were deleted meanwhile."""
        present = {pod["metadata"]["uid"] for pod in pods}
        with self._lock:
            vanished = [uid for uid in self._runners if uid not in present]
        for uid in vanished:
            self._pod_deleted(uid)
        for pod in pods:
            self._pod_seen(pod)

    def _pod_event(self, kind: str, pod: Json) -> None:
        if kind == "DELETED":
            self._pod_deleted(pod["metadata"]["uid"])
        else:
            self._pod_seen(pod)

    def _pod_seen(self, pod: Json) -> None:
        meta = pod["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        with self._lock:
            runner = self._runners.get(meta["uid"])
        if runner is not None:
            if deleting:
                runner.request_deletion(pod)
            return
        if deleting:
            meta = pod["metadata"]
            delete_for_good(self._api, meta["namespace"], meta["name"], meta["uid"])  # nothing of it runs here
        elif pod["status"].get("phase", "Pending") == "Pending":
            self._new_runner(pod).start()
        # else: it ran before this stand-in started (or under another one): nothing to do

    def _new_runner(self, pod: Json) -> PodRunner:
        meta = pod["metadata"]
        assert self._root is not None
        pod_dir = self._root / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"
        runner = PodRunner(
            self._api,
            pod,
            pod_dir=pod_dir,
            base_env=self._base_env,
            python_bin_dir=self._python_bin_dir,
            image_paths=self._image_paths,
        )
        with self._lock:
            self._runners[meta["uid"]] = runner
            self._logs[(meta["namespace"], meta["name"])] = runner.container_log_paths()
        return runner

    def _pod_deleted(self, uid: str) -> None:
        with self._lock:
            runner = self._runners.pop(uid, None)
        if runner is not None:
            runner.pod_gone()
