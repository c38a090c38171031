"""Manifests as the test cluster can take them: it is Debian's Kubernetes 1.20, which serves
PodDisruptionBudgets as ``policy/v1beta1`` only. The manifests say ``policy/v1`` (today's clusters;
``v1beta1`` is gone since 1.25); the two have the same fields for what the manifests use
(``minAvailable``, ``selector``), so only the version is rewritten."""

from __future__ import annotations

from pathlib import Path

import yaml


def as_served(text: str) -> str:
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in documents:
        if doc.get("kind") == "PodDisruptionBudget" and doc.get("apiVersion") == "policy/v1":
            doc["apiVersion"] = "policy/v1beta1"
    return yaml.safe_dump_all(documents)


def file_as_served(path: Path, into: Path) -> Path:
    into.write_text(as_served(path.read_text()))
    return into
