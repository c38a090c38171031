"""What a sandbox is in Kubernetes: pure builders of its Secret and Job.

No API calls here (``kubernetes.py`` makes them), so every field is tested
without a cluster. One Job (one Pod, never retried) and one Secret per
sandbox; labels tie both, and the Pod, to the session and the sandbox. The Pod
is hardened: non-root, no capabilities, no privilege escalation, seccomp
RuntimeDefault, no service-account token, read-only root filesystem with a
writable workspace and /tmp, resources set, optional runtime class (gVisor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend_jobs.sandboxes.base import SandboxSpec

MANAGED_BY = "openinspect"
LABEL_SESSION = "openinspect.dev/session"
LABEL_SANDBOX = "openinspect.dev/sandbox"
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=sandbox"
CONTAINER = "sandbox"
WORKSPACE = "/workspace"
SANDBOX_UID = 10001  # the image's unprivileged user (sandbox/Dockerfile)
# What the Pod runs: the image's ENTRYPOINT is an init (tini) that reaps the agent's
# orphans; these arguments are its CMD, stated here too so a Job never depends on it.
SANDBOX_ARGS = ("python", "-m", "sandbox.entrypoint")
STOP_GRACE_SECONDS = 10  # the supervisor closes the agent and flushes its last events


@dataclass(frozen=True)
class PodSettings:
    namespace: str
    image: str
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    active_deadline_seconds: int
    ttl_seconds_after_finished: int
    runtime_class: str | None = None
    workspace_size: str = "10Gi"
    image_pull_policy: str = "IfNotPresent"

    @classmethod
    def parse(cls, *, namespace: str, image: str, cpu: str, memory: str, active_deadline_seconds: int,
              ttl_seconds_after_finished: int, runtime_class: str | None = None) -> PodSettings:
        cpu_request, cpu_limit = cpu.split("/")
        memory_request, memory_limit = memory.split("/")
        return cls(namespace, image, cpu_request, cpu_limit, memory_request, memory_limit,
                   active_deadline_seconds, ttl_seconds_after_finished, runtime_class)


def object_name(sandbox_id: str) -> str:
    return f"oi-sandbox-{sandbox_id}"  # 43 characters: well inside Kubernetes' 63


def labels(spec: SandboxSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "openinspect-sandbox",
        "app.kubernetes.io/component": "sandbox",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_SESSION: spec.session_id,
        LABEL_SANDBOX: spec.sandbox_id,
    }


def secret(spec: SandboxSpec, pod: PodSettings) -> dict[str, Any]:
    """The sandbox's environment (token, control-plane URL, …): never in the Job itself."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": object_name(spec.sandbox_id), "namespace": pod.namespace, "labels": labels(spec)},
        "type": "Opaque",
        "stringData": dict(spec.env),
    }


def owned_by(job: dict[str, Any]) -> dict[str, Any]:
    """A metadata patch making an object belong to the Job (deleted with it)."""
    return {"metadata": {"ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
        "controller": False, "blockOwnerDeletion": True,
    }]}}


def job(spec: SandboxSpec, pod: PodSettings) -> dict[str, Any]:
    name = object_name(spec.sandbox_id)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SANDBOX_UID,
            "runAsGroup": SANDBOX_UID,
            "fsGroup": SANDBOX_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [{
            "name": CONTAINER,
            "image": pod.image,
            "imagePullPolicy": pod.image_pull_policy,
            "args": list(SANDBOX_ARGS),
            "envFrom": [{"secretRef": {"name": name}}],
            "env": [
                {"name": "OPENINSPECT_WORKSPACE", "value": WORKSPACE},
                {"name": "HOME", "value": f"{WORKSPACE}/home"},
                {"name": "TMPDIR", "value": "/tmp"},
            ],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {
                "requests": {"cpu": pod.cpu_request, "memory": pod.memory_request},
                "limits": {"cpu": pod.cpu_limit, "memory": pod.memory_limit},
            },
            "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [
            {"name": "workspace", "emptyDir": {"sizeLimit": pod.workspace_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }
    if pod.runtime_class:
        pod_spec["runtimeClassName"] = pod.runtime_class
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": pod.namespace, "labels": labels(spec)},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": pod.active_deadline_seconds,
            "ttlSecondsAfterFinished": pod.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels(spec)}, "spec": pod_spec},
        },
    }
