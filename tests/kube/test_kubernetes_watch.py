"""The backend's list-then-watch against a real API server, including a real 410 Gone."""

from __future__ import annotations

import threading
import time
import uuid

from kubernetes import client

from backend_jobs.sandboxes.kubernetes_watch import Watcher
from tests.support.kube.cluster import TestCluster


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, obj: dict) -> None:
        with self._lock:
            self.events.append((kind, obj["metadata"]["name"], (obj.get("data") or {}).get("n", "")))

    def wait_for(self, predicate, timeout_seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.events)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"not seen in {timeout_seconds} s: {self.events}")


def test_a_watch_from_a_compacted_version_gets_410_and_lists_again(kube_cluster: TestCluster,
                                                                   kube_namespace: str) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    name = f"cm-{uuid.uuid4().hex[:6]}"
    created = core.create_namespaced_config_map(kube_namespace, {"metadata": {"name": name}, "data": {"n": "0"}})
    old_version = created.metadata.resource_version
    for n in range(1, 4):
        core.patch_namespaced_config_map(name, kube_namespace, {"data": {"n": str(n)}})
    kube_cluster.compact_etcd()  # the history behind old_version is gone: the server answers 410

    seen = Seen()
    watcher = Watcher(core.list_namespaced_config_map, namespace=kube_namespace, on_event=seen,
                      resource_version=old_version)
    watcher.start()
    try:
        # The 410 made it list: the current state arrives as SYNC...
        seen.wait_for(lambda events: ("SYNC", name, "3") in events)
        assert watcher.relists == 1
        # ...and then it watches from there: later changes arrive, none of the compacted ones.
        core.patch_namespaced_config_map(name, kube_namespace, {"data": {"n": "4"}})
        seen.wait_for(lambda events: ("MODIFIED", name, "4") in events)
        assert [e for e in seen.events if e[0] == "MODIFIED"] == [("MODIFIED", name, "4")]
    finally:
        watcher.stop()


def test_deletions_are_seen(kube_cluster: TestCluster, kube_namespace: str) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    seen = Seen()
    watcher = Watcher(core.list_namespaced_config_map, namespace=kube_namespace, on_event=seen)
    watcher.start()
    try:
        seen.wait_for(lambda events: watcher.relists == 1)
        core.create_namespaced_config_map(kube_namespace, {"metadata": {"name": "short-lived"}, "data": {"n": "1"}})
        core.delete_namespaced_config_map("short-lived", kube_namespace)
        seen.wait_for(lambda events: [k for k, n, _ in events if n == "short-lived"] == ["ADDED", "DELETED"])
    finally:
        watcher.stop()
