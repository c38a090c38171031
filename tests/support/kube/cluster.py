"""A real Kubernetes 1.20 control plane on loopback, for tests: :class:`TestCluster`.

It starts, in a fresh temp dir and on free 127.0.0.1 ports: Debian's etcd 3.4, kube-apiserver
(TLS from ``pki.py``, static token users, ``Node,RBAC`` authorization, service-account token
signing), kube-controller-manager (job, garbage collector, namespace, service-account and
TTL-after-finished controllers, among others) and kube-scheduler. There is no kubelet: pods are
scheduled onto a Node that :class:`~tests.support.kube.kubelet.StandInKubelet` registers and plays.

Users (static tokens; see :data:`USERS`): ``admin`` (``system:masters``), ``controller-manager``,
``scheduler``, ``node`` (``system:node:<node_name>`` in ``system:nodes``, what the stand-in
kubelet should use) and ``nobody`` (authenticated, no role: every request is a real 403).

Binaries come from ``scripts/build-kube``'s cache and are built on first use. Each component logs
to ``<workdir>/<name>.log``; errors carry the tail of the log. ``stop()`` kills everything and
removes the temp dir (also at interpreter exit, should a test run forget).
"""

from __future__ import annotations

import atexit
import base64
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import kubernetes.client

from tests.support.http import free_port
from tests.support.kube.components import Component, KubeBinaries, kube_binaries
from tests.support.kube.pki import ClusterPki, write_pki

DEFAULT_NODE_NAME = "stand-in-node"
# Allocation only (the `kubernetes` Service takes its first address): nothing ever connects to it.
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
FEATURE_GATES = "TTLAfterFinished=true"  # alpha in 1.20, and the Job backend relies on it
# Controllers a Job-based backend exercises. Not nodelifecycle: nothing heartbeats for the stand-in
# node, which that controller would mark NotReady and evict. Not the ones that need a cloud,
# volumes or certificate signing.
CONTROLLERS = (
    "job",
    "cronjob",
    "garbagecollector",
    "namespace",
    "serviceaccount",
    "serviceaccount-token",
    "ttl-after-finished",
    "podgc",
    "replicaset",
    "deployment",
    "resourcequota",
)
START_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.1
KUBECTL_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ClusterUser:
    """A static-token identity: ``name`` keys kubeconfigs, ``username``/``groups`` are what RBAC sees."""

    name: str
    username: str
    groups: tuple[str, ...]
    token: str


def _users(node_name: str) -> dict[str, ClusterUser]:
    specs = {
        "admin": ("admin", ("system:masters",)),
        "controller-manager": ("system:kube-controller-manager", ()),
        "scheduler": ("system:kube-scheduler", ()),
        "node": (f"system:node:{node_name}", ("system:nodes",)),
        "nobody": ("nobody", ()),
    }
    return {
        name: ClusterUser(name, username, groups, secrets.token_hex(16)) for name, (username, groups) in specs.items()
    }


def _token_line(user: ClusterUser) -> str:
    """A ``--token-auth-file`` row: token, user name, uid[, "group,group"]."""
    groups = f',"{",".join(user.groups)}"' if user.groups else ""
    return f"{user.token},{user.username},{user.username}{groups}\n"


class TestCluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler on loopback.

    Use as a context manager (``with TestCluster() as cluster:``) or ``start()``/``stop()``.
    """

    __test__ = False  # a helper, not a pytest test class

    def __init__(
        self,
        *,
        node_name: str = DEFAULT_NODE_NAME,
        binaries: KubeBinaries | None = None,
        start_timeout_seconds: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.node_name = node_name
        self.users = _users(node_name)
        self._binaries = binaries
        self._start_timeout_seconds = start_timeout_seconds
        self._components: list[Component] = []
        self._workdir: Path | None = None
        self._pki: ClusterPki | None = None
        self._api_port = 0
        self._etcd_url = ""
        self.start_seconds: float | None = None

    # --- what tests use -------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("the cluster is not started")
        return self._workdir

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self._api_port}"

    @property
    def ca_file(self) -> Path:
        if self._pki is None:
            raise RuntimeError("the cluster is not started")
        return self._pki.ca_cert

    @property
    def admin_token(self) -> str:
        return self.users["admin"].token

    @property
    def node_token(self) -> str:
        """The token of ``system:node:<node_name>``: what a kubelet for ``node_name`` authenticates with."""
        return self.users["node"].token

    @property
    def binaries(self) -> KubeBinaries:
        if self._binaries is None:
            self._binaries = kube_binaries()
        return self._binaries

    def kubeconfig_path(self, user: str = "admin") -> Path:
        """A kubeconfig for one of :attr:`users` (written once into the temp dir)."""
        path = self.workdir / f"{user}.kubeconfig"
        if not path.exists():
            cluster = {"server": self.api_url, "certificate-authority": str(self.ca_file)}
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": cluster}],
                "users": [{"name": user, "user": {"token": self.users[user].token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
                "current-context": "test",
            }
            path.write_text(json.dumps(config, indent=2))  # JSON is YAML: every client reads it
            path.chmod(0o600)
        return path

    def api_client(self, token: str | None = None) -> kubernetes.client.ApiClient:
        """A client of the official Python library; ``token`` defaults to the admin's."""
        config = kubernetes.client.Configuration()
        config.host = self.api_url
        config.ssl_ca_cert = str(self.ca_file)
        config.api_key = {"BearerToken": token or self.admin_token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(config)

    def service_account_token(self, namespace: str, name: str, timeout_seconds: float = 30.0) -> str:
        """The token of ServiceAccount ``namespace/name`` (1.20: a Secret the token controller fills),
        waiting for it; use it with :meth:`api_client` to act with that account's RBAC."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            account = _http_json(f"{self.api_url}{path}", self.admin_token, self.ca_file) or {}
            for ref in account.get("secrets") or []:
                secret_path = f"/api/v1/namespaces/{namespace}/secrets/{ref['name']}"
                secret = _http_json(f"{self.api_url}{secret_path}", self.admin_token, self.ca_file) or {}
                token = (secret.get("data") or {}).get("token")
                if secret.get("type") == "kubernetes.io/service-account-token" and token:
                    return base64.b64decode(token).decode()
            time.sleep(POLL_INTERVAL_SECONDS)
        raise TimeoutError(f"no token for service account {namespace}/{name} within {timeout_seconds:.0f}s")

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, user: str = "admin"
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster (as ``user``); raise with its stderr if it fails."""
        argv = [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig_path(user)), *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_SECONDS, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
        return result

    def compact_etcd(self) -> None:
        """Compact etcd's history up to now: watches from an older resourceVersion get 410 Gone."""
        status = _post_json(f"{self._etcd_url}/v3/kv/range", {"key": "AA=="})  # any key: the header has the revision
        revision = int(status["header"]["revision"])
        _post_json(f"{self._etcd_url}/v3/kv/compaction", {"revision": revision, "physical": True})

    def log_tail(self, component: str) -> str:
        """The end of one component's log (``etcd``, ``kube-apiserver``, ...)."""
        return next(c for c in self._components if c.name == component).log_tail()

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> TestCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> TestCluster:
        """Start every component and return once the cluster can run Pods (a few seconds)."""
        if self._workdir is not None:
            raise RuntimeError("the cluster is already started")
        binaries = self.binaries  # may build them (minutes); not part of the start time
        started_at = time.monotonic()
        self._workdir = Path(tempfile.mkdtemp(prefix="openinspect-kube-"))
        atexit.register(self.stop)
        try:
            self._start(binaries, deadline=started_at + self._start_timeout_seconds)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started_at
        return self

    def stop(self) -> None:
        """Kill every component (newest first) and remove the temp dir; idempotent."""
        for component in reversed(self._components):
            component.stop()
        self._components.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        atexit.unregister(self.stop)

    def _start(self, binaries: KubeBinaries, deadline: float) -> None:
        workdir = self.workdir
        self._pki = write_pki(workdir, service_ip=KUBERNETES_SERVICE_IP)
        tokens = workdir / "tokens.csv"
        tokens.write_text("".join(_token_line(user) for user in self.users.values()))
        tokens.chmod(0o600)

        etcd_port, etcd_peer_port = free_port(), free_port()
        etcd = self._launch(
            "etcd",
            [
                str(binaries.etcd),
                "--name=test",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}",
                f"--initial-cluster=test=http://127.0.0.1:{etcd_peer_port}",
                "--logger=zap",
                "--log-outputs=stderr",
            ],
        )
        self._wait(etcd, "/health", lambda: _http_ok(f"http://127.0.0.1:{etcd_port}/health"), deadline)

        self._api_port = free_port()
        apiserver = self._launch(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._api_port}",
                "--insecure-port=0",
                f"--cert-dir={workdir / 'apiserver-certs'}",
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--tls-cert-file={self._pki.serving_cert}",
                f"--tls-private-key-file={self._pki.serving_key}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self._pki.service_account_public_key}",
                f"--service-account-signing-key-file={self._pki.service_account_private_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # Endpoints may not hold a loopback address: do not publish one for `kubernetes`.
                "--endpoint-reconciler-type=none",
                f"--feature-gates={FEATURE_GATES}",
                "--allow-privileged=true",
                "--profiling=false",
                # ConfigMaps bypass the watch cache, so a watch from a compacted revision gets a
                # real 410 Gone from etcd (see compact_etcd): how watch re-listing is tested.
                "--watch-cache-sizes=configmaps#0",
            ],
        )
        self._etcd_url = f"http://127.0.0.1:{etcd_port}"
        # The controller manager and scheduler wait for the API server themselves: start them now.
        controller_manager_port = free_port()
        controller_manager = self._launch(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig_path('controller-manager')}",
                "--leader-elect=false",
                "--address=127.0.0.1",
                f"--port={controller_manager_port}",
                "--secure-port=0",
                f"--controllers={','.join(CONTROLLERS)}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self._pki.service_account_private_key}",
                f"--root-ca-file={self._pki.ca_cert}",
                f"--feature-gates={FEATURE_GATES}",
                "--profiling=false",
            ],
        )
        scheduler_port = free_port()
        scheduler = self._launch(
            "kube-scheduler",
            [
                str(binaries.kube_scheduler),
                f"--kubeconfig={self.kubeconfig_path('scheduler')}",
                "--leader-elect=false",
                "--address=127.0.0.1",
                f"--port={scheduler_port}",
                "--secure-port=0",
                "--profiling=false",
            ],
        )
        self._wait(
            apiserver, "/readyz", lambda: _http_ok(f"{self.api_url}/readyz", self.admin_token, self.ca_file), deadline
        )
        self._wait(
            controller_manager,
            "/healthz",
            lambda: _http_ok(f"http://127.0.0.1:{controller_manager_port}/healthz"),
            deadline,
        )
        self._wait(scheduler, "/healthz", lambda: _http_ok(f"http://127.0.0.1:{scheduler_port}/healthz"), deadline)
        # Pods need their namespace's service account (and, in 1.20, its token Secret) to exist.
        self._wait(controller_manager, "the default service account's token", self._default_token_exists, deadline)

    def _launch(self, name: str, argv: list[str]) -> Component:
        component = Component(name, argv, self.workdir / f"{name}.log")
        self._components.append(component)
        component.start()
        return component

    def _wait(self, component: Component, what: str, ready: Callable[[], bool], deadline: float) -> None:
        while not ready():
            if not component.running():
                raise component.failure(f"exited before {what} was ready")
            if time.monotonic() > deadline:
                raise component.failure(f"{what} not ready within {self._start_timeout_seconds:.0f}s")
            time.sleep(POLL_INTERVAL_SECONDS)

    def _default_token_exists(self) -> bool:
        url = f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default"
        body = _http_json(url, self.admin_token, self.ca_file)
        return bool(body and body.get("secrets"))


def _http_json(url: str, token: str | None = None, ca_file: Path | None = None) -> dict | None:
    """GET ``url``; the decoded JSON body on 2xx, else None (also when the server is not up yet)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            data = response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    try:
        return json.loads(data)
    except ValueError:
        return {"text": data.decode(errors="replace")}


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _http_ok(url: str, token: str | None = None, ca_file: Path | None = None) -> bool:
    return _http_json(url, token, ca_file) is not None
