"""Sessions with the Kubernetes sandbox backend, on a real API server, as the worker's
ServiceAccount with the Role from k8s/base/rbac.yaml (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from openinspect_core.services import sessions
from tests.kube.conftest import PROVIDER_KEY, SANDBOX_NAMESPACE, UNPULLABLE_IMAGE, SystemFactory, pod_settings
from tests.support.git_http import GitHttpServer
from tests.support.kube.cluster import TestCluster
from tests.support.kube.kubelet import StandInKubelet
from tests.support.system import ADA, BOT, RunningSystem


def sandbox_ids(events: list[dict]) -> list[str]:
    return [e["data"]["sandbox_id"] for e in events if e["type"] == "sandbox_spawning"]


async def gone(read, *args) -> bool:  # type: ignore[no-untyped-def]
    try:
        await asyncio.to_thread(read, *args)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


async def wait_gone(read, *args, timeout_seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_seconds):
        while not await gone(read, *args):
            await asyncio.sleep(0.2)


async def test_a_session_runs_end_to_end_as_a_job_and_stopping_removes_it(
        k8s_system: SystemFactory, git_server: GitHttpServer, kube_api: client.ApiClient,
        stand_in_kubelet: StandInKubelet) -> None:
    s: RunningSystem = await k8s_system()
    session = await s.create_session(git_server.repo_url("project.git", authenticated=False))
    await s.wait_for_status(session["id"], "ready")
    (sandbox_id,) = sandbox_ids(await s.events(session["id"]))
    name = manifests.object_name(sandbox_id)
    batch, core = client.BatchV1Api(kube_api), client.CoreV1Api(kube_api)

    job = await asyncio.to_thread(batch.read_namespaced_job, name, SANDBOX_NAMESPACE)
    secret = await asyncio.to_thread(core.read_namespaced_secret, name, SANDBOX_NAMESPACE)
    assert job.metadata.labels[manifests.LABEL_SESSION] == session["id"]
    assert secret.metadata.labels[manifests.LABEL_SANDBOX] == sandbox_id
    assert [(o.kind, o.uid) for o in secret.metadata.owner_references] == [("Job", job.metadata.uid)]
    pods = await asyncio.to_thread(core.list_namespaced_pod, SANDBOX_NAMESPACE,
                                   label_selector=f"{manifests.LABEL_SANDBOX}={sandbox_id}")
    (pod,) = pods.items
    assert pod.spec.node_name == stand_in_kubelet.node_name and pod.status.phase == "Running"
    assert pod.spec.automount_service_account_token is False
    # What the backend wrote: no provider key anywhere, the bridge token only under the init container's key.
    data = {key: base64.b64decode(value).decode() for key, value in secret.data.items()}
    written = json.dumps([data, kube_api.sanitize_for_serialization(job), kube_api.sanitize_for_serialization(pod)])
    assert PROVIDER_KEY not in written
    token = data[manifests.TOKEN_KEY]
    assert [key for key, value in data.items() if token in value] == [manifests.TOKEN_KEY]
    assert token not in json.dumps([kube_api.sanitize_for_serialization(job), kube_api.sanitize_for_serialization(pod)])

    message = await s.prompt(session["id"], '#script commit path=k8s.txt content=from-a-pod message="Add k8s"')
    finished = await s.wait_for_prompt_end(session["id"], message["id"])
    assert finished["data"]["status"] == "completed"
    events = await s.events(session["id"])
    kinds = [e["type"] for e in events]
    assert kinds.index("ready") < kinds.index("tool_call") < kinds.index("execution_complete")
    assert "setup in a pod" in "".join(e["data"]["text"] for e in events if e["type"] == "script_output")
    commit = next(e for e in events if e["type"] == "artifact")["data"]["data"]
    assert (commit["author_email"], commit["committer_email"], commit["subject"]) == (ADA["email"], BOT[1], "Add k8s")

    # Archiving stops the sandbox: the Job goes with foreground propagation, the Pod and the Secret with it.
    async with s.system.db.session() as db:
        await sessions.archive(db, session["id"])
        await db.commit()
    s.system.notifier.publish(session["id"])
    await s.wait_for_status(session["id"], "stopped")
    await wait_gone(batch.read_namespaced_job, name, SANDBOX_NAMESPACE)
    await wait_gone(core.read_namespaced_secret, name, SANDBOX_NAMESPACE)
    await wait_gone(core.read_namespaced_pod, pod.metadata.name, SANDBOX_NAMESPACE)


async def test_a_failing_pod_is_a_failed_sandbox_with_its_reason(k8s_system: SystemFactory,
                                                                  git_server: GitHttpServer) -> None:
    s: RunningSystem = await k8s_system()
    session = await s.create_session(git_server.repo_url("failing.git", authenticated=False))
    failed = await s.wait_for_status(session["id"], "failed")
    assert "start.sh exited with code 4" in failed["data"]["reason"] and "no database" in failed["data"]["reason"]
    exited = await s.wait_for(session["id"], lambda e: e["type"] == "sandbox_exited")
    assert exited["data"]["exit_code"] == 1  # the container's exit code, read from the Pod's status


async def test_an_unpullable_image_is_reported_and_three_quick_failures_trip_the_breaker(
        k8s_system: SystemFactory, git_server: GitHttpServer, kube_api: client.ApiClient) -> None:
    s: RunningSystem = await k8s_system(image=UNPULLABLE_IMAGE)
    session = await s.create_session(git_server.repo_url("project.git", authenticated=False))
    failed = await s.wait_for_status(session["id"], "failed")
    assert "could not be pulled (ErrImagePull)" in failed["data"]["reason"]
    assert UNPULLABLE_IMAGE in failed["data"]["reason"]
    for attempt in (2, 3):
        message = await s.prompt(session["id"], f"#script text text=attempt-{attempt}")
        finished = await s.wait_for_prompt_end(session["id"], message["id"])
        assert "could not be pulled" in finished["data"]["error"]
    refused = await s.prompt(session["id"], "#script text text=attempt-4")
    finished = await s.wait_for_prompt_end(session["id"], refused["id"])
    assert "circuit breaker open: 3 sandboxes failed" in finished["data"]["error"]
    events = await s.events(session["id"])
    assert len(sandbox_ids(events)) == 3  # no fourth Job
    jobs = await asyncio.to_thread(client.BatchV1Api(kube_api).list_namespaced_job, SANDBOX_NAMESPACE,
                                   label_selector=f"{manifests.LABEL_SESSION}={session['id']}")
    assert {j.metadata.labels[manifests.LABEL_SANDBOX] for j in jobs.items} <= set(sandbox_ids(events))


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"cpu": "2/1"}, "could not create the sandbox's job: invalid:"),  # request above limit: a real 422
    ({"namespace": "default"}, "could not create the sandbox's secret: forbidden:"),
])
async def test_spawn_refusals_become_the_session_status(k8s_system: SystemFactory, git_server: GitHttpServer,
                                                        overrides: dict, expected: str) -> None:
    s: RunningSystem = await k8s_system(**overrides)
    session = await s.create_session(git_server.repo_url("project.git", authenticated=False))
    failed = await s.wait_for_status(session["id"], "failed")
    assert failed["data"]["reason"].startswith(expected), failed["data"]["reason"]


async def test_the_worker_role_allows_nothing_more(worker_api: client.ApiClient, installed: TestCluster) -> None:
    batch, core = client.BatchV1Api(worker_api), client.CoreV1Api(worker_api)
    job = manifests.job(SandboxSpec("x" * 32, "y" * 32), pod_settings(namespace="default"))
    refusals = [
        lambda: batch.create_namespaced_job("default", job),  # a Job in another namespace
        lambda: core.read_namespaced_secret("openinspect-worker-token", "openinspect"),  # its own namespace's Secrets
        lambda: core.list_namespaced_secret(SANDBOX_NAMESPACE),  # no reading Secrets, even of sandboxes
        lambda: core.list_namespaced_secret("kube-system"),
        lambda: core.create_namespaced_pod(SANDBOX_NAMESPACE, {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "i"}]}}),  # Pods only through Jobs
        lambda: batch.list_job_for_all_namespaces(),
    ]
    for attempt in refusals:
        with pytest.raises(ApiException) as refused:
            await asyncio.to_thread(attempt)
        assert refused.value.status == 403


async def test_a_pod_over_quota_is_reported_with_the_quota_message(
        k8s_system: SystemFactory, git_server: GitHttpServer, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "no-pods-now", "namespace": SANDBOX_NAMESPACE}, "spec": {"hard": {"pods": "0"}}}
    await asyncio.to_thread(core.create_namespaced_resource_quota, SANDBOX_NAMESPACE, quota)
    try:
        s: RunningSystem = await k8s_system()
        session = await s.create_session(git_server.repo_url("project.git", authenticated=False))
        # The Job is accepted; the Job controller cannot create its Pod and says why in an Event.
        failed = await s.wait_for_status(session["id"], "failed")
        reason = failed["data"]["reason"]
        assert reason.startswith("the sandbox pod could not be created:") and "exceeded quota" in reason, reason
    finally:
        await asyncio.to_thread(core.delete_namespaced_resource_quota, "no-pods-now", SANDBOX_NAMESPACE)
