"""Pod Security ``restricted``: both namespaces enforce it, and every Pod the system makes passes it
(the sandbox Job's, init container included, and every workload in k8s/base). Pure: the 1.20 test
API server has no Pod Security admission, so the profile is checked by tests/support/kube/pod_security.py,
itself checked here against specs that break each rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from tests.conftest import REPO_ROOT
from tests.support.kube.pod_security import WORKLOAD_KINDS, pod_template, restricted_violations

BASE = REPO_ROOT / "k8s" / "base"
PSA_MODES = ("enforce", "audit", "warn")

COMPLIANT: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "initContainers": [{"name": "init", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
    "containers": [{"name": "main", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
    "volumes": [{"name": "w", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x"}}],
}


def documents(path: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((BASE / path).read_text()) if doc]


def broken(change: Any) -> dict[str, Any]:
    spec = copy.deepcopy(COMPLIANT)
    change(spec)
    return spec


def init_security(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["initContainers"][0]["securityContext"]


@pytest.mark.parametrize(("change", "expected"), [
    (lambda s: s.update(hostNetwork=True), "spec.hostNetwork must be false"),
    (lambda s: s.update(hostPID=True), "spec.hostPID must be false"),
    (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "volume h: hostPath not allowed"),
    (lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}), "volume n: ['nfs']"),
    (lambda s: init_security(s).update(privileged=True), "initContainers[init]: privileged must be false"),
    (lambda s: init_security(s).pop("allowPrivilegeEscalation"), "initContainers[init]: allowPrivilegeEscalation"),
    (lambda s: init_security(s).update(capabilities={"drop": ["NET_RAW"]}), "capabilities.drop must include ALL"),
    (lambda s: init_security(s).update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "['SYS_ADMIN']"),
    (lambda s: s["securityContext"].pop("runAsNonRoot"), "runAsNonRoot must be true"),
    (lambda s: init_security(s).update(runAsNonRoot=False), "runAsNonRoot must not be false"),
    (lambda s: init_security(s).update(runAsUser=0), "runAsUser must not be 0"),
    (lambda s: s["securityContext"].pop("seccompProfile"), "seccompProfile.type must be RuntimeDefault"),
    (lambda s: init_security(s).update(seccompProfile={"type": "Unconfined"}), "Unconfined not allowed"),
    (lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort"),
    (lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]), "kernel.msgmax"),
])
def test_the_checker_refuses_what_restricted_refuses(change: Any, expected: str) -> None:
    assert restricted_violations(COMPLIANT) == []
    problems = restricted_violations(broken(change))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("runtime_class", [None, "gvisor"])
def test_the_sandbox_pod_and_its_init_container_pass_restricted(runtime_class: str | None) -> None:
    pod = manifests.PodSettings.parse(namespace="openinspect-sandboxes", image="openinspect/sandbox:0.1.0",
                                      cpu="500m/2", memory="1Gi/4Gi", active_deadline_seconds=3600,
                                      ttl_seconds_after_finished=300, runtime_class=runtime_class)
    job = manifests.job(SandboxSpec("a" * 32, "b" * 32, {"OPENINSPECT_SESSION_ID": "b" * 32}, token="t"), pod)
    spec, annotations = pod_template(job)
    assert [c["name"] for c in spec["initContainers"]] == [manifests.INIT_CONTAINER]
    assert restricted_violations(spec, annotations) == []


def test_both_namespaces_enforce_restricted_and_every_workload_in_them_passes() -> None:
    namespaces = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in documents("namespaces.yaml")}
    (config,) = documents("config.yaml")
    assert set(namespaces) == {"openinspect", config["data"]["OPENINSPECT_K8S_NAMESPACE"]}
    for name, labels in namespaces.items():
        for mode in PSA_MODES:
            assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", (name, mode)
    workloads = [doc for path in sorted(BASE.glob("*.yaml")) for doc in documents(path.name)
                 if doc.get("kind") in WORKLOAD_KINDS]
    assert {w["metadata"]["name"] for w in workloads} == {"openinspect-web", "openinspect-worker",
                                                         "openinspect-slack", "openinspect-postgres"}
    for workload in workloads:
        assert workload["metadata"]["namespace"] in namespaces
        spec, annotations = pod_template(workload)
        assert restricted_violations(spec, annotations) == [], workload["metadata"]["name"]
