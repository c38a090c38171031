"""One Pod on the stand-in node, from binding to deletion: :class:`PodRunner`.

It owns the Pod's local directories (one per volume, a HOME, container logs) and the local
processes its containers run as, each in its own process group (``containers.py``): init
containers first, one at a time, each to completion (a failing one fails the Pod under
``restartPolicy: Never`` and is retried otherwise, as kubelet does), then the others together.
It writes only its own Pod's status (and deletes the Pod with grace 0 once its processes are
gone after a graceful delete, as kubelet does) and reads only the Secrets/ConfigMaps the Pod
references. Which Pods it gets,
and when they are deleted, comes from the watch in ``kubelet.py``; what the spec means comes
from the pure functions in ``podspec.py``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import urllib3
from kubernetes.client.exceptions import ApiException

from tests.support.kube import podspec
from tests.support.kube.containers import RESTART_DELAY_SECONDS, Container, Launcher, reap, restart, signal_group
from tests.support.kube.containers import now_rfc3339 as now_rfc3339  # kubelet.py takes it from here
from tests.support.kube.podspec import ConfigNotReady, Json
from tests.support.kube.rawapi import RawApi

log = logging.getLogger(__name__)

CONFIG_RETRY_SECONDS = 0.5  # kubelet retries a missing Secret on its sync loop; this is quicker
IMAGE_PULL_BACKOFF_AFTER_SECONDS = 1.0  # ErrImagePull, then ImagePullBackOff, as kubelet reports them
DEFAULT_GRACE_SECONDS = 30  # Kubernetes' default terminationGracePeriodSeconds
STOP_GRACE_SECONDS = 2.0  # when the stand-in itself stops, processes get this long after SIGTERM
SUPERVISE_INTERVAL_SECONDS = 0.05
SUPPORTED_VOLUMES = ("emptyDir", "secret", "configMap", "hostPath")


class PodRunner:
    """Runs one Pod's containers as local processes and reports them in the Pod's status."""

    def __init__(
        self,
        api: RawApi,
        pod: Json,
        *,
        pod_dir: Path,
        base_env: Mapping[str, str],
        python_bin_dir: str,
        image_paths: Iterable[str] = (),
    ) -> None:
        self._api = api
        self._pod = pod
        self._dir = pod_dir
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self._path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        self._launcher = Launcher(dict(base_env), python_bin_dir, tuple(image_paths), pod_dir / "home", self.name)
        # Before its init containers have run, every container waits in PodInitializing, as kubelet shows it.
        first_state = "PodInitializing" if pod["spec"].get("initContainers") else "ContainerCreating"

        def containers(key: str) -> list[Container]:
            return [Container(spec, pod_dir / "logs" / f"{spec['name']}.log", state=podspec.waiting_state(first_state))
                    for spec in pod["spec"].get(key) or []]

        self._init_containers = containers("initContainers")
        self._containers = containers("containers")
        self._start_time = now_rfc3339()
        self._lock = threading.Lock()
        self._done = False
        self._deletion_grace: float | None = None  # set when the Pod is being deleted
        self._deleted = False  # we sent the final delete, or the Pod is gone from the API
        self._stopping = threading.Event()  # the stand-in stops, or the Pod is gone: kill, write nothing
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.namespace}/{self.name}", daemon=True)

    # --- called by the kubelet's watch thread ---------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def request_deletion(self, pod: Json) -> None:
        """The Pod has a deletionTimestamp: stop its processes gracefully, then delete it with grace 0."""
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        with self._lock:
            finished = self._done
            if self._deletion_grace is None or grace < self._deletion_grace:
                self._deletion_grace = float(grace)
        self._wake.set()
        if finished:
            self._finish_deletion()

    def pod_gone(self) -> None:
        """The Pod no longer exists in the API: kill its processes, write nothing."""
        with self._lock:
            self._deleted = True
        self.stop(wait=False)

    def stop(self, wait: bool = True) -> None:
        self._stopping.set()
        self._wake.set()
        if wait and self._thread.is_alive():
            self._thread.join()

    def container_log_paths(self) -> dict[str, Path]:
        """Main containers first (a Pod's log is its first main container's), then init containers."""
        return {c.name: c.log_path for c in [*self._containers, *self._init_containers]}

    # --- the Pod's life, in its own thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            self._live()
        except Exception:  # a bug here: fail the Pod visibly rather than leave it Running forever
            log.exception("kubelet.pod_failed_internally pod=%s/%s", self.namespace, self.name)
            self._write_status("Failed", reason="StandInError", message="the stand-in kubelet failed; see test log")
        finally:
            self._kill_all(STOP_GRACE_SECONDS)
            with self._lock:
                self._done = True
                deleting = self._deletion_grace is not None
            if deleting and not self._stopping.is_set():
                self._finish_deletion()

    def _live(self) -> None:
        spec = self._pod["spec"]
        problem = self._unsupported(spec)
        if problem:
            self._write_status("Failed", reason="StandInUnsupported", message=problem)
            return
        restart_policy = spec.get("restartPolicy", "Always")
        # Kubelet pulls an image before it builds the container's config: the first init container's first.
        if self._pull_fails(self._init_containers[:1] or self._containers):
            return
        mounts_by_container = self._prepare(spec)
        if mounts_by_container is None:
            return  # deleted or stopped while waiting for a Secret/ConfigMap
        if not self._initialize(restart_policy, mounts_by_container):
            return
        if self._pull_fails(self._containers):
            return
        for container in self._containers:
            self._launcher.start(container, mounts_by_container[container.name])
        self._write_status("Running")
        self._supervise(restart_policy, mounts_by_container)

    def _pull_fails(self, containers: list[Container]) -> bool:
        unpullable = [c for c in containers if podspec.image_unpullable(c.spec.get("image", ""))]
        if unpullable:
            self._fail_image_pull(unpullable)
        return bool(unpullable)

    def _initialize(self, restart_policy: str, mounts: dict[str, dict[str, str]]) -> bool:
        """Each init container in order, to completion; False if the Pod goes no further (failed, deleted)."""
        for container in self._init_containers:
            if self._pull_fails([container]):
                return False
            self._launcher.start(container, mounts[container.name])
            while True:
                self._write_status("Pending")
                exit_code = self._run_to_completion(container)
                if exit_code is None:
                    return False  # deleted (its final status is written) or the stand-in stops
                if exit_code == 0:
                    break
                if restart_policy == "Never":
                    self._write_status("Failed")
                    return False
                if self._sleep(RESTART_DELAY_SECONDS):  # kubelet backs off, then runs it again
                    self._write_status(self._terminal_phase())
                    return False
                restart(container, self._launcher, mounts[container.name])
        return True

    def _run_to_completion(self, container: Container) -> int | None:
        """Its exit code; None if the Pod is deleted meanwhile (then killed, status written) or the stand-in stops."""
        while not self._stopping.is_set():
            if self._deletion_grace is not None:
                self._kill_all(self._deletion_grace)
                self._write_status(self._terminal_phase())
                return None
            reap(container, "Never")
            if container.exit_code is not None:  # exited, or could not start (StartError)
                return container.exit_code
            self._wake.wait(SUPERVISE_INTERVAL_SECONDS)
            self._wake.clear()
        return None

    @property
    def _all_containers(self) -> list[Container]:
        return [*self._init_containers, *self._containers]

    def _unsupported(self, spec: Json) -> str:
        for volume in spec.get("volumes") or []:
            if not any(kind in volume for kind in SUPPORTED_VOLUMES):
                kinds = sorted(set(volume) - {"name"})
                return f"volume {volume['name']}: {kinds} not supported by the stand-in kubelet ({SUPPORTED_VOLUMES})"
        for container in self._all_containers:
            if not (container.spec.get("command") or container.spec.get("args")):
                return f"container {container.name}: no command or args (the stand-in kubelet cannot run an image)"
        return ""

    def _fail_image_pull(self, unpullable: list[Container]) -> None:
        for reason in ("ErrImagePull", "ImagePullBackOff"):
            for container in unpullable:
                image = container.spec.get("image", "")
                host = podspec.image_registry_host(image)
                message = f'rpc error: failed to pull image "{image}": dial tcp: lookup {host}: no such host'
                container.state = podspec.waiting_state(reason, message if reason == "ErrImagePull" else "")
            self._write_status("Pending")
            if self._sleep(IMAGE_PULL_BACKOFF_AFTER_SECONDS):
                return
        self._sleep(None)  # never pulls; waits for deletion or stop

    def _prepare(self, spec: Json) -> dict[str, dict[str, str]] | None:
        """Local dirs for volumes and each container's environment; retried while a source is missing."""
        last_problem = ""
        (self._dir / "home").mkdir(parents=True, exist_ok=True)
        while True:
            lookup = podspec.memoized(self._lookup)  # one read per object per attempt, however many keys refer to it
            try:
                volumes = self._make_volumes(spec.get("volumes") or [], lookup)
                result: dict[str, dict[str, str]] = {}
                for container in self._all_containers:
                    mounts = {
                        m["mountPath"]: str(Path(volumes[m["name"]]) / m.get("subPath", "")).rstrip("/")
                        for m in container.spec.get("volumeMounts") or []
                    }
                    container.env = podspec.resolve_environment(self._pod, container.spec, lookup)
                    result[container.name] = mounts
                return result
            except ConfigNotReady as exc:
                if str(exc) != last_problem:
                    last_problem = str(exc)
                    first = self._init_containers[:1] or self._containers  # the container kubelet is creating
                    for container in first:
                        container.state = podspec.waiting_state("CreateContainerConfigError", last_problem)
                    self._write_status("Pending")
            if self._sleep(CONFIG_RETRY_SECONDS):
                return None

    def _make_volumes(self, volumes: list[Json], lookup: podspec.ObjectLookup) -> dict[str, str]:
        local: dict[str, str] = {}
        for volume in volumes:
            name = volume["name"]
            if "hostPath" in volume:
                local[name] = volume["hostPath"]["path"]
                continue
            path = self._dir / "volumes" / name
            path.mkdir(parents=True, exist_ok=True)
            local[name] = str(path)
            for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if key in volume:
                    source = volume[key]
                    ref = {"name": source.get("secretName") or source.get("name"), "optional": source.get("optional")}
                    data = podspec.object_data(lookup, kind, ref) or {}
                    items = source.get("items") or [{"key": k, "path": k} for k in data]
                    for item in items:
                        if item["key"] in data:
                            target = path / item["path"]
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_text(data[item["key"]])
                            # The file's mode, as kubelet sets it (no owner or fsGroup here: one local user).
                            target.chmod(item.get("mode", source.get("defaultMode", 0o644)))
        return local

    def _lookup(self, kind: str, name: str) -> dict[str, str] | None:
        resource = "secrets" if kind == "Secret" else "configmaps"
        try:
            obj = self._api.get(f"/api/v1/namespaces/{self.namespace}/{resource}/{name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            # 403: the Node authorizer learns of a new Pod's references a moment late. Retry anything.
            raise ConfigNotReady(f"{kind.lower()} {name!r}: {exc.status} {exc.reason}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ConfigNotReady(f"{kind.lower()} {name!r}: {exc!r}") from None
        if kind == "Secret":
            return podspec.decode_secret_data(obj)
        return dict(obj.get("data") or {})

    def _supervise(self, restart_policy: str, mounts: dict[str, dict[str, str]]) -> None:
        while True:
            if self._stopping.is_set():
                return
            if self._deletion_grace is not None:
                self._kill_all(self._deletion_grace)
                self._write_status(self._terminal_phase())
                return
            changed = False
            for container in self._containers:
                changed |= reap(container, restart_policy)
                if container.restart_at is not None and time.monotonic() >= container.restart_at:
                    restart(container, self._launcher, mounts[container.name])
                    changed = True
            if all("terminated" in c.state and c.restart_at is None for c in self._containers):
                self._write_status(self._terminal_phase())
                return
            if changed:
                self._write_status("Running")
            self._wake.wait(SUPERVISE_INTERVAL_SECONDS)
            self._wake.clear()

    def _terminal_phase(self) -> str:
        """Succeeded only if every main container ran and exited 0 (one that never ran counts as failed)."""
        return "Succeeded" if all(c.exit_code == 0 for c in self._containers) else "Failed"

    def _kill_all(self, grace_seconds: float) -> None:
        """SIGTERM every running container's process group, SIGKILL what is left after the grace."""
        containers = self._all_containers
        running = [(c, c.process) for c in containers if c.process is not None and c.process.poll() is None]
        for container in containers:
            container.restart_at = None
        for _, process in running:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while any(process.poll() is None for _, process in running) and time.monotonic() < deadline:
            if self._stopping.is_set():  # the stand-in stops: its own, shorter grace
                deadline = min(deadline, time.monotonic() + STOP_GRACE_SECONDS)
            time.sleep(SUPERVISE_INTERVAL_SECONDS)
        for container, process in running:
            signal_group(process, signal.SIGKILL)  # also what the container left behind in its group
            process.wait()
            reap(container, "Never")

    # --- API writes -------------------------------------------------------------------------------

    def _write_status(self, phase: str, *, reason: str = "", message: str = "") -> None:
        if self._stopping.is_set():
            return
        ready = phase == "Running" and all("running" in c.state for c in self._containers)
        not_ready_reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        initialized = all(c.exit_code == 0 for c in self._init_containers)
        status: Json = {
            "phase": phase,
            "conditions": podspec.pod_conditions(ready, now_rfc3339(), not_ready_reason, initialized=initialized),
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self._start_time,
            "containerStatuses": [c.status() for c in self._containers],
        }
        if self._init_containers:
            status["initContainerStatuses"] = [c.status() for c in self._init_containers]
        if reason:
            status.update(reason=reason, message=message)
        try:
            # metadata.uid: a precondition, so a new Pod of the same name is never written to.
            self._api.patch(f"{self._path}/status", {"metadata": {"uid": self.uid}, "status": status})
        except ApiException as exc:  # gone (404), replaced (409/422), or a server error: the next write retries
            log.info("kubelet.status_not_written pod=%s/%s status=%s", self.namespace, self.name, exc.status)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("kubelet.status_not_written pod=%s/%s error=%r", self.namespace, self.name, exc)

    def _finish_deletion(self) -> None:
        """What kubelet does once a deleted Pod's containers are gone: delete it for good."""
        with self._lock:
            if self._deleted:
                return
            self._deleted = True
        delete_for_good(self._api, self.namespace, self.name, self.uid)

    def _sleep(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (None: forever); True if the Pod is being deleted or the stand-in stops."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not (self._stopping.is_set() or self._deletion_grace is not None):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._wake.wait(remaining if remaining is not None else 1.0)
            self._wake.clear()
        return True


def delete_for_good(api: RawApi, namespace: str, name: str, uid: str) -> None:
    """Delete a Pod with grace 0 (only that Pod: the uid is a precondition), as kubelet ends a deletion."""
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
    try:
        api.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", body)
    except ApiException as exc:
        if exc.status not in (404, 409):
            log.warning("kubelet.delete_failed pod=%s/%s status=%s", namespace, name, exc.status)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        log.warning("kubelet.delete_failed pod=%s/%s error=%r", namespace, name, exc)

