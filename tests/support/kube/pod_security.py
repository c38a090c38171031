"""The Pod Security Standards' ``restricted`` profile as a pure check of a Pod spec.

The test cluster's API server (1.20) has no Pod Security admission (it arrived in 1.23), so
the rules are checked here instead: every control of the ``baseline`` and ``restricted``
profiles as https://kubernetes.io/docs/concepts/security/pod-security-standards/ states them
(version "latest"), over init, ephemeral and regular containers. :func:`restricted_violations`
returns one line per violation, worded after the field it concerns; none means admitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]

RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
})
RESTRICTED_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def containers(pod_spec: Json) -> Iterable[tuple[str, Json]]:
    for key in ("initContainers", "ephemeralContainers", "containers"):
        for container in pod_spec.get(key) or []:
            yield f"{key}[{container.get('name', '?')}]", container


def restricted_violations(pod_spec: Json, annotations: Mapping[str, str] | None = None) -> list[str]:
    """Every ``restricted`` rule the Pod spec breaks (baseline's included); empty: it would be admitted."""
    found: list[str] = []
    pod_security = pod_spec.get("securityContext") or {}
    every = list(containers(pod_spec))

    def each_container(check: Any) -> None:
        for where, container in every:
            problem = check(container.get("securityContext") or {}, container)
            if problem:
                found.append(f"{where}: {problem}")

    # --- baseline ---------------------------------------------------------------------------
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            found.append(f"spec.{field} must be false")
    if (pod_security.get("windowsOptions") or {}).get("hostProcess"):
        found.append("spec.securityContext.windowsOptions.hostProcess must be false")
    each_container(lambda sc, c: "windowsOptions.hostProcess must be false"
                   if (sc.get("windowsOptions") or {}).get("hostProcess") else None)
    each_container(lambda sc, c: "privileged must be false" if sc.get("privileged") else None)
    each_container(lambda sc, c: "hostPort must be 0 or unset"
                   if any(port.get("hostPort") for port in c.get("ports") or []) else None)
    each_container(lambda sc, c: f"procMount {sc['procMount']} must be Default"
                   if sc.get("procMount") not in (None, "Default") else None)
    for where, options in [("spec.securityContext", pod_security.get("seLinuxOptions")),
                           *((w, (c.get("securityContext") or {}).get("seLinuxOptions")) for w, c in every)]:
        options = options or {}
        if options.get("type", "") not in SELINUX_TYPES or options.get("user") or options.get("role"):
            found.append(f"{where}: seLinuxOptions {options} not allowed")
    for name, value in (annotations or {}).items():
        if name.startswith(APPARMOR_PREFIX) and not (value == "runtime/default" or value.startswith("localhost/")):
            found.append(f"annotation {name}={value} not allowed")
    for sysctl in pod_security.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')} not allowed")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"volume {volume['name']}: hostPath not allowed")
        elif not kinds <= RESTRICTED_VOLUME_TYPES:  # --- restricted from here on
            found.append(f"volume {volume['name']}: {sorted(kinds - RESTRICTED_VOLUME_TYPES)} not allowed")

    # --- restricted --------------------------------------------------------------------------
    each_container(lambda sc, c: None if sc.get("allowPrivilegeEscalation") is False
                   else "allowPrivilegeEscalation must be false")
    if pod_security.get("runAsNonRoot") is not True:
        each_container(lambda sc, c: None if sc.get("runAsNonRoot") is True
                       else "runAsNonRoot must be true (here or for the Pod)")
    each_container(lambda sc, c: "runAsNonRoot must not be false" if sc.get("runAsNonRoot") is False else None)
    if pod_security.get("runAsUser") == 0:
        found.append("spec.securityContext.runAsUser must not be 0")
    each_container(lambda sc, c: "runAsUser must not be 0" if sc.get("runAsUser") == 0 else None)
    pod_seccomp = (pod_security.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_TYPES:
        found.append(f"spec.securityContext.seccompProfile.type {pod_seccomp} not allowed")

    def seccomp(sc: Json, _: Json) -> str | None:
        kind = (sc.get("seccompProfile") or {}).get("type")
        if kind is None:
            return None if pod_seccomp in SECCOMP_TYPES else "seccompProfile.type must be RuntimeDefault or Localhost"
        return None if kind in SECCOMP_TYPES else f"seccompProfile.type {kind} not allowed"

    each_container(seccomp)

    def capabilities(sc: Json, _: Json) -> str | None:
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            return "capabilities.drop must include ALL"
        added = set(caps.get("add") or []) - RESTRICTED_ADDABLE_CAPABILITIES
        return f"capabilities.add {sorted(added)} not allowed" if added else None

    each_container(capabilities)
    return found


def pod_template(workload: Json) -> tuple[Json, Json]:
    """(spec, annotations) of the Pod a workload object makes (Deployment, StatefulSet, Job, Pod…)."""
    if workload["kind"] == "Pod":
        return workload["spec"], workload.get("metadata", {}).get("annotations") or {}
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    return template["spec"], (template.get("metadata") or {}).get("annotations") or {}


WORKLOAD_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})
