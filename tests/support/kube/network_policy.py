"""Which connections a set of NetworkPolicies allows, decided as the Kubernetes API defines it.

The test cluster has no network plugin (the stand-in kubelet gives Pods no network of their
own), so no policy is enforced there; :func:`allowed` reads the policies instead: a Pod is
isolated for ingress (egress) once any policy of its namespace selects it with that policy
type, and then only what some such policy's rules allow gets in (out). A connection needs
both: the source's egress and the destination's ingress. Peers: ``podSelector`` (in the
policy's namespace), ``namespaceSelector`` (with a ``podSelector``: both), ``ipBlock``
(``cidr`` minus ``except``, matched against the other end's IP); ports by number or by the
destination container's port name, with ``endPort``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
Namespaces = Mapping[str, Mapping[str, str]]  # name -> labels
# direction -> (policy type, rules key, peers key)
DIRECTIONS = {"ingress": ("Ingress", "ingress", "from"), "egress": ("Egress", "egress", "to")}


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a Pod (namespace and labels) or, with no namespace, an outside address."""

    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    named_ports: Mapping[str, int] = field(default_factory=dict)  # its containers' port names


def selects(selector: Json | None, labels: Mapping[str, str]) -> bool:
    """A label selector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist); {} selects all."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _in_block(block: Json, ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(address in ipaddress.ip_network(excluded) for excluded in block.get("except") or [])


def _peer_matches(peer: Json, policy_namespace: str, other: Endpoint, namespaces: Namespaces) -> bool:
    if "ipBlock" in peer:
        return _in_block(peer["ipBlock"], other.ip)
    if other.namespace is None:  # outside the cluster: only an ipBlock can match it
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespaces.get(other.namespace, {})):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), other.labels)


def _port_matches(rule_ports: list[Json] | None, port: int, protocol: str, destination: Endpoint) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        named_or_number: int | str | None = entry.get("port")
        if named_or_number is None:
            return True
        wanted = (destination.named_ports.get(named_or_number) if isinstance(named_or_number, str)
                  else named_or_number)
        if wanted is not None and wanted <= port <= int(entry.get("endPort", wanted)):
            return True
    return False


def _direction_allows(policies: Iterable[Json], pod: Endpoint, other: Endpoint, direction: str, port: int,
                      protocol: str, destination: Endpoint, namespaces: Namespaces) -> bool:
    if pod.namespace is None:
        return True  # outside the cluster: no policy applies to it
    kind, rules_key, peers_key = DIRECTIONS[direction]
    isolating = [p for p in policies if p["metadata"].get("namespace", "default") == pod.namespace
                 and selects(p["spec"].get("podSelector"), pod.labels)
                 and kind in p["spec"].get("policyTypes", ["Ingress"] + (["Egress"] if "egress" in p["spec"] else []))]
    if not isolating:
        return True
    for policy in isolating:
        namespace = policy["metadata"].get("namespace", "default")
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, namespace, other, namespaces) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol, destination):
                return True
    return False


def allowed(policies: Iterable[Json], namespaces: Namespaces, source: Endpoint,
            destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """May ``source`` open a connection to ``destination`` on ``port``?"""
    policies = list(policies)
    return (_direction_allows(policies, source, destination, "egress", port, protocol, destination, namespaces)
            and _direction_allows(policies, destination, source, "ingress", port, protocol, destination, namespaces))
