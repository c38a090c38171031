"""Sandbox backends, picked by name from an explicit registry (imported lazily)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from backend_jobs.sandboxes.base import SandboxBackend

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

BACKENDS: dict[str, str] = {
    "local": "backend_jobs.sandboxes.local:LocalSandboxBackend",
    "kubernetes": "backend_jobs.sandboxes.kubernetes:KubernetesSandboxBackend",
    "manual": "backend_jobs.sandboxes.manual:ManualSandboxBackend",
}


def create_backend(name: str, settings: Settings) -> SandboxBackend:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module_name, class_name = target.split(":")
    backend_class: type[SandboxBackend] = getattr(importlib.import_module(module_name), class_name)
    return backend_class.from_settings(settings)
