"""What a sandbox's Kubernetes objects say about it: pure readings of Pod, Job
and Event objects (as the API returns them, camelCase JSON), tested without a
cluster. The backend acts on these readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend_jobs.sandboxes.kubernetes_manifests import LABEL_SANDBOX

# A container stuck in one of these will never start: give up at once instead of
# waiting for the heartbeat timeout.
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
# These the kubelet retries, and they often pass (a Secret not yet readable by a Pod
# that was just bound): only a Pod still stuck after CONFIG_GRACE_SECONDS has failed.
CONFIG_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
CONFIG_GRACE_SECONDS = 30.0
MESSAGE_CHARS = 500


@dataclass(frozen=True)
class Ended:
    exit_code: int | None
    reason: str
    failed: bool


def sandbox_of(obj: dict[str, Any]) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_SANDBOX)


def _short(text: str | None) -> str:
    text = (text or "").strip()
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"


def _containers(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers first: they run first, and the main container waits (PodInitializing) on them."""
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def config_failure(pod: dict[str, Any]) -> str | None:
    """A container the kubelet cannot create yet (it retries): the reason, for a later judgement."""
    for container in _containers(pod.get("status") or {}):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CONFIG_FAILURES:
            return (f"the sandbox container could not be created ({waiting['reason']}): "
                    f"{_short(waiting.get('message'))}").rstrip(": ")
    return None


def pod_outcome(pod: dict[str, Any]) -> Ended | None:
    """None while the Pod may still come to something; else how it ended."""
    status = pod.get("status") or {}
    for container in _containers(status):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in PULL_FAILURES:
            image = container.get("image", "")
            return Ended(None, f"the sandbox image {image} could not be pulled ({reason}): "
                               f"{_short(waiting.get('message'))}".rstrip(": "), True)
    phase = status.get("phase")
    if phase not in ("Failed", "Succeeded"):
        return None
    if phase == "Succeeded":
        return Ended(0, "the sandbox exited", False)
    failed_init = next((c for c in status.get("initContainerStatuses") or []
                        if ((c.get("state") or {}).get("terminated") or {}).get("exitCode", 0) != 0), None)
    if failed_init is not None:  # the sandbox itself never started
        terminated = failed_init["state"]["terminated"]
        code = terminated.get("exitCode")
        detail = _short(terminated.get("message")) or terminated.get("reason") or "Error"
        return Ended(code, f"the sandbox pod's init container {failed_init.get('name', '')} failed "
                           f"with exit code {code}: {detail}", True)
    terminated = next((((c.get("state") or {}).get("terminated")) for c in status.get("containerStatuses") or []
                       if (c.get("state") or {}).get("terminated")), None)
    if terminated:
        code = terminated.get("exitCode")
        detail = _short(terminated.get("message")) or terminated.get("reason") or "Error"
        return Ended(code, f"the sandbox pod failed with exit code {code}: {detail}", True)
    reason = status.get("reason") or "Failed"  # e.g. DeadlineExceeded, Evicted
    return Ended(None, f"the sandbox pod failed ({reason}): {_short(status.get('message'))}".rstrip(": "), True)


def job_outcome(job: dict[str, Any]) -> Ended | None:
    """A Job that failed without a Pod saying why (deadline, Pod deleted by hand, …)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason = condition.get("reason") or "Failed"
            return Ended(None, f"the sandbox job failed ({reason}): {_short(condition.get('message'))}".rstrip(": "),
                         True)
    return None


def creation_failure(event: dict[str, Any]) -> str | None:
    """The Job controller could not create the Pod and will not soon (quota, admission): why.

    A refusal says "forbidden"; anything else (an update conflict on the quota object,
    say) the Job controller simply retries.
    """
    involved = event.get("involvedObject") or {}
    message = event.get("message") or ""
    if involved.get("kind") == "Job" and event.get("reason") == "FailedCreate" and "forbidden" in message:
        return _short(message)
    return None


def sandbox_of_name(name: str) -> str | None:
    """The sandbox id in a sandbox object's name (Events name their object, without labels)."""
    prefix = "oi-sandbox-"
    return name[len(prefix):] if name.startswith(prefix) else None


def pod_ip(pods: list[dict[str, Any]]) -> str | None:
    """The address of the one running Pod among a sandbox's Pods (live previews), None when none runs yet.

    A Pod being deleted is not running any more for this purpose: its dev server is going away.
    """
    for pod in pods:
        status = pod.get("status") or {}
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
        if status.get("phase") == "Running" and status.get("podIP") and not deleting:
            return str(status["podIP"])
    return None
