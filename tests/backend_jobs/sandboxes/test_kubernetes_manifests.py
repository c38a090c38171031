"""The sandbox's Secret and Job, built without a cluster."""

from __future__ import annotations

from backend_jobs.sandboxes import kubernetes_manifests as m
from backend_jobs.sandboxes import kubernetes_status as st
from backend_jobs.sandboxes.base import SandboxSpec

SPEC = SandboxSpec("0123456789abcdef0123456789abcdef", "feedfacefeedfacefeedfacefeedface",
                   {"OPENINSPECT_SANDBOX_TOKEN": "secret-token", "OPENINSPECT_CONTROL_PLANE_URL": "ws://cp:8765"})
POD = m.PodSettings.parse(namespace="sandboxes", image="openinspect/sandbox:0.1.0", cpu="500m/2", memory="1Gi/4Gi",
                          active_deadline_seconds=3600, ttl_seconds_after_finished=300, runtime_class="gvisor")


def test_the_secret_holds_the_environment_and_the_job_only_refers_to_it() -> None:
    secret, job = m.secret(SPEC, POD), m.job(SPEC, POD)
    assert secret["stringData"]["OPENINSPECT_SANDBOX_TOKEN"] == "secret-token"
    assert "secret-token" not in str(job)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert secret["metadata"]["namespace"] == job["metadata"]["namespace"] == "sandboxes"


def test_labels_tie_every_object_to_its_session_and_sandbox() -> None:
    for obj in (m.secret(SPEC, POD), m.job(SPEC, POD), m.job(SPEC, POD)["spec"]["template"]):
        labels = obj["metadata"]["labels"]
        assert labels[m.LABEL_SESSION] == SPEC.session_id and labels[m.LABEL_SANDBOX] == SPEC.sandbox_id
        assert all(labels[k] == v for k, v in (p.split("=") for p in m.SELECTOR.split(",")))
    assert len(m.object_name(SPEC.sandbox_id)) <= 63


def test_one_pod_never_retried_with_a_deadline_and_a_ttl() -> None:
    spec = m.job(SPEC, POD)["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 3600, 300)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_the_pod_is_hardened() -> None:
    pod = m.job(SPEC, POD)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["runtimeClassName"] == "gvisor"
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    # Writable: the workspace and /tmp only, and HOME lives in the workspace.
    mounts = {v["mountPath"] for v in container["volumeMounts"]}
    assert mounts == {m.WORKSPACE, "/tmp"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOME"].startswith(m.WORKSPACE) and env["OPENINSPECT_WORKSPACE"] == m.WORKSPACE
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                      "limits": {"cpu": "2", "memory": "4Gi"}}


def test_no_runtime_class_unless_asked() -> None:
    plain = m.PodSettings.parse(namespace="s", image="i", cpu="1/1", memory="1Gi/1Gi", active_deadline_seconds=1,
                                ttl_seconds_after_finished=1)
    assert "runtimeClassName" not in m.job(SPEC, plain)["spec"]["template"]["spec"]


def test_the_secret_is_made_the_jobs_dependent() -> None:
    patch = m.owned_by({"metadata": {"name": "oi-sandbox-x", "uid": "1234"}})
    (owner,) = patch["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["blockOwnerDeletion"]) == ("Job", "oi-sandbox-x",
                                                                                         "1234", True)


def pod(phase: str, **container_state: object) -> dict:
    return {"metadata": {"labels": {m.LABEL_SANDBOX: "sbx"}},
            "status": {"phase": phase, "containerStatuses": [{"image": "img:1", "state": container_state}]}}


def test_reading_pods() -> None:
    assert st.pod_outcome(pod("Running", running={})) is None
    assert st.pod_outcome(pod("Pending", waiting={"reason": "ContainerCreating"})) is None
    pulled = st.pod_outcome(pod("Pending", waiting={"reason": "ImagePullBackOff", "message": "not found"}))
    assert pulled == st.Ended(None, "the sandbox image img:1 could not be pulled (ImagePullBackOff): not found", True)
    failed = st.pod_outcome(pod("Failed", terminated={"exitCode": 3, "reason": "Error", "message": "boom"}))
    assert failed == st.Ended(3, "the sandbox pod failed with exit code 3: boom", True)
    assert st.pod_outcome(pod("Succeeded", terminated={"exitCode": 0})) == st.Ended(0, "the sandbox exited", False)
    deadline = {"status": {"phase": "Failed", "reason": "DeadlineExceeded", "message": "too long"}}
    assert st.pod_outcome(deadline) == st.Ended(None, "the sandbox pod failed (DeadlineExceeded): too long", True)
    assert st.sandbox_of(pod("Running")) == "sbx"
    # Not final: the kubelet retries (e.g. the Secret not yet readable by a Pod just bound).
    stuck = pod("Pending", waiting={"reason": "CreateContainerConfigError", "message": "secret not found"})
    assert st.pod_outcome(stuck) is None
    assert st.config_failure(stuck) == (
        "the sandbox container could not be created (CreateContainerConfigError): secret not found")
    assert st.config_failure(pod("Running", running={})) is None


def test_reading_jobs_and_events() -> None:
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                      "message": "Job was active longer than specified deadline"}]}}
    assert st.job_outcome(job) == st.Ended(
        None, "the sandbox job failed (DeadlineExceeded): Job was active longer than specified deadline", True)
    assert st.job_outcome({"status": {"active": 1}}) is None
    event = {"involvedObject": {"kind": "Job", "name": "oi-sandbox-abc"}, "reason": "FailedCreate",
             "message": "pods is forbidden: exceeded quota: q"}
    assert st.creation_failure(event) == "pods is forbidden: exceeded quota: q"
    assert st.creation_failure({**event, "reason": "SuccessfulCreate"}) is None
    # The Job controller retries what is not a refusal.
    conflict = {**event, "message": "Operation cannot be fulfilled on resourcequotas: the object has been modified"}
    assert st.creation_failure(conflict) is None
    assert st.sandbox_of_name("oi-sandbox-abc") == "abc" and st.sandbox_of_name("other") is None
