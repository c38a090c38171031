"""What the stand-in kubelet decides from a Pod's spec, as pure functions (no API, no processes).

- which images cannot be "pulled" (:func:`image_unpullable`), and what runs (:func:`container_argv`:
  ``command`` + ``args``, or ``args`` alone when the image's ENTRYPOINT would be an init like tini);
- a container's environment: ``envFrom`` then ``env`` in order, ``$(VAR)`` references expanded
  as kubelet does, values from Secrets, ConfigMaps and a few ``fieldRef`` paths
  (:func:`resolve_environment`; the objects are looked up through a callback that may raise
  :class:`ConfigNotReady`, as kubelet's CreateContainerConfigError);
- paths: there is no container filesystem, so each volume mount is a local directory and any
  env value, argument or workingDir that starts with a mount path is rewritten to it, unless it
  lies in one of the host directories playing the image's files (:func:`map_mount_paths`);
- the pod statuses a kubelet writes (:func:`waiting_state`, :func:`terminated_state`, ...).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Json = dict[str, Any]

# Images from these registries always fail to pull (ErrImagePull, then ImagePullBackOff).
# `.invalid` is reserved (RFC 2606): no real registry can have that name.
UNPULLABLE_REGISTRIES = frozenset({"registry.invalid"})
# Kubernetes caps a termination message at 4096 bytes; kubelet's log fallback keeps the end.
TERMINATION_MESSAGE_MAX_BYTES = 4096
TERMINATION_MESSAGE_MAX_LINES = 20

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigNotReady(Exception):
    """A Secret/ConfigMap (or a key in it) a container needs is not there (yet): retry later."""


def image_registry_host(image: str) -> str | None:
    """The registry host named in ``image``, or None for Docker Hub's short names."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.split(":")[0]
    return None


def image_unpullable(image: str) -> bool:
    return image_registry_host(image) in UNPULLABLE_REGISTRIES


def expand_references(value: str, env: Mapping[str, str]) -> str:
    """Kubelet's ``$(VAR)`` expansion: known names are replaced, unknown ones kept, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, value)


def map_mount_paths(value: str, mounts: Mapping[str, str], image_paths: Iterable[str] = ()) -> str:
    """``value`` with a leading container mount path replaced by its local directory (longest wins).

    ``image_paths`` are host directories that play the image's own files (the checkout, its venv):
    they count as mounted at their own path. The host is the image's filesystem here, so a Pod's
    ``/tmp`` volume must not shadow a checkout that happens to live under /tmp; a more specific
    mount inside one still wins, and a mount path itself always means its volume (it wins a tie).
    """
    table: dict[str, str | None] = {path.rstrip("/") or "/": None for path in image_paths}  # None: kept
    table.update({path.rstrip("/") or "/": local for path, local in mounts.items()})
    for root in sorted(table, key=len, reverse=True):
        if value == root or value.startswith(root + "/"):
            local = table[root]
            return value if local is None else local + value[len(root) :]
    return value


def container_argv(container: Json) -> list[str]:
    """``command`` + ``args``; with no ``command``, ``args`` alone: the image's ENTRYPOINT is taken
    to be an init that runs its arguments (tini, as in the sandbox image)."""
    return [*(container.get("command") or []), *(container.get("args") or [])]


def decode_secret_data(secret: Json) -> dict[str, str]:
    data = secret.get("data") or {}
    return {key: base64.b64decode(value).decode("utf-8", errors="replace") for key, value in data.items()}


# Lookup of ("Secret" | "ConfigMap", name) -> decoded data; None when it does not exist.
ObjectLookup = Callable[[str, str], dict[str, str] | None]

_FIELD_PATHS: dict[str, Callable[[Json], str]] = {
    "metadata.name": lambda pod: pod["metadata"]["name"],
    "metadata.namespace": lambda pod: pod["metadata"]["namespace"],
    "metadata.uid": lambda pod: pod["metadata"]["uid"],
    "spec.nodeName": lambda pod: pod["spec"].get("nodeName", ""),
    "spec.serviceAccountName": lambda pod: pod["spec"].get("serviceAccountName", ""),
    "status.podIP": lambda pod: "127.0.0.1",
    "status.hostIP": lambda pod: "127.0.0.1",
}


def memoized(lookup: ObjectLookup) -> ObjectLookup:
    """``lookup`` reading each object once (a container may refer to many keys of one Secret)."""
    cache: dict[tuple[str, str], dict[str, str] | None] = {}

    def cached(kind: str, name: str) -> dict[str, str] | None:
        if (kind, name) not in cache:
            cache[(kind, name)] = lookup(kind, name)
        return cache[(kind, name)]

    return cached


def object_data(lookup: ObjectLookup, kind: str, ref: Json) -> dict[str, str] | None:
    """The data of the referenced object; None if it is missing and optional."""
    name = ref["name"]
    data = lookup(kind, name)
    if data is None and not ref.get("optional"):
        raise ConfigNotReady(f'{kind.lower()} "{name}" not found')
    return data


def _object_key(lookup: ObjectLookup, kind: str, ref: Json) -> str | None:
    """One key of the referenced object; None if it (or the object) is missing and optional."""
    data = object_data(lookup, kind, ref)
    if data is None:
        return None
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ConfigNotReady(f"couldn't find key {ref['key']} in {kind} {ref['name']}")
    return data[ref["key"]]


def resolve_environment(pod: Json, container: Json, lookup: ObjectLookup) -> dict[str, str]:
    """The container's own variables (no base environment); :class:`ConfigNotReady` if a source is missing."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if field in source:
                for key, value in (object_data(lookup, kind, source[field]) or {}).items():
                    env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand_references(var.get("value", ""), env)
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            value = _object_key(lookup, "Secret", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _object_key(lookup, "ConfigMap", source["configMapKeyRef"])
        elif "fieldRef" in source and source["fieldRef"]["fieldPath"] in _FIELD_PATHS:
            value = _FIELD_PATHS[source["fieldRef"]["fieldPath"]](pod)
        else:
            raise ValueError(f"env {name}: valueFrom {sorted(source)} is not supported by the stand-in kubelet")
        if value is not None:
            env[name] = str(value)
    return env


def termination_message(output: str) -> str:
    """The end of a container's output, as kubelet's FallbackToLogsOnError would keep it."""
    tail = "\n".join(output.rstrip("\n").splitlines()[-TERMINATION_MESSAGE_MAX_LINES:])
    encoded = tail.encode("utf-8", errors="replace")[-TERMINATION_MESSAGE_MAX_BYTES:]
    return encoded.decode("utf-8", errors="ignore")


def waiting_state(reason: str, message: str = "") -> Json:
    return {"waiting": {"reason": reason, **({"message": message} if message else {})}}


def running_state(started_at: str) -> Json:
    return {"running": {"startedAt": started_at}}


def terminated_state(exit_code: int, started_at: str, finished_at: str, message: str, container_id: str) -> Json:
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "message": message,
            "startedAt": started_at,
            "finishedAt": finished_at,
            "containerID": container_id,
        }
    }


def exit_code_of(returncode: int) -> int:
    """A Popen return code as a container runtime reports it (killed by signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def pod_conditions(ready: bool, now: str, reason: str | None = None, *, initialized: bool = True) -> list[Json]:
    def condition(kind: str, status: bool, why: str | None = None) -> Json:
        entry: Json = {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now}
        if why and not status:
            entry["reason"] = why
        return entry

    return [
        condition("Initialized", initialized, "ContainersNotInitialized"),
        condition("Ready", ready, reason),
        condition("ContainersReady", ready, reason),
        condition("PodScheduled", True),
    ]
