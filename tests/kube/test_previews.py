"""Live previews with the Kubernetes backend, on the real API server: the web's own ServiceAccount (the
Role in k8s/base/rbac.yaml) finds a sandbox's Pod address and may do nothing more, and a session's
declared dev server in a Pod answers through the proxy. (The stand-in kubelet gives Pods the host's
network: their podIP is 127.0.0.1.)"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from backend_jobs.sandboxes.base import SandboxSpec
from backend_jobs.sandboxes.kubernetes import KubernetesSandboxBackend
from openinspect_core.services.previews import PreviewUnavailable
from tests.kube.conftest import SANDBOX_NAMESPACE, SystemFactory, pod_settings
from tests.support.git_http import GitHttpServer
from tests.support.http import free_port
from tests.support.kube.cluster import TestCluster
from tests.support.system import make_repo, sign_in_cookie


@pytest.fixture(scope="session")
def web_api(installed: TestCluster) -> Iterator[client.ApiClient]:
    """What the web process runs with: the manifests' openinspect-web ServiceAccount."""
    with installed.api_client(installed.service_account_token("openinspect", "openinspect-web")) as api:
        yield api


async def test_the_web_role_lists_sandbox_pods_and_nothing_more(web_api: client.ApiClient) -> None:
    core, batch = client.CoreV1Api(web_api), client.BatchV1Api(web_api)
    await asyncio.to_thread(core.list_namespaced_pod, SANDBOX_NAMESPACE, label_selector=manifests.SELECTOR)
    refusals = [
        lambda: batch.create_namespaced_job(SANDBOX_NAMESPACE, manifests.job(SandboxSpec("x" * 32, "y" * 32),
                                                                           pod_settings())),
        lambda: core.list_namespaced_secret(SANDBOX_NAMESPACE),
        lambda: core.delete_collection_namespaced_pod(SANDBOX_NAMESPACE),
        lambda: core.list_namespaced_pod("openinspect"),
        lambda: core.list_namespaced_pod("kube-system"),
    ]
    for attempt in refusals:
        with pytest.raises(ApiException) as refused:
            await asyncio.to_thread(attempt)
        assert refused.value.status == 403
    lookup = KubernetesSandboxBackend(web_api, pod_settings())
    with pytest.raises(PreviewUnavailable, match="not running"):
        await lookup.port_address("f" * 32, 3000)  # no such sandbox: no Pod


async def test_a_pods_declared_dev_server_answers_through_the_proxy(
        k8s_system: SystemFactory, git_server: GitHttpServer, web_api: client.ApiClient) -> None:
    port = free_port()
    repo = make_repo(git_server.root / f"preview-{port}", {
        "index.html": "<h1>Served from the pod</h1>\n",
        ".openinspect/preview.toml": f'[[ports]]\nport = {port}\nlabel = "Web app"\n',
        ".openinspect/start.sh": f"#!/bin/bash\nnohup python3 -m http.server {port} --bind 0.0.0.0 "
                                 ">/dev/null 2>&1 &\n",
    })
    await asyncio.to_thread(subprocess.run, ["git", "clone", "-q", "--bare", str(repo),
                                              str(git_server.root / f"preview-{port}.git")], check=True)
    s = await k8s_system()
    session = await s.create_session(git_server.repo_url(f"preview-{port}.git", authenticated=False))
    await s.wait_for_status(session["id"], "ready")
    sandbox_id = next(e["data"]["sandbox_id"] for e in await s.events(session["id"])
                      if e["type"] == "sandbox_spawning")
    # The web process's own lookup, with its own account: the Pod's address.
    assert await KubernetesSandboxBackend(web_api, pod_settings()).port_address(sandbox_id, port) == \
        ("127.0.0.1", port)
    cookie = await sign_in_cookie(s.system.context)
    async with httpx.AsyncClient(base_url=str(s.client.base_url), trust_env=False, timeout=30) as http:
        opened = await http.get(f"/sessions/{session['id']}/preview/{port}/",
                                headers={"Cookie": f"openinspect_session={cookie}"})
        assert opened.status_code == 303, opened.text
        async with asyncio.timeout(30):  # start.sh returned at once; the server may take a moment
            while (page := await http.get(opened.headers["location"])).status_code == 502:
                await asyncio.sleep(0.2)
    assert page.status_code == 200 and page.text == "<h1>Served from the pod</h1>\n"
    assert page.headers["content-security-policy"].startswith("sandbox")
