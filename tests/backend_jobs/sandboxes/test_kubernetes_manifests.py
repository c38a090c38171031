"""The sandbox's Secret and Job, built without a cluster."""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Any

import pytest
from openinspect_protocol.launch import IMAGE_TOKEN_FILE, LaunchSpec

from backend_jobs.sandboxes import kubernetes_manifests as m
from backend_jobs.sandboxes import kubernetes_status as st
from backend_jobs.sandboxes.base import SandboxSpec
from backend_jobs.supervision import launch_spec
from openinspect_core.models import Repo, Sandbox, Session
from openinspect_core.settings import Settings

PROVIDER_KEY = "sk-ant-the-real-provider-key-0000"  # the control plane's: never in a sandbox
BRIDGE_TOKEN = "the-bridge-token-of-this-sandbox"
PROXY_TOKEN = "the-sandboxs-own-model-proxy-token"
SETTINGS = Settings.from_env({}, provider_kind="anthropic", provider_api_key=PROVIDER_KEY,
                             model="anthropic/claude-sonnet-4-5", sandbox_backend="kubernetes")
SESSION = Session(id="feedfacefeedfacefeedfacefeedface", repo_id="r", created_by="u")
SANDBOX = Sandbox(id="0123456789abcdef0123456789abcdef", session_id=SESSION.id, backend="kubernetes",
                  auth_token_hash="h")
# What the supervisor hands the backend, from the control plane's real settings.
LAUNCH = launch_spec(SETTINGS, SESSION, Repo(url="https://github.com/o/r.git", name="r"), SANDBOX,
                     bridge_url="wss://bridge.example.com", model_proxy_url="http://openinspect-worker:8766",
                     proxy_token=PROXY_TOKEN)
SPEC = SandboxSpec(SANDBOX.id, SESSION.id, LAUNCH.to_env(), token=BRIDGE_TOKEN)
POD = m.PodSettings.parse(namespace="sandboxes", image="openinspect/sandbox:0.1.0", cpu="500m/2", memory="1Gi/4Gi",
                          active_deadline_seconds=3600, ttl_seconds_after_finished=300, runtime_class="gvisor")


def pod_spec(spec: SandboxSpec = SPEC) -> dict[str, Any]:
    return m.job(spec, POD)["spec"]["template"]["spec"]


def test_the_secret_holds_the_launch_variables_and_the_token_under_its_own_key() -> None:
    secret, job = m.secret(SPEC, POD), m.job(SPEC, POD)
    assert secret["stringData"] == {**SPEC.env, m.TOKEN_KEY: BRIDGE_TOKEN}
    assert secret["metadata"]["namespace"] == job["metadata"]["namespace"] == "sandboxes"
    # The Job refers to the Secret's keys, never to their values.
    assert BRIDGE_TOKEN not in json.dumps(job) and PROXY_TOKEN not in json.dumps(job)
    container = job["spec"]["template"]["spec"]["containers"][0]
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert all(ref["name"] == secret["metadata"]["name"] and ref["key"] == name for name, ref in from_secret.items())
    assert set(from_secret) == set(SPEC.env) - {"OPENINSPECT_WORKSPACE", "OPENINSPECT_SANDBOX_TOKEN_FILE"}


def test_no_provider_key_and_no_bridge_token_in_any_variable_or_key_of_the_sandbox() -> None:
    secret, job = m.secret(SPEC, POD), m.job(SPEC, POD)
    assert PROVIDER_KEY not in json.dumps(secret) and PROVIDER_KEY not in json.dumps(job)
    assert SPEC.env["OPENINSPECT_PROVIDER_API_KEY"] == PROXY_TOKEN  # the sandbox's model credential is its own
    assert [key for key, value in secret["stringData"].items() if BRIDGE_TOKEN in value] == [m.TOKEN_KEY]
    pod = job["spec"]["template"]["spec"]
    secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert [[item["key"] for item in v["items"]] for v in secret_volumes.values()] == [[m.TOKEN_KEY]]
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert "envFrom" not in container  # every key would become a variable, the token's too
        refs = [e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", []) if "valueFrom" in e]
        assert m.TOKEN_KEY not in refs
        mounted = {mount["name"] for mount in container["volumeMounts"]}
        assert bool(mounted & set(secret_volumes)) == (container["name"] == m.INIT_CONTAINER), container["name"]
    (init,) = pod["initContainers"]
    assert "env" not in init


def test_the_token_reaches_the_runtime_as_a_file_in_memory_written_by_an_init_container() -> None:
    pod = pod_spec()
    (init,), (main,) = pod["initContainers"], pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    token_file = {e["name"]: e.get("value") for e in main["env"]}["OPENINSPECT_SANDBOX_TOKEN_FILE"]
    assert token_file == m.TOKEN_FILE == IMAGE_TOKEN_FILE == LaunchSpec.model_fields["sandbox_token_file"].default
    # The init container copies the Secret's key to that file, mode 0600.
    assert init["command"] == ["install", "-m", "0600", f"{m.TOKEN_SECRET_DIR}/{m.TOKEN_KEY}", token_file]
    init_mounts = {mount["mountPath"]: mount for mount in init["volumeMounts"]}
    assert volumes[init_mounts[m.TOKEN_SECRET_DIR]["name"]]["secret"]["secretName"] == m.object_name(SPEC.sandbox_id)
    assert init_mounts[m.TOKEN_SECRET_DIR]["readOnly"] is True
    token_volume = volumes[init_mounts[m.TOKEN_DIR]["name"]]
    assert token_volume["emptyDir"]["medium"] == "Memory"  # never on the node's disk
    assert {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}[m.TOKEN_DIR] == token_volume["name"]
    assert token_file.startswith(m.TOKEN_DIR + "/")
    # The same image and user, the same hardening, next to nothing of the quota.
    assert (init["image"], init["imagePullPolicy"]) == (main["image"], main["imagePullPolicy"])
    assert init["securityContext"] == main["securityContext"] and "runAsUser" not in init["securityContext"]
    assert init["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"},
                                 "limits": {"cpu": "100m", "memory": "32Mi"}}


@pytest.mark.parametrize("spec", [
    SandboxSpec(SANDBOX.id, SESSION.id, SPEC.env),  # no token
    SandboxSpec(SANDBOX.id, SESSION.id, {**SPEC.env, "OPENINSPECT_SANDBOX_TOKEN": BRIDGE_TOKEN}, token=BRIDGE_TOKEN),
])
def test_a_secret_without_the_token_or_with_it_in_a_variable_is_refused(spec: SandboxSpec) -> None:
    with pytest.raises(ValueError, match="bridge token"):
        m.secret(spec, POD)


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
    pod = pod_spec()
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["runtimeClassName"] == "gvisor"
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    # Writable: the workspace, /tmp and the token's directory only, and HOME lives in the workspace.
    mounts = {v["mountPath"] for v in container["volumeMounts"]}
    assert mounts == {m.WORKSPACE, "/tmp", m.TOKEN_DIR}
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
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


def test_a_failing_init_container_is_the_reason_and_its_waits_are_read() -> None:
    waiting = {"waiting": {"reason": "PodInitializing"}}
    failed = {"metadata": {"labels": {m.LABEL_SANDBOX: "sbx"}}, "status": {
        "phase": "Failed",
        "initContainerStatuses": [{"name": "token", "image": "img:1", "state": {"terminated": {
            "exitCode": 1, "reason": "Error", "message": "install: cannot stat '/run/openinspect-secret/x'"}}}],
        "containerStatuses": [{"name": "sandbox", "image": "img:1", "state": waiting}]}}
    assert st.pod_outcome(failed) == st.Ended(
        1, "the sandbox pod's init container token failed with exit code 1: "
           "install: cannot stat '/run/openinspect-secret/x'", True)
    for reason, reading in (("ErrImagePull", st.pod_outcome), ("CreateContainerConfigError", st.config_failure)):
        stuck = {"status": {"phase": "Pending", "containerStatuses": [{"image": "img:1", "state": waiting}],
                            "initContainerStatuses": [{"image": "img:1", "state": {"waiting": {"reason": reason}}}]}}
        outcome = reading(stuck)
        assert outcome is not None and reason in str(outcome)


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


def test_the_sessions_secrets_are_another_key_of_the_secret_copied_beside_the_token() -> None:
    values = {"API_KEY": "api-key-value-of-the-repo"}
    spec = dataclasses.replace(SPEC, secrets=values)
    secret, job = m.secret(spec, POD), m.job(spec, POD)
    assert json.loads(secret["stringData"][m.SECRETS_KEY]) == values
    assert "api-key-value-of-the-repo" not in json.dumps(job)  # never a variable of the Pod
    [init] = job["spec"]["template"]["spec"]["initContainers"]
    assert init["command"] == ["install", "-m", "0600", "-t", m.TOKEN_DIR, f"{m.TOKEN_SECRET_DIR}/{m.TOKEN_KEY}",
                               f"{m.TOKEN_SECRET_DIR}/secrets.json"]
    volume = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "token-secret")
    assert volume["secret"]["items"] == [{"key": m.TOKEN_KEY, "path": "sandbox-token"},
                                         {"key": m.SECRETS_KEY, "path": "secrets.json"}]
    # The file names the copies get are the launch contract's.
    assert posixpath.join(m.TOKEN_DIR, "secrets.json") == LaunchSpec.model_fields["secrets_file"].default
    assert posixpath.join(m.TOKEN_DIR, "sandbox-token") == LaunchSpec.model_fields["sandbox_token_file"].default
    assert m.SECRETS_KEY not in m.secret(SPEC, POD)["stringData"]  # no secrets: no key
