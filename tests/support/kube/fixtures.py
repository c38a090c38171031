"""pytest fixtures for tests that need a real Kubernetes API server.

``kube_cluster`` (session): one :class:`~tests.support.kube.cluster.TestCluster` for the run.
``stand_in_kubelet`` (session): the :class:`~tests.support.kube.kubelet.StandInKubelet` playing the
cluster's node, with the node's own token (Node authorizer + RBAC, as a real kubelet).
``kube_api`` (session): an admin ``kubernetes.client.ApiClient`` for it.
``kube_namespace`` (per test): a fresh namespace whose default service account is ready; deleted after.

Session fixtures are shared only by tests that see the same fixture definition: import these into
one conftest (tests/kube/conftest.py does), or list this module in the root conftest's
``pytest_plugins`` to share one cluster across test directories.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import REPO_ROOT
from tests.support.kube.cluster import TestCluster
from tests.support.kube.components import binaries_cached, kube_binaries
from tests.support.kube.kubelet import StandInKubelet
from tests.support.kube.waiting import wait_until

NAMESPACE_READY_TIMEOUT_SECONDS = 30.0


@contextmanager
def _test_timeout_paused() -> Iterator[None]:
    """pytest-timeout (signal method) counts fixture setup; a one-off build of minutes is not a test's time."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[TestCluster]:
    if not binaries_cached():
        with _test_timeout_paused():
            kube_binaries()  # scripts/build-kube: ~5 min on 2 cores, once per machine
    with TestCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kube_api(kube_cluster: TestCluster) -> Iterator[client.ApiClient]:
    with kube_cluster.api_client() as api_client:
        yield api_client


@pytest.fixture(scope="session")
def stand_in_kubelet(kube_cluster: TestCluster) -> Iterator[StandInKubelet]:
    api_client = kube_cluster.api_client(kube_cluster.node_token)
    # What the sandbox image's ENV provides (sandbox/Dockerfile): its runtime on PYTHONPATH.
    image_env = {"PYTHONPATH": str(REPO_ROOT)}
    try:
        with StandInKubelet(api_client, kube_cluster.node_name, extra_env=image_env) as kubelet:
            yield kubelet
    finally:
        api_client.close()


@pytest.fixture
def kube_namespace(kube_api: client.ApiClient) -> Iterator[str]:
    """A new namespace; Pods can be created in it at once (its default service account has a token).
    Deleted afterwards without waiting (the namespace controller and the stand-in finish it)."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def default_account_ready() -> bool:
        try:
            return bool(core.read_namespaced_service_account("default", name).secrets)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    wait_until(default_account_ready, f"service account default in {name}", NAMESPACE_READY_TIMEOUT_SECONDS)
    try:
        yield name
    finally:
        core.delete_namespace(name)
