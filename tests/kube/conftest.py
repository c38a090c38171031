"""Tests that need a real Kubernetes API server. The cluster fixtures come from
tests/support/kube/fixtures.py (registered for the whole suite in tests/conftest.py, so
one cluster serves every directory); here: the system installed into it as the
manifests in k8s/ describe, running its sandboxes as Jobs."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from backend_jobs.control_plane import ControlPlane
from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.kubernetes import KubernetesSandboxBackend
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.conftest import REPO_ROOT
from tests.fakes.scripted_model import ScriptedModel
from tests.support.git_http import GitHttpServer, serve_git_http
from tests.support.http import serve_http
from tests.support.kube.cluster import TestCluster
from tests.support.kube.kubelet import StandInKubelet
from tests.support.system import BOT, OPENCODE_BIN, RunningSystem, make_repo

SANDBOX_NAMESPACE = "openinspect-sandboxes"
IMAGE = "openinspect/sandbox:test"
UNPULLABLE_IMAGE = "registry.invalid/openinspect/sandbox:missing"
# The control plane's model key: the model proxy adds it; no sandbox object may hold it.
PROVIDER_KEY = "sk-test-provider-key-that-stays-in-the-control-plane"


@pytest.fixture(scope="session")
def installed(kube_cluster: TestCluster) -> TestCluster:
    """The manifests' namespaces, the worker's ServiceAccount with its Role, the sandbox quota."""
    for name in ("namespaces.yaml", "rbac.yaml", "sandbox-quota.yaml", "sandbox-networkpolicy.yaml"):
        kube_cluster.kubectl("apply", "-f", str(REPO_ROOT / "k8s" / "base" / name))
    return kube_cluster


@pytest.fixture(scope="session")
def worker_api(installed: TestCluster) -> Iterator[client.ApiClient]:
    """What the worker runs with: the manifests' ServiceAccount token, so its Role and nothing more."""
    with installed.api_client(installed.service_account_token("openinspect", "openinspect-worker")) as api:
        yield api


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    """Repositories over real HTTP: sandboxes in Pods clone over the network, not from a local path."""
    root = tmp_path_factory.mktemp("git")
    work = make_repo(root / "work", {"README.md": "# Project\n",
                                     ".openinspect/setup.sh": "#!/bin/bash\necho 'setup in a pod'\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "project.git")], check=True)
    failing = make_repo(root / "failing", {".openinspect/start.sh": "#!/bin/bash\necho 'no database'\nexit 4\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(failing), str(root / "failing.git")], check=True)
    with serve_git_http(root) as server:
        yield server


def pod_settings(**overrides: Any) -> manifests.PodSettings:
    values: dict[str, Any] = dict(namespace=SANDBOX_NAMESPACE, image=IMAGE, cpu="100m/1", memory="256Mi/2Gi",
                                  active_deadline_seconds=900, ttl_seconds_after_finished=60)
    values.update(overrides)
    return manifests.PodSettings.parse(**values)


SystemFactory = Callable[..., Any]


@pytest.fixture
async def k8s_system(database_url: str, tmp_path: Path, scripted_model: ScriptedModel, worker_api: client.ApiClient,
                     stand_in_kubelet: StandInKubelet) -> AsyncIterator[SystemFactory]:
    """Start the system with the Kubernetes backend: ``await k8s_system(**pod_settings)``."""
    systems: list[ControlPlane] = []
    async with AsyncExitStack() as stack:

        async def start(api_client: client.ApiClient | None = None, **overrides: Any) -> RunningSystem:
            backend = KubernetesSandboxBackend(api_client or worker_api, pod_settings(**overrides))
            settings = Settings.from_env(
                {}, data_dir=tmp_path / f"data{len(systems)}", database_url=database_url, bridge_port=0,
                model_proxy_port=0, sandbox_backend="kubernetes", opencode_bin=OPENCODE_BIN,
                provider_base_url=scripted_model.base_url, provider_api_key=PROVIDER_KEY, bot_name=BOT[0],
                bot_email=BOT[1], heartbeat_interval_seconds=3600.0,
                # The test's git server is on loopback: allowed here, as an operator would for a private host.
                repo_hosts=("127.0.0.1",), repo_allow_private_networks=True)
            system = ControlPlane(settings, backend=backend)
            await system.start()
            systems.append(system)
            stack.push_async_callback(_stop, system)
            api = build_api()
            attach(api, system.context)
            base_url = await stack.enter_async_context(serve_http(api))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
            return RunningSystem(system, http, settings)

        yield start


async def _stop(system: ControlPlane) -> None:
    # Kubernetes sandboxes outlive the control plane on purpose; a test run must not leave any.
    try:
        for sandbox_id in await system.backend.alive():
            await system.backend.stop(sandbox_id)
    except ApiException as error:
        assert error.status == 403  # a test that gave the backend a namespace it may not use
    await system.stop()
