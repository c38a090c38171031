"""A repository secret on the Kubernetes backend: through the sandbox's own Secret (a key only
the init container mounts) to setup.sh and the agent's shell, and back only as ``[secret:NAME]``.
A real API server, the worker's Role, the stand-in kubelet running the real runtime and OpenCode."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

from kubernetes import client

from backend_jobs.sandboxes import kubernetes_manifests as manifests
from tests.kube.conftest import SANDBOX_NAMESPACE, SystemFactory
from tests.support.git_http import GitHttpServer
from tests.support.kube.kubelet import StandInKubelet
from tests.support.system import RunningSystem

NAME = "REGISTRY_TOKEN"
VALUE = "rt-k8s-9c1e44b07a2d53f8"
DIGEST = hashlib.sha256((VALUE + "\n").encode()).hexdigest()  # printenv ends the value with a newline
MARK = f"[secret:{NAME}]"


async def test_a_secret_reaches_setup_and_the_agent_in_a_pod_and_is_stored_only_as_its_mark(
        k8s_system: SystemFactory, git_server: GitHttpServer, kube_api: client.ApiClient,
        stand_in_kubelet: StandInKubelet) -> None:
    s: RunningSystem = await k8s_system()
    response = await s.client.put(f"/api/secrets/{NAME}", json={"value": VALUE})
    assert response.status_code == 200, response.text
    session = await s.create_session(git_server.repo_url("project.git", authenticated=False))
    await s.wait_for_status(session["id"], "ready")
    (sandbox_id,) = [e["data"]["sandbox_id"] for e in await s.events(session["id"])
                     if e["type"] == "sandbox_spawning"]
    name = manifests.object_name(sandbox_id)
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    secret = await asyncio.to_thread(core.read_namespaced_secret, name, SANDBOX_NAMESPACE)
    data = {key: base64.b64decode(value).decode() for key, value in secret.data.items()}
    assert json.loads(data[manifests.SECRETS_KEY]) == {NAME: VALUE}
    assert [key for key, value in data.items() if VALUE in value] == [manifests.SECRETS_KEY]
    job = await asyncio.to_thread(batch.read_namespaced_job, name, SANDBOX_NAMESPACE)
    assert VALUE not in json.dumps(kube_api.sanitize_for_serialization(job))  # never a variable

    # setup.sh ran with it (git_server's project prints nothing of it: the agent's turn shows it).
    message = await s.prompt(session["id"], f"#script bash command='printenv {NAME} | sha256sum; printenv {NAME}'")
    finished = await s.wait_for_prompt_end(session["id"], message["id"])
    assert finished["data"]["status"] == "completed", finished
    events = await s.events(session["id"])
    result = next(e for e in events if e["type"] == "tool_result" and e["message_id"] == message["id"])
    assert DIGEST in result["data"]["output"] and MARK in result["data"]["output"], result
    stored = json.dumps(events)
    assert VALUE not in stored and MARK in stored
