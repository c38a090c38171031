"""Init containers on the stand-in kubelet (in order, each to completion, a failure fails the
Pod), and the sandbox Job's own: its bridge token reaches the main container as a file in an
in-memory volume, mode 0600, in no variable, and the runtime may remove it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from tests.kube.test_cluster import JOB_TIMEOUT_SECONDS, job_condition, job_manifest, job_pods
from tests.support.kube.kubelet import StandInKubelet
from tests.support.kube.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stand_in_kubelet")

# Appends its name to the shared file: the order the containers ran in.
APPEND = "import os, sys; open(os.environ['LOG'], 'a').write(sys.argv[1] + '\\n')"


def step(name: str, *, script: str = APPEND) -> dict[str, Any]:
    return {"name": name, "image": "openinspect/sandbox:test", "command": ["python", "-c", script, name],
            "env": [{"name": "LOG", "value": "/shared/order"}],
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}


def job_with_init(name: str, init: list[dict[str, Any]], *, restart_policy: str = "Never") -> dict[str, Any]:
    main = "import os; print(open(os.environ['LOG']).read(), end='')"
    manifest = job_manifest(name, ["python", "-c", main], env=[{"name": "LOG", "value": "/shared/order"}],
                            volumeMounts=[{"name": "shared", "mountPath": "/shared"}],
                            pod_spec={"initContainers": init, "volumes": [{"name": "shared", "emptyDir": {}}]})
    manifest["spec"]["template"]["spec"]["restartPolicy"] = restart_policy
    if restart_policy != "Never":
        manifest["spec"]["backoffLimit"] = 3  # the Job controller counts a Pod's restarts against it
    return manifest


def finished_pod(kube_api: client.ApiClient, namespace: str, name: str) -> tuple[str, client.V1Pod]:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    condition = wait_until(lambda: job_condition(batch, namespace, name), f"job {name} done", JOB_TIMEOUT_SECONDS)
    (pod,) = job_pods(core, namespace, name)
    return condition, pod


def test_init_containers_run_in_order_each_to_completion_before_the_main_one(
        kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet) -> None:
    slow_first = "import os, sys, time; time.sleep(0.5); open(os.environ['LOG'], 'a').write(sys.argv[1] + '\\n')"
    manifest = job_with_init("ordered", [step("first", script=slow_first), step("second")])
    client.BatchV1Api(kube_api).create_namespaced_job(kube_namespace, manifest)

    condition, pod = finished_pod(kube_api, kube_namespace, "ordered")
    assert condition == "Complete" and pod.status.phase == "Succeeded"
    # The main container saw both, in order: the slow first one had finished before the second began.
    assert stand_in_kubelet.container_log(kube_namespace, pod.metadata.name, "main") == "first\nsecond\n"
    states = [(s.name, s.state.terminated.exit_code, s.state.terminated.reason)
              for s in pod.status.init_container_statuses]
    assert states == [("first", 0, "Completed"), ("second", 0, "Completed")]
    assert {c.type: c.status for c in pod.status.conditions}["Initialized"] == "True"


def test_a_failing_init_container_fails_the_pod_and_nothing_after_it_runs(
        kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet) -> None:
    failing = step("broken", script="import sys; print('no token to copy'); sys.exit(3)")
    client.BatchV1Api(kube_api).create_namespaced_job(
        kube_namespace, job_with_init("broken", [step("first"), failing, step("never")]))

    condition, pod = finished_pod(kube_api, kube_namespace, "broken")
    assert condition == "Failed" and pod.status.phase == "Failed"
    first, broken, never = pod.status.init_container_statuses
    assert first.state.terminated.exit_code == 0
    terminated = broken.state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (3, "Error", "no token to copy")
    assert never.state.waiting.reason == "PodInitializing" and never.state.terminated is None
    (main,) = pod.status.container_statuses
    assert main.state.waiting.reason == "PodInitializing"
    assert stand_in_kubelet.container_log(kube_namespace, pod.metadata.name, "main") == ""
    assert {c.type: c.status for c in pod.status.conditions}["Initialized"] == "False"


def test_under_on_failure_a_failing_init_container_runs_again(
        kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet) -> None:
    # Fails the first time (no marker yet), succeeds the second.
    flaky = ("import os, sys; marker = os.environ['LOG'] + '.tried'\n"
             "if not os.path.exists(marker): open(marker, 'w').close(); sys.exit(1)\n"
             "open(os.environ['LOG'], 'a').write(sys.argv[1] + '\\n')")
    client.BatchV1Api(kube_api).create_namespaced_job(
        kube_namespace, job_with_init("flaky", [step("flaky", script=flaky)], restart_policy="OnFailure"))

    condition, pod = finished_pod(kube_api, kube_namespace, "flaky")
    assert condition == "Complete"
    (flaky_status,) = pod.status.init_container_statuses
    assert flaky_status.restart_count == 1 and flaky_status.last_state.terminated.exit_code == 1
    assert stand_in_kubelet.container_log(kube_namespace, pod.metadata.name, "main") == "flaky\n"


# What the sandbox runtime does first: read the token file, then remove it. It also reports
# what else it can see: the file's mode, and any variable holding the token.
PROBE = """
import json, os, stat
path = os.environ["OPENINSPECT_SANDBOX_TOKEN_FILE"]
mode = stat.S_IMODE(os.stat(path).st_mode)
token = open(path).read()
os.remove(path)
print(json.dumps({"token": token, "mode": mode, "removed": not os.path.exists(path),
                  "variables_with_token": sorted(k for k, v in os.environ.items() if token and token in v),
                  "bridge_url": os.environ.get("OPENINSPECT_CONTROL_PLANE_URL")}))
"""


def test_the_sandbox_job_hands_its_token_to_the_runtime_as_a_private_file_only(
        kube_api: client.ApiClient, kube_namespace: str, stand_in_kubelet: StandInKubelet) -> None:
    token = "bridge-token-for-this-pod-only"
    spec = SandboxSpec("a" * 32, "b" * 32, {"OPENINSPECT_SESSION_ID": "b" * 32,
                                            "OPENINSPECT_CONTROL_PLANE_URL": "wss://bridge.example.com"}, token=token)
    pod_settings = manifests.PodSettings.parse(namespace=kube_namespace, image="openinspect/sandbox:test",
                                               cpu="100m/1", memory="256Mi/1Gi", active_deadline_seconds=300,
                                               ttl_seconds_after_finished=300)
    job = manifests.job(spec, pod_settings)
    job["spec"]["template"]["spec"]["containers"][0]["args"] = ["python", "-c", PROBE]  # in place of the runtime
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    core.create_namespaced_secret(kube_namespace, manifests.secret(spec, pod_settings))
    batch.create_namespaced_job(kube_namespace, job)

    condition, pod = finished_pod(kube_api, kube_namespace, manifests.object_name(spec.sandbox_id))
    output = stand_in_kubelet.container_log(kube_namespace, pod.metadata.name, manifests.CONTAINER)
    assert condition == "Complete", output
    seen = json.loads(output)
    # The launch variables still arrive, each from its own key of the Secret.
    assert seen == {"token": token, "mode": 0o600, "removed": True, "variables_with_token": [],
                    "bridge_url": "wss://bridge.example.com"}
    (init,) = pod.status.init_container_statuses
    assert (init.name, init.state.terminated.exit_code) == (manifests.INIT_CONTAINER, 0)
