"""What a sandbox is in Kubernetes: pure builders of its Secret and Job.

No API calls here (``kubernetes.py`` makes them), so every field is tested
without a cluster. One Job (one Pod, never retried) and one Secret per
sandbox; labels tie both, and the Pod, to the session and the sandbox. The Pod
is hardened and passes Pod Security ``restricted``: non-root, no capabilities,
no privilege escalation, seccomp RuntimeDefault, no service-account token,
read-only root filesystem with a writable workspace and /tmp, only emptyDir and
Secret volumes, resources set, optional runtime class (gVisor).

The bridge token never enters an environment. It sits in the Secret under its
own key (:data:`TOKEN_KEY`), which only a tiny init container mounts: it copies
the token (mode 0600) into an in-memory emptyDir at the launch contract's token
file, which the runtime reads and removes before it starts anything. The main
container mounts that emptyDir, never the Secret, and takes the launch spec's
variables key by key (``secretKeyRef``), never ``envFrom``: ``envFrom`` would
turn every key, the token's too, into a variable (Kubernetes accepts
``sandbox-token`` as a variable name).

The session's repository secrets travel the same way: a second key of the same
Secret (:data:`SECRETS_KEY`, a JSON object), copied by the same init container
beside the token, read and removed by the runtime, which hands them to the
repository's scripts and the agent only.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from openinspect_protocol.launch import IMAGE_SECRETS_FILE, IMAGE_TOKEN_FILE, WORKSPACE_ENV, env_name

from backend_jobs.sandboxes.base import SandboxSpec

MANAGED_BY = "openinspect"
LABEL_SESSION = "openinspect.dev/session"
LABEL_SANDBOX = "openinspect.dev/sandbox"
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=sandbox"
CONTAINER = "sandbox"
INIT_CONTAINER = "token"
WORKSPACE = "/workspace"
TOKEN_KEY = "sandbox-token"  # the Secret's key holding the bridge token (never a variable)
TOKEN_FILE = IMAGE_TOKEN_FILE  # where the runtime finds it: /run/openinspect/sandbox-token
TOKEN_DIR = posixpath.dirname(TOKEN_FILE)
SECRETS_KEY = "sandbox-secrets"  # the Secret's key holding the session's secrets (never a variable)
SECRETS_FILE = IMAGE_SECRETS_FILE  # beside the token: /run/openinspect/secrets.json
TOKEN_SECRET_DIR = "/run/openinspect-secret"  # the Secret's token key, in the init container only
TOKEN_FILE_ENV = env_name("sandbox_token_file")
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
    """The sandbox's launch variables (control-plane URL, proxy credential, …) and, under
    :data:`TOKEN_KEY` alone, its bridge token: never in the Job itself."""
    if not spec.token:
        raise ValueError("a Kubernetes sandbox needs its bridge token (SandboxSpec.token)")
    if spec.token in spec.env.values() or TOKEN_KEY in spec.env:
        raise ValueError("the bridge token must not be a launch variable: it goes to the init container only")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": object_name(spec.sandbox_id), "namespace": pod.namespace, "labels": labels(spec)},
        "type": "Opaque",
        "stringData": {**spec.env, TOKEN_KEY: spec.token, **_secrets_data(spec)},
    }


def _secrets_data(spec: SandboxSpec) -> dict[str, str]:
    if SECRETS_KEY in spec.env:
        raise ValueError("the secrets must not be a launch variable: they go to the init container only")
    return {SECRETS_KEY: json.dumps(dict(spec.secrets))} if spec.secrets else {}


def owned_by(job: dict[str, Any]) -> dict[str, Any]:
    """A metadata patch making an object belong to the Job (deleted with it)."""
    return {"metadata": {"ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
        "controller": False, "blockOwnerDeletion": True,
    }]}}


def _hardened() -> dict[str, Any]:
    """Every container's securityContext (Pod Security ``restricted``, and a read-only root)."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _token_init_container(spec: SandboxSpec, pod: PodSettings) -> dict[str, Any]:
    """Copies the token (and the secrets) from the Secret into the in-memory volume, readable by the
    sandbox's user alone."""
    command = ["install", "-m", "0600", f"{TOKEN_SECRET_DIR}/{TOKEN_KEY}", TOKEN_FILE]
    if spec.secrets:
        # Several files: into the directory, each under its item's path (the token's and the secrets' names).
        command = ["install", "-m", "0600", "-t", TOKEN_DIR, f"{TOKEN_SECRET_DIR}/{TOKEN_KEY}",
                   f"{TOKEN_SECRET_DIR}/{posixpath.basename(SECRETS_FILE)}"]
    return {
        "name": INIT_CONTAINER,
        "image": pod.image,
        "imagePullPolicy": pod.image_pull_policy,
        # coreutils' install: copy and set the mode in one step (the image is Debian; no shell needed).
        "command": command,
        "securityContext": _hardened(),
        # It copies a few bytes; requests and limits both, or the sandbox quota refuses the Pod.
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "volumeMounts": [{"name": "token-secret", "mountPath": TOKEN_SECRET_DIR, "readOnly": True},
                         {"name": "token", "mountPath": TOKEN_DIR}],
    }


def _launch_env(spec: SandboxSpec, name: str) -> list[dict[str, Any]]:
    """The launch variables, each from its own key of the Secret; the Pod's layout set by the Pod."""
    layout = {WORKSPACE_ENV: WORKSPACE, "HOME": f"{WORKSPACE}/home", "TMPDIR": "/tmp", TOKEN_FILE_ENV: TOKEN_FILE}
    from_secret = [{"name": key, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
                   for key in sorted(spec.env) if key not in layout]
    return [*from_secret, *({"name": key, "value": value} for key, value in layout.items())]


def _secret_items(spec: SandboxSpec) -> list[dict[str, str]]:
    """The Secret's keys the init container sees, as files named like their copies (``install -t``)."""
    items = [{"key": TOKEN_KEY, "path": posixpath.basename(TOKEN_FILE)}]
    if spec.secrets:
        items.append({"key": SECRETS_KEY, "path": posixpath.basename(SECRETS_FILE)})
    return items


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
        "initContainers": [_token_init_container(spec, pod)],
        "containers": [{
            "name": CONTAINER,
            "image": pod.image,
            "imagePullPolicy": pod.image_pull_policy,
            "args": list(SANDBOX_ARGS),
            "env": _launch_env(spec, name),
            "securityContext": _hardened(),
            "resources": {
                "requests": {"cpu": pod.cpu_request, "memory": pod.memory_request},
                "limits": {"cpu": pod.cpu_limit, "memory": pod.memory_limit},
            },
            # The token's volume, where the runtime reads and removes it; the Secret itself is not mounted.
            "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}, {"name": "tmp", "mountPath": "/tmp"},
                             {"name": "token", "mountPath": TOKEN_DIR}],
        }],
        "volumes": [
            {"name": "workspace", "emptyDir": {"sizeLimit": pod.workspace_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            # In memory: the token never touches the node's disk, and goes when the Pod goes.
            {"name": "token", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "token-secret", "secret": {"secretName": name, "items": _secret_items(spec),
                                                "defaultMode": 0o400}},
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
