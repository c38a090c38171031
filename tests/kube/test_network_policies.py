"""Who may connect to whom under the NetworkPolicies in k8s/base. Pure: the test cluster has no
network plugin to enforce them, so tests/support/kube/network_policy.py reads them as the API
defines them (checked first on small cases). The Pods' labels and ports come from the manifests
themselves, so a changed label shows here."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from tests.conftest import REPO_ROOT
from tests.support.kube.network_policy import Endpoint, allowed, selects

BASE = REPO_ROOT / "k8s" / "base"
DOCUMENTS = [doc for path in sorted(BASE.glob("*.yaml")) if path.name != "kustomization.yaml"
             for doc in yaml.safe_load_all(path.read_text()) if doc]
POLICIES = [doc for doc in DOCUMENTS if doc["kind"] == "NetworkPolicy"]
NAMESPACES = {
    **{doc["metadata"]["name"]: doc["metadata"]["labels"] for doc in DOCUMENTS if doc["kind"] == "Namespace"},
    # What the cluster brings: the ingress controller's namespace (as ingress-nginx installs it), DNS, others.
    **{name: {"kubernetes.io/metadata.name": name} for name in ("ingress-nginx", "kube-system", "default")},
}


def workload_pod(name: str, ip: str) -> Endpoint:
    (doc,) = [d for d in DOCUMENTS if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] == name]
    template = doc["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    return Endpoint(ip, doc["metadata"]["namespace"], template["metadata"]["labels"], ports)


WEB = workload_pod("openinspect-web", "10.1.0.10")
WORKER = workload_pod("openinspect-worker", "10.1.0.11")
POSTGRES = workload_pod("openinspect-postgres", "10.1.0.12")
SLACK = workload_pod("openinspect-slack", "10.1.0.13")
SANDBOX = Endpoint("10.2.0.5", "openinspect-sandboxes", manifests.labels(SandboxSpec("a" * 32, "b" * 32)))
# Another Pod in the sandbox namespace that is not a sandbox (no sandbox labels).
STRAY = Endpoint("10.2.0.6", "openinspect-sandboxes", {"app": "debug"})
INGRESS = Endpoint("10.3.0.2", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
OTHER = Endpoint("10.4.0.9", "default", {"app": "something-else"})
DNS = Endpoint("10.5.0.10", "kube-system", {"k8s-app": "kube-dns"})
INTERNET = Endpoint("140.82.112.3")  # e.g. github.com
METADATA = Endpoint("169.254.169.254")
PRIVATE = Endpoint("10.9.9.9")  # a node, a database outside the cluster

WEB_PORT, POSTGRES_PORT = WEB.named_ports["http"], POSTGRES.named_ports["postgres"]
BRIDGE_PORT, PROXY_PORT = WORKER.named_ports["bridge"], WORKER.named_ports["model-proxy"]
SLACK_PORT = SLACK.named_ports["http"]


def test_the_reader_follows_the_api_on_small_cases() -> None:
    assert selects({}, {"a": "1"}) and selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]},
                                               {"a": "1"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "1"})
    assert allowed([], NAMESPACES, OTHER, WEB, 1)  # no policy: everything open
    deny = {"metadata": {"namespace": "default"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert not allowed([deny], NAMESPACES, WEB, OTHER, 80) and allowed([deny], NAMESPACES, OTHER, WEB, 80)
    block = {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}
    ranged = {"metadata": {"namespace": "default"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": block}], "ports": [{"port": 80, "endPort": 90}]},
        {"to": [{"podSelector": {}}], "ports": [{"port": "http"}]}]}}
    assert allowed([ranged], NAMESPACES, OTHER, PRIVATE, 85) and not allowed([ranged], NAMESPACES, OTHER, PRIVATE, 91)
    assert not allowed([ranged], NAMESPACES, OTHER, Endpoint("10.1.2.3"), 85)
    assert allowed([ranged], NAMESPACES, OTHER, Endpoint("10.4.0.8", "default", {}, {"http": 3000}), 3000)
    assert not allowed([ranged], NAMESPACES, OTHER, Endpoint("10.4.0.8", "default", {}, {}), 3000)


@pytest.mark.parametrize(("source", "destination", "port", "expected"), [
    # The web app: from the ingress controller only.
    (INGRESS, WEB, WEB_PORT, True),
    (OTHER, WEB, WEB_PORT, False),
    (SANDBOX, WEB, WEB_PORT, False),
    (WORKER, WEB, WEB_PORT, False),
    # The Slack bot: Slack's HTTP deliveries through the ingress controller, nothing else.
    (INGRESS, SLACK, SLACK_PORT, True),
    (OTHER, SLACK, SLACK_PORT, False),
    (SANDBOX, SLACK, SLACK_PORT, False),
    (WEB, SLACK, SLACK_PORT, False),
    # PostgreSQL: from the web app, the worker and the Slack bot only.
    (WEB, POSTGRES, POSTGRES_PORT, True),
    (WORKER, POSTGRES, POSTGRES_PORT, True),
    (SLACK, POSTGRES, POSTGRES_PORT, True),
    (SANDBOX, POSTGRES, POSTGRES_PORT, False),
    (INGRESS, POSTGRES, POSTGRES_PORT, False),
    (OTHER, POSTGRES, POSTGRES_PORT, False),
    # The worker's bridge and model proxy: from sandboxes only, and nothing else of the worker.
    (SANDBOX, WORKER, BRIDGE_PORT, True),
    (SANDBOX, WORKER, PROXY_PORT, True),
    (SANDBOX, WORKER, 9090, False),
    (STRAY, WORKER, BRIDGE_PORT, False),
    (OTHER, WORKER, BRIDGE_PORT, False),
    (WEB, WORKER, PROXY_PORT, False),
    (INGRESS, WORKER, BRIDGE_PORT, False),
    # Sandboxes: DNS and the internet, never private ranges or the metadata address; nothing gets in.
    (SANDBOX, DNS, 53, True),
    (SANDBOX, INTERNET, 443, True),
    (SANDBOX, METADATA, 80, False),
    (SANDBOX, PRIVATE, 443, False),
    (SANDBOX, OTHER, 80, False),
    (OTHER, SANDBOX, 8080, False),
    (WORKER, SANDBOX, 4096, False),
    # Live previews: the web Pods reach a sandbox's dev servers (the proxy checks which ports); nothing else
    # does, not the ingress controller nor a stray Pod beside the sandboxes.
    (WEB, SANDBOX, 5173, True),
    (WEB, SANDBOX, 3000, True),
    (INGRESS, SANDBOX, 5173, False),
    (STRAY, SANDBOX, 5173, False),
    (SLACK, SANDBOX, 5173, False),
])
def test_who_reaches_what(source: Endpoint, destination: Endpoint, port: int, expected: bool) -> None:
    assert allowed(POLICIES, NAMESPACES, source, destination, port) is expected


def test_sandboxes_reach_dns_over_both_protocols_and_the_control_plane_only_over_tcp() -> None:
    assert allowed(POLICIES, NAMESPACES, SANDBOX, DNS, 53, "UDP")
    assert not allowed(POLICIES, NAMESPACES, SANDBOX, WORKER, BRIDGE_PORT, "UDP")


def test_every_pod_of_the_control_plane_is_isolated_for_ingress() -> None:
    """A new workload in the namespace starts closed: the default-deny policy selects every Pod."""
    def isolating(policy: dict[str, Any]) -> bool:
        return (policy["metadata"]["namespace"] == "openinspect" and policy["spec"]["podSelector"] == {}
                and policy["spec"]["policyTypes"] == ["Ingress"] and not policy["spec"].get("ingress"))
    assert any(isolating(policy) for policy in POLICIES)
    newcomer = Endpoint("10.1.0.99", "openinspect", {"app": "new"}, {"http": 8080})
    assert not allowed(POLICIES, NAMESPACES, INGRESS, newcomer, 8080)
