"""A real Kubernetes 1.20 control plane on loopback for tests, and a stand-in kubelet.

cluster.py (TestCluster), kubelet.py (StandInKubelet), fixtures.py (pytest fixtures);
see docs/test-cluster.md.
"""
