"""Where a declared port is: the local backend's loopback port, a Kubernetes Pod's IP, or a reason why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_jobs.sandboxes import kubernetes_status as status
from backend_jobs.sandboxes.addresses import SandboxAddressBook
from backend_jobs.sandboxes.base import SandboxBackend
from backend_jobs.sandboxes.local import LocalSandboxBackend
from backend_jobs.sandboxes.manual import ManualSandboxBackend
from openinspect_core.services.previews import PreviewUnavailable
from openinspect_core.settings import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)}, **values)


async def test_a_local_sandbox_port_is_this_machines_loopback_port_except_the_control_planes_own(
        tmp_path: Path) -> None:
    backend = LocalSandboxBackend.from_settings(settings(tmp_path, web_port=3000, bridge_port=8765,
                                                         model_proxy_port=0))
    assert await backend.port_address("sandbox-1", 5173) == ("127.0.0.1", 5173)
    for own in (3000, 8765):
        with pytest.raises(PreviewUnavailable, match="control plane's own ports"):
            await backend.port_address("sandbox-1", own)


async def test_the_address_book_asks_the_running_backend_or_builds_one_for_lookups(tmp_path: Path) -> None:
    config = settings(tmp_path)
    built: list[str] = []

    def factory(name: str, values: Settings) -> SandboxBackend:
        built.append(name)
        return LocalSandboxBackend.from_settings(values)

    book = SandboxAddressBook(config, factory=factory)  # a web process whose worker runs the sandboxes
    assert await book.address("local", "s1", 4000) == ("127.0.0.1", 4000)
    assert await book.address("local", "s2", 4001) == ("127.0.0.1", 4001)
    assert built == ["local"]  # built once, never started
    with pytest.raises(PreviewUnavailable, match="kubernetes backend, which this system does not use now"):
        await book.address("kubernetes", "s1", 4000)
    manual = SandboxAddressBook(settings(tmp_path, sandbox_backend="manual"),
                                running=ManualSandboxBackend(tmp_path / "m", tmp_path / "w"))
    with pytest.raises(PreviewUnavailable, match="manual sandbox backend has no live previews"):
        await manual.address("manual", "s1", 4000)


async def test_a_backend_that_cannot_be_built_here_says_so(tmp_path: Path) -> None:
    def no_cluster(name: str, values: Settings) -> SandboxBackend:
        raise RuntimeError("no in-cluster credentials")

    book = SandboxAddressBook(settings(tmp_path, sandbox_backend="kubernetes"), factory=no_cluster)
    with pytest.raises(PreviewUnavailable, match="cannot reach the kubernetes sandbox backend from the web process"):
        await book.address("kubernetes", "s1", 4000)


def test_the_running_pod_gives_the_address() -> None:
    def pod(phase: str, ip: str | None, deleting: bool = False) -> dict[str, object]:
        metadata = {"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {}
        return {"metadata": metadata, "status": {"phase": phase, **({"podIP": ip} if ip else {})}}

    assert status.pod_ip([]) is None
    assert status.pod_ip([pod("Pending", None)]) is None
    assert status.pod_ip([pod("Running", "10.2.0.5", deleting=True)]) is None
    assert status.pod_ip([pod("Succeeded", "10.2.0.4"), pod("Running", "10.2.0.5")]) == "10.2.0.5"
