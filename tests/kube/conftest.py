"""Tests of the test cluster itself (tests/support/kube): real kube-apiserver, stand-in kubelet."""

from tests.support.kube.fixtures import kube_api, kube_cluster, kube_namespace, stand_in_kubelet

__all__ = ["kube_api", "kube_cluster", "kube_namespace", "stand_in_kubelet"]
