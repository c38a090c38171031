"""How the Kubernetes backend reports an ending when its watches deliver out of order.

The Job, Pod and Event watches are separate streams: the Job controller marks a Job
failed only after its Pod failed, yet the Job's event may reach the backend first
(the Pods' watch reconnecting, or just behind). The ending reported must still be the
Pod's, with the container's exit code. The API here is a stand-in that answers the
two calls these paths make; tests/kube runs the whole backend against a real API server.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from kubernetes import client

from backend_jobs.sandboxes import kubernetes_manifests as m
from backend_jobs.sandboxes.base import SandboxExit
from backend_jobs.sandboxes.kubernetes import KubernetesSandboxBackend

SANDBOX = "0123456789abcdef0123456789abcdef"
LABELS = {m.LABEL_SANDBOX: SANDBOX}
FAILED_JOB = {"metadata": {"name": m.object_name(SANDBOX), "labels": LABELS}, "status": {"failed": 1, "conditions": [
    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
     "message": "Job has reached the specified backoff limit"}]}}


def pod(phase: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": f"{m.object_name(SANDBOX)}-x7k2p", "labels": LABELS},
            "status": {"phase": phase, "containerStatuses": [{"name": m.CONTAINER, "image": "img:1", "state": state}]}}


FAILED_POD = pod("Failed", {"terminated": {"exitCode": 1, "reason": "Error", "message": "start.sh exited with code 4"}})


class FakeCore:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.selectors: list[str] = []

    def list_namespaced_pod(self, namespace: str, *, label_selector: str, _preload_content: bool) -> Any:
        assert not _preload_content
        self.selectors.append(label_selector)
        return SimpleNamespace(data=json.dumps({"items": self.pods}).encode())


class FakeBatch:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_namespaced_job(self, name: str, namespace: str, **options: Any) -> None:
        self.deleted.append(name)


def backend_with(pods: list[dict[str, Any]]) -> tuple[KubernetesSandboxBackend, list[SandboxExit], FakeCore]:
    backend = KubernetesSandboxBackend(client.ApiClient(), m.PodSettings.parse(
        namespace="sandboxes", image="img:1", cpu="100m/1", memory="256Mi/1Gi", active_deadline_seconds=900,
        ttl_seconds_after_finished=60))
    core = FakeCore(pods)
    backend.core, backend.batch = core, FakeBatch()  # type: ignore[assignment]
    exits: list[SandboxExit] = []

    async def record(exit_report: SandboxExit) -> None:
        exits.append(exit_report)
    backend.on_exit(record)
    return backend, exits, core


async def test_a_job_failed_before_its_pod_is_seen_reports_the_pods_exit_code() -> None:
    backend, exits, core = backend_with([FAILED_POD])
    await backend._on_job("MODIFIED", FAILED_JOB)  # the Job's event first, the Pod's not yet delivered
    assert exits == [SandboxExit(SANDBOX, 1, "the sandbox pod failed with exit code 1: start.sh exited with code 4")]
    assert core.selectors == [f"{m.LABEL_SANDBOX}={SANDBOX}"]
    await backend._on_pod("MODIFIED", FAILED_POD)  # then the Pod's: reported once
    assert len(exits) == 1


async def test_a_job_failed_while_its_pod_still_runs_or_is_gone_reports_the_jobs_reason() -> None:
    for pods in ([pod("Running", {"running": {}})], []):  # a deadline: the Job controller ends the Pod after
        backend, exits, _ = backend_with(pods)
        await backend._on_job("MODIFIED", FAILED_JOB)
        assert exits == [SandboxExit(SANDBOX, None, "the sandbox job failed (BackoffLimitExceeded): "
                                                    "Job has reached the specified backoff limit")]
