"""The test cluster against itself: real kube-apiserver answers, Jobs run through the job
controller, the scheduler and the stand-in kubelet, and deletion and garbage collection are real."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube.cluster import TestCluster
from tests.support.kube.kubelet import StandInKubelet
from tests.support.kube.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stand_in_kubelet")

JOB_TIMEOUT_SECONDS = 30.0


def job_manifest(name: str, command: list[str], **container: Any) -> dict[str, Any]:
    """A one-Pod Job that never retries, running ``command`` in container ``main``."""
    pod_spec = container.pop("pod_spec", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "openinspect/sandbox:test", "command": command, **container}
                    ],
                    **pod_spec,
                }
            },
        },
    }


def job_condition(batch: client.BatchV1Api, namespace: str, name: str) -> str | None:
    """``Complete`` or ``Failed`` once the Job has finished."""
    conditions = batch.read_namespaced_job(name, namespace).status.conditions or []
    return next((c.type for c in conditions if c.status == "True" and c.type in ("Complete", "Failed")), None)


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items


def gone(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


# --- the API server is real --------------------------------------------------------------------------


def test_a_user_without_a_role_gets_403(kube_cluster: TestCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client(kube_cluster.users["nobody"].token) as api_client:
        with pytest.raises(ApiException) as raised:
            client.CoreV1Api(api_client).list_namespaced_secret(kube_namespace)
    assert raised.value.status == 403
    assert 'User "nobody" cannot list resource "secrets"' in json.loads(raised.value.body)["message"]


def test_the_node_reads_only_secrets_its_pods_reference(
    kube_cluster: TestCluster, kube_api: client.ApiClient, kube_namespace: str
) -> None:
    client.CoreV1Api(kube_api).create_namespaced_secret(
        kube_namespace, {"metadata": {"name": "unrelated"}, "stringData": {"k": "v"}}
    )
    with kube_cluster.api_client(kube_cluster.node_token) as api_client:
        with pytest.raises(ApiException) as raised:
            client.CoreV1Api(api_client).read_namespaced_secret("unrelated", kube_namespace)
    assert raised.value.status == 403  # the Node authorizer, as for a real kubelet


def test_an_invalid_job_gets_422(kube_api: client.ApiClient, kube_namespace: str) -> None:
    manifest = job_manifest("invalid", ["true"])
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # Jobs allow Never or OnFailure
    with pytest.raises(ApiException) as raised:
        client.BatchV1Api(kube_api).create_namespaced_job(kube_namespace, manifest)
    assert raised.value.status == 422
    assert "spec.template.spec.restartPolicy" in raised.value.body


def test_kubectl_talks_to_the_server(kube_cluster: TestCluster) -> None:
    versions = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == "v1.20.2"
    assert versions["clientVersion"]["gitVersion"] == "v1.20.2"


def test_kubectl_server_side_dry_run_and_kustomize(kube_cluster: TestCluster, tmp_path: Path) -> None:
    manifest = job_manifest("dry", ["true"])
    out = kube_cluster.kubectl("apply", "--dry-run=server", "-n", "default", "-f", "-", input=json.dumps(manifest))
    assert "job.batch/dry created (server dry run)" in out.stdout
    assert kube_cluster.kubectl("get", "job", "dry", "-n", "default", check=False).returncode != 0

    (tmp_path / "job.json").write_text(json.dumps(manifest))
    (tmp_path / "kustomization.yaml").write_text("namePrefix: oi-\nresources:\n- job.json\n")
    assert "name: oi-dry" in kube_cluster.kubectl("kustomize", str(tmp_path)).stdout


# --- Jobs run through the job controller, the scheduler and the stand-in kubelet --------------------


def test_a_job_reading_a_secret_runs_to_completion(
    kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet
) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    core.create_namespaced_secret(
        kube_namespace, {"metadata": {"name": "sandbox-env"}, "stringData": {"GREETING": "hello from a secret"}}
    )
    script = "import os, sys; print(os.environ['GREETING']); print(sys.executable)"
    manifest = job_manifest("greet", ["python", "-c", script], envFrom=[{"secretRef": {"name": "sandbox-env"}}])
    batch.create_namespaced_job(kube_namespace, manifest)

    assert (
        wait_until(lambda: job_condition(batch, kube_namespace, "greet"), "job done", JOB_TIMEOUT_SECONDS) == "Complete"
    )
    (pod,) = job_pods(core, kube_namespace, "greet")
    assert pod.spec.node_name == stand_in_kubelet.node_name
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    output = stand_in_kubelet.container_log(kube_namespace, pod.metadata.name)
    assert output.splitlines() == ["hello from a secret", str(Path(sys.executable).parent / "python")]


def test_a_failing_command_fails_the_job_with_its_exit_code(kube_api: client.ApiClient, kube_namespace: str) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    script = "import sys; print('something broke'); sys.exit(3)"
    batch.create_namespaced_job(kube_namespace, job_manifest("fail", ["python", "-c", script]))

    assert wait_until(lambda: job_condition(batch, kube_namespace, "fail"), "job done", JOB_TIMEOUT_SECONDS) == "Failed"
    (pod,) = job_pods(core, kube_namespace, "fail")
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (3, "Error", "something broke")


def test_the_real_sandbox_runtime_runs_from_this_venv(kube_api: client.ApiClient, kube_namespace: str) -> None:
    """`python -m sandbox.entrypoint` is the project's runtime; without its environment it exits 2 (CONFIG)."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    batch.create_namespaced_job(kube_namespace, job_manifest("sandbox", ["python", "-m", "sandbox.entrypoint"]))

    assert wait_until(lambda: job_condition(batch, kube_namespace, "sandbox"), "job done", JOB_TIMEOUT_SECONDS)
    (pod,) = job_pods(core, kube_namespace, "sandbox")
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 2
    assert "entrypoint.config_error" in terminated.message


def test_empty_dir_mounts_are_local_directories(
    kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet
) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    script = "import os; open(os.environ['OUT'], 'w').write('x'); print(os.getcwd()); print(os.environ['OUT'])"
    manifest = job_manifest(
        "workspace",
        ["python", "-c", script],
        env=[{"name": "OUT", "value": "/workspace/out.txt"}],
        workingDir="/workspace",
        volumeMounts=[{"name": "work", "mountPath": "/workspace"}],
        pod_spec={"volumes": [{"name": "work", "emptyDir": {}}]},
    )
    batch.create_namespaced_job(kube_namespace, manifest)

    assert wait_until(lambda: job_condition(batch, kube_namespace, "workspace"), "job done", JOB_TIMEOUT_SECONDS) == (
        "Complete"
    )
    (pod,) = job_pods(core, kube_namespace, "workspace")
    cwd, out = stand_in_kubelet.container_log(kube_namespace, pod.metadata.name).splitlines()
    assert out == f"{cwd}/out.txt"
    assert cwd.endswith("/volumes/work") and not cwd.startswith("/workspace")


def test_a_missing_secret_holds_the_pod_until_it_exists(kube_api: client.ApiClient, kube_namespace: str) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    secret_ref = {"secretKeyRef": {"name": "late", "key": "TOKEN"}}
    manifest = job_manifest(
        "late",
        ["python", "-c", "import os; assert os.environ['TOKEN'] == 't'"],
        env=[{"name": "TOKEN", "valueFrom": secret_ref}],
    )
    batch.create_namespaced_job(kube_namespace, manifest)

    def waiting_reason() -> str | None:
        pods = job_pods(core, kube_namespace, "late")
        statuses = (pods and pods[0].status.container_statuses) or []
        return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None

    assert wait_until(waiting_reason, "pod waiting for its secret") == "CreateContainerConfigError"
    core.create_namespaced_secret(kube_namespace, {"metadata": {"name": "late"}, "stringData": {"TOKEN": "t"}})
    assert (
        wait_until(lambda: job_condition(batch, kube_namespace, "late"), "job done", JOB_TIMEOUT_SECONDS) == "Complete"
    )


def test_an_unpullable_image_shows_err_image_pull(kube_api: client.ApiClient, kube_namespace: str) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    batch.create_namespaced_job(kube_namespace, job_manifest("nopull", ["true"], image="registry.invalid/sandbox:1"))
    seen: list[str] = []

    def reason() -> str | None:
        pods = job_pods(core, kube_namespace, "nopull")
        statuses = (pods and pods[0].status.container_statuses) or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting and waiting.reason not in seen:
            seen.append(waiting.reason)
        return waiting.reason if waiting and waiting.reason == "ImagePullBackOff" else None

    wait_until(reason, "ImagePullBackOff")
    assert seen == ["ErrImagePull", "ImagePullBackOff"]
    (pod,) = job_pods(core, kube_namespace, "nopull")
    assert pod.status.phase == "Pending"
    assert job_condition(batch, kube_namespace, "nopull") is None


def test_foreground_deletion_of_a_job_stops_its_process(
    kube_api: client.ApiClient, kube_namespace: str, tmp_path: Path
) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    pid_file = tmp_path / "pid"
    script = (
        "import os, pathlib, signal, sys, time\n"
        "pid = pathlib.Path(os.environ['PID_FILE'])\n"
        "signal.signal(signal.SIGTERM, lambda *_: (pid.with_suffix('.term').write_text('x'), sys.exit(0)))\n"
        "pid.write_text(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    manifest = job_manifest(
        "long",
        ["python", "-c", script],
        env=[{"name": "PID_FILE", "value": str(pid_file)}],
        pod_spec={"terminationGracePeriodSeconds": 5},
    )
    batch.create_namespaced_job(kube_namespace, manifest)
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the process to start"))
    assert psutil.pid_exists(pid)

    batch.delete_namespaced_job("long", kube_namespace, propagation_policy="Foreground")
    wait_until(
        lambda: gone(batch.read_namespaced_job, "long", kube_namespace), "the job to be deleted", JOB_TIMEOUT_SECONDS
    )
    assert job_pods(core, kube_namespace, "long") == []
    assert not psutil.pid_exists(pid)
    assert pid_file.with_suffix(".term").exists()  # SIGTERM, not SIGKILL


def test_a_secret_owned_by_a_job_is_collected_with_it(kube_api: client.ApiClient, kube_namespace: str) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    job = batch.create_namespaced_job(kube_namespace, job_manifest("owner", ["true"]))
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "owner", "uid": job.metadata.uid}
    core.create_namespaced_secret(
        kube_namespace, {"metadata": {"name": "owned", "ownerReferences": [owner]}, "stringData": {"k": "v"}}
    )

    batch.delete_namespaced_job("owner", kube_namespace, propagation_policy="Background")
    wait_until(lambda: gone(core.read_namespaced_secret, "owned", kube_namespace), "the secret to be collected")


def test_a_finished_job_with_a_ttl_is_deleted(kube_api: client.ApiClient, kube_namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    manifest = job_manifest("ttl", ["true"])
    manifest["spec"]["ttlSecondsAfterFinished"] = 0
    batch.create_namespaced_job(kube_namespace, manifest)
    wait_until(
        lambda: gone(batch.read_namespaced_job, "ttl", kube_namespace), "the TTL controller", JOB_TIMEOUT_SECONDS
    )


def test_stopping_the_stand_in_kills_its_processes(
    kube_cluster: TestCluster, kube_namespace: str, tmp_path: Path
) -> None:
    """A second node: its own kubelet, its own Pod, stopped under it."""
    node = "second-node"
    pid_file = tmp_path / "pid"
    script = (
        "import os, pathlib, time; pathlib.Path(os.environ['PID_FILE']).write_text(str(os.getpid())); time.sleep(600)"
    )
    manifest = job_manifest(
        "pinned",
        ["python", "-c", script],
        env=[{"name": "PID_FILE", "value": str(pid_file)}],
        pod_spec={"nodeSelector": {"kubernetes.io/hostname": node}},
    )
    with kube_cluster.api_client() as admin:
        client.BatchV1Api(admin).create_namespaced_job(kube_namespace, manifest)
        # Without its own node token, the admin's does: the Node authorizer is not what is tested here.
        kubelet = StandInKubelet(admin, node).start()
        try:
            pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the process to start"))
        finally:
            kubelet.stop()
        assert not psutil.pid_exists(pid)
        # Nothing plays that node any more: finish its Pod by hand, as for a node that died.
        client.BatchV1Api(admin).delete_namespaced_job("pinned", kube_namespace, propagation_policy="Background")
        client.CoreV1Api(admin).delete_collection_namespaced_pod(kube_namespace, grace_period_seconds=0)
        client.CoreV1Api(admin).delete_node(node)


def test_job_to_running_is_quick(kube_api: client.ApiClient, kube_namespace: str) -> None:
    """Job created -> Pod Running through controller, scheduler and stand-in: well under a second here."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    started = time.monotonic()
    batch.create_namespaced_job(kube_namespace, job_manifest("quick", ["python", "-c", "import time; time.sleep(30)"]))

    def running() -> bool:
        pods = job_pods(core, kube_namespace, "quick")
        return bool(pods) and pods[0].status.phase == "Running"

    wait_until(running, "the pod to run", JOB_TIMEOUT_SECONDS)
    assert time.monotonic() - started < 10


def test_deleting_a_batch_v1_job_without_a_policy_orphans_its_pods(
    kube_api: client.ApiClient, kube_namespace: str
) -> None:
    """A trap worth knowing: batch/v1 defaults to orphaning (kubectl passes Background itself)."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    batch.create_namespaced_job(kube_namespace, job_manifest("orphaning", ["true"], image="registry.invalid/x"))
    wait_until(lambda: job_pods(core, kube_namespace, "orphaning"), "the job's pod")

    batch.delete_namespaced_job("orphaning", kube_namespace)
    wait_until(lambda: gone(batch.read_namespaced_job, "orphaning", kube_namespace), "the job to be deleted")
    (pod,) = job_pods(core, kube_namespace, "orphaning")
    assert not pod.metadata.owner_references


def test_a_service_account_token_carries_its_roles(
    kube_cluster: TestCluster, kube_api: client.ApiClient, kube_namespace: str
) -> None:
    """Tokens signed by the cluster's service-account key are verified; RBAC applies to them."""
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(kube_namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        kube_namespace,
        {"metadata": {"name": "pods"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
    )
    rbac.create_namespaced_role_binding(
        kube_namespace,
        {
            "metadata": {"name": "reader-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": kube_namespace}],
        },
    )
    token = kube_cluster.service_account_token(kube_namespace, "reader")
    with kube_cluster.api_client(token) as api_client:
        as_reader = client.CoreV1Api(api_client)
        assert as_reader.list_namespaced_pod(kube_namespace).items == []
        with pytest.raises(ApiException) as raised:
            as_reader.list_namespaced_secret(kube_namespace)
    assert raised.value.status == 403
    assert f"system:serviceaccount:{kube_namespace}:reader" in json.loads(raised.value.body)["message"]


def test_args_alone_run_as_the_command(kube_api: client.ApiClient, kube_namespace: str) -> None:
    """No `command`: the image's ENTRYPOINT is taken to be an init (tini) that runs `args`."""
    batch = client.BatchV1Api(kube_api)
    manifest = job_manifest("args", [])
    del manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    manifest["spec"]["template"]["spec"]["containers"][0]["args"] = ["python", "-c", "print('ok')"]
    batch.create_namespaced_job(kube_namespace, manifest)
    assert (
        wait_until(lambda: job_condition(batch, kube_namespace, "args"), "job done", JOB_TIMEOUT_SECONDS) == "Complete"
    )
