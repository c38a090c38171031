"""Sandboxes as Kubernetes Jobs, through the official ``kubernetes`` client.

Per sandbox: a Secret with its launch variables and, under its own key, its
bridge token (which only the Pod's init container mounts), then a Job (one
hardened Pod, never retried, a deadline, a TTL after it finishes), then the
Secret is made the Job's dependent so it goes with it. Everything is labelled with the session
and the sandbox (``kubernetes_manifests``).

How sandboxes end is learnt from watches, not polling (``kubernetes_watch``):
Pods (exit codes, image pull failures), Jobs (deadline, deletion) and Events
(the Job controller could not create the Pod: quota, admission). Each ending
is reported once. Stop deletes the Job with foreground propagation, so its
Pod and Secret go first.

Spawn failures come back as :class:`SpawnError` with the API's own reason
(403 forbidden or quota, 422 invalid). Sandboxes outlive a restart of the
control plane: their bridges reconnect to the next one.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from openinspect_protocol.logs import EventLog

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes import kubernetes_status as status
from backend_jobs.sandboxes.base import Capabilities, SandboxBackend, SandboxExit, SandboxSpec, SpawnError
from backend_jobs.sandboxes.kubernetes_watch import Watcher
from openinspect_core.services.previews import PreviewUnavailable

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

log = EventLog(__name__)


class KubernetesSandboxBackend(SandboxBackend):
    name = "kubernetes"
    capabilities = Capabilities(outlives_control_plane=True, previews=True)

    def __init__(self, api_client: client.ApiClient, pod: manifests.PodSettings) -> None:
        super().__init__()
        self.api_client = api_client
        self.pod = pod
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: list[Watcher] = []
        self._reported: set[str] = set()
        self._stopping: set[str] = set()
        self._config_checks: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> KubernetesSandboxBackend:
        if settings.k8s_kubeconfig:
            api_client = config.new_client_from_config(config_file=settings.k8s_kubeconfig)
        else:
            config.load_incluster_config()
            api_client = client.ApiClient()
        return cls(api_client, manifests.PodSettings.parse(
            namespace=settings.k8s_namespace, image=settings.k8s_image, cpu=settings.k8s_cpu,
            memory=settings.k8s_memory, active_deadline_seconds=settings.sandbox_max_lifetime_seconds,
            ttl_seconds_after_finished=settings.k8s_ttl_after_finished_seconds,
            runtime_class=settings.k8s_runtime_class))

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ns = self.pod.namespace
        self._watchers = [
            Watcher(self.core.list_namespaced_pod, namespace=ns, label_selector=manifests.SELECTOR,
                    on_event=self._from_thread(self._on_pod), name="watch-pods"),
            Watcher(self.batch.list_namespaced_job, namespace=ns, label_selector=manifests.SELECTOR,
                    on_event=self._from_thread(self._on_job), name="watch-jobs"),
            Watcher(self.core.list_namespaced_event, namespace=ns, on_event=self._from_thread(self._on_event),
                    name="watch-events"),
        ]
        for watcher in self._watchers:
            watcher.start()

    async def close(self) -> None:
        """Stop watching; the sandboxes keep running (their bridges reconnect to the next control plane)."""
        for check in list(self._config_checks.values()):
            check.cancel()
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self._watchers))
        self._watchers = []

    def _from_thread(self, handler: Any) -> Any:
        def deliver(kind: str, obj: dict[str, Any]) -> None:
            assert self._loop is not None
            asyncio.run_coroutine_threadsafe(handler(kind, obj), self._loop)
        return deliver

    # ------------------------------------------------------------------ spawn

    async def spawn(self, spec: SandboxSpec) -> str:
        return await asyncio.to_thread(self._spawn, spec)

    def _spawn(self, spec: SandboxSpec) -> str:
        ns = self.pod.namespace
        try:
            self.core.create_namespaced_secret(ns, manifests.secret(spec, self.pod))
        except ApiException as error:
            raise SpawnError(f"could not create the sandbox's secret: {_explain(error)}") from None
        try:
            job = self.api_client.sanitize_for_serialization(
                self.batch.create_namespaced_job(ns, manifests.job(spec, self.pod)))
        except ApiException as error:
            self._delete_quietly(self.core.delete_namespaced_secret, manifests.object_name(spec.sandbox_id))
            raise SpawnError(f"could not create the sandbox's job: {_explain(error)}") from None
        try:
            self.core.patch_namespaced_secret(manifests.object_name(spec.sandbox_id), ns, manifests.owned_by(job))
        except ApiException as error:
            # The Job runs regardless; only the Secret's cleanup now depends on stop().
            log.warning("kubernetes.owner_patch_failed", error=_explain(error))
        log.info("kubernetes.spawned", sandbox_id=spec.sandbox_id, namespace=ns)
        return spec.sandbox_id

    # ------------------------------------------------------------------- stop

    async def stop(self, external_id: str) -> None:
        self._stopping.add(external_id)
        name = manifests.object_name(external_id)
        try:
            await asyncio.to_thread(self.batch.delete_namespaced_job, name, self.pod.namespace,
                                    propagation_policy="Foreground")
        except ApiException as error:
            if error.status != 404:
                raise
            await self._report(external_id, None, "stopped", requested=True)  # nothing left to watch
        # The Secret is the Job's dependent; deleting it too covers a failed owner patch.
        await asyncio.to_thread(self._delete_quietly, self.core.delete_namespaced_secret, name)

    async def alive(self) -> set[str]:
        jobs = await asyncio.to_thread(self.batch.list_namespaced_job, self.pod.namespace,
                                       label_selector=manifests.SELECTOR)
        return {
            sandbox for job in jobs.items
            if (sandbox := (job.metadata.labels or {}).get(manifests.LABEL_SANDBOX))
            and job.metadata.deletion_timestamp is None
            and not any(c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions or [])
        }

    async def port_address(self, external_id: str, port: int) -> tuple[str, int]:
        """The sandbox's running Pod's own IP (the sandbox NetworkPolicy lets the web Pods in)."""
        try:
            listing = await asyncio.to_thread(self.core.list_namespaced_pod, self.pod.namespace,
                                              label_selector=f"{manifests.LABEL_SANDBOX}={external_id}",
                                              _preload_content=False)
        except ApiException as error:
            log.warning("kubernetes.pod_address_unreadable", sandbox_id=external_id, error=_explain(error))
            raise PreviewUnavailable(f"cannot find the sandbox's pod: {_explain(error)}") from None
        ip = status.pod_ip(json.loads(listing.data).get("items") or [])
        if ip is None:
            raise PreviewUnavailable("the sandbox's pod is not running (or has no address yet)")
        return ip, port

    # ----------------------------------------------------------------- watching

    async def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        sandbox = status.sandbox_of(pod)
        if sandbox is None or sandbox in self._reported:
            return
        ended = status.pod_outcome(pod)
        if ended is not None:
            await self._end(sandbox, ended)
        elif status.config_failure(pod) and sandbox not in self._config_checks:
            self._config_checks[sandbox] = asyncio.create_task(
                self._judge_config_failure(sandbox, pod["metadata"]["name"]))

    async def _judge_config_failure(self, sandbox: str, pod_name: str) -> None:
        """The kubelet retries a container it could not create; fail the sandbox only if it stays stuck."""
        try:
            await asyncio.sleep(status.CONFIG_GRACE_SECONDS)
            try:
                pod = self.api_client.sanitize_for_serialization(
                    await asyncio.to_thread(self.core.read_namespaced_pod, pod_name, self.pod.namespace))
            except ApiException:
                return  # gone: its deletion is reported on its own
            reason = status.config_failure(pod)
            if reason and sandbox not in self._reported:
                await self._end(sandbox, status.Ended(None, reason, True))
        finally:
            self._config_checks.pop(sandbox, None)

    async def _on_job(self, kind: str, job: dict[str, Any]) -> None:
        sandbox = status.sandbox_of(job)
        if sandbox is None or sandbox in self._reported:
            return
        if kind == "DELETED":
            requested = sandbox in self._stopping
            await self._report(sandbox, None, "stopped" if requested else "the sandbox job was deleted",
                               requested=requested)
            return
        ended = status.job_outcome(job)
        if ended is not None:
            # A Job fails because its Pod did, and the Pods' watch may deliver that Pod after this
            # Job (two streams): read the Pod now, so its exit code is not lost to the race.
            pod_ended = await self._pod_ending(sandbox)
            if sandbox not in self._reported:  # the Pods' watch may have reported it meanwhile
                await self._end(sandbox, pod_ended or ended)

    async def _pod_ending(self, sandbox: str) -> status.Ended | None:
        """How the sandbox's Pod ended, read from the API now; None if it has not (or is gone)."""
        try:
            listing = await asyncio.to_thread(self.core.list_namespaced_pod, self.pod.namespace,
                                              label_selector=f"{manifests.LABEL_SANDBOX}={sandbox}",
                                              _preload_content=False)
        except ApiException as error:
            log.warning("kubernetes.pod_unreadable", sandbox_id=sandbox, error=_explain(error))
            return None
        endings = (status.pod_outcome(pod) for pod in json.loads(listing.data).get("items") or [])
        return next((ended for ended in endings if ended is not None), None)

    async def _on_event(self, kind: str, event: dict[str, Any]) -> None:
        message = status.creation_failure(event)
        sandbox = status.sandbox_of_name((event.get("involvedObject") or {}).get("name", ""))
        if message and sandbox and sandbox not in self._reported:
            await self._end(sandbox, status.Ended(None, f"the sandbox pod could not be created: {message}", True))

    async def _end(self, sandbox: str, ended: status.Ended) -> None:
        await self._report(sandbox, ended.exit_code, ended.reason, requested=sandbox in self._stopping)
        if ended.failed:
            # A Pod that cannot start (image, quota) would otherwise sit there until its deadline.
            await asyncio.to_thread(self._delete_quietly, self.batch.delete_namespaced_job,
                                    manifests.object_name(sandbox), propagation_policy="Background")

    async def _report(self, sandbox: str, exit_code: int | None, reason: str, *, requested: bool) -> None:
        if sandbox in self._reported:
            return
        self._reported.add(sandbox)
        self._stopping.discard(sandbox)
        await self._report_exit(SandboxExit(sandbox, exit_code, "stopped" if requested else reason))

    def _delete_quietly(self, delete: Any, name: str, **options: Any) -> None:
        try:
            delete(name, self.pod.namespace, **options)
        except ApiException as error:
            if error.status != 404:
                log.warning("kubernetes.delete_failed", name=name, error=_explain(error))


def _explain(error: ApiException) -> str:
    """The API's own words: 403 forbidden (RBAC or quota), 422 invalid, …"""
    message = error.reason or ""
    try:
        message = json.loads(error.body or "{}").get("message") or message
    except ValueError:
        pass
    kinds = {403: "forbidden", 404: "not found", 409: "conflict", 422: "invalid"}
    return f"{kinds.get(error.status or 0, f'HTTP {error.status}')}: {message}"
