"""The control plane's replicas on Kubernetes: the workers run two at a time (one leads; the other
holds bridges and takes over), roll one at a time, and a disruption budget keeps one running —
read from the manifests and accepted by the real API server."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO_ROOT
from tests.support.kube.cluster import TestCluster
from tests.support.kube.served import as_served

WORKER = REPO_ROOT / "k8s" / "base" / "worker.yaml"


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(WORKER.read_text()) if doc}


def test_the_workers_run_two_roll_one_at_a_time_and_keep_one_through_a_disruption() -> None:
    docs = documents()
    deployment, budget = docs["Deployment"], docs["PodDisruptionBudget"]
    replicas = deployment["spec"]["replicas"]
    assert replicas >= 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()  # the budget covers the worker Pods
    assert 1 <= budget["spec"]["minAvailable"] < replicas  # a node can still be drained
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_the_api_server_accepts_the_worker_manifests(installed: TestCluster) -> None:
    result = installed.kubectl("apply", "--dry-run=server", "-f", "-", input=as_served(WORKER.read_text()))
    assert "poddisruptionbudget.policy/openinspect-worker" in result.stdout, result.stdout
    assert "deployment.apps/openinspect-worker" in result.stdout, result.stdout
