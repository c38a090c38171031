"""What the stand-in kubelet reads from a Pod spec (pure functions, no cluster)."""

from __future__ import annotations

import base64

import pytest

from tests.support.kube import podspec
from tests.support.kube.podspec import ConfigNotReady

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {"nodeName": "n"}}


@pytest.mark.parametrize(
    ("image", "unpullable"),
    [
        ("registry.invalid/sandbox:1", True),
        ("registry.invalid:5000/sandbox", True),
        ("ghcr.io/org/sandbox:1", False),
        ("python:3.11", False),
        ("invalid/sandbox", False),  # Docker Hub user "invalid", not a registry host
    ],
)
def test_images_from_registry_invalid_never_pull(image: str, unpullable: bool) -> None:
    assert podspec.image_unpullable(image) is unpullable


def test_references_expand_like_kubelet() -> None:
    env = {"HOME": "/home/x"}
    assert podspec.expand_references("$(HOME)/a $(UNKNOWN) $$(HOME) $$", env) == "/home/x/a $(UNKNOWN) $(HOME) $"


def test_mount_paths_map_to_local_directories_longest_first() -> None:
    mounts = {"/workspace": "/tmp/p/work", "/workspace/cache": "/tmp/p/cache"}
    assert podspec.map_mount_paths("/workspace", mounts) == "/tmp/p/work"
    assert podspec.map_mount_paths("/workspace/repo/x", mounts) == "/tmp/p/work/repo/x"
    assert podspec.map_mount_paths("/workspace/cache/y", mounts) == "/tmp/p/cache/y"
    assert podspec.map_mount_paths("/workspaces", mounts) == "/workspaces"
    assert podspec.map_mount_paths("relative/workspace", mounts) == "relative/workspace"


def lookup_from(objects: dict[tuple[str, str], dict[str, str]]) -> podspec.ObjectLookup:
    return lambda kind, name: objects.get((kind, name))


def test_environment_from_secrets_config_maps_and_fields() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "c"}, "prefix": "CM_"}],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "$(A)-$(TOKEN)"},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "TOKEN"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k", "optional": True}}},
        ],
    }
    lookup = lookup_from({("Secret", "s"): {"TOKEN": "t"}, ("ConfigMap", "c"): {"MODE": "m"}})
    assert podspec.resolve_environment(POD, container, lookup) == {
        "TOKEN": "t",
        "CM_MODE": "m",
        "A": "1",
        "B": "1-t",
        "KEY": "t",
        "POD": "p",
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"envFrom": [{"secretRef": {"name": "late"}}]}, 'secret "late" not found'),
        (
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}]},
            "couldn't find key nope",
        ),
    ],
)
def test_a_missing_source_is_not_ready(container: dict, message: str) -> None:
    with pytest.raises(ConfigNotReady, match=message):
        podspec.resolve_environment(POD, container, lookup_from({("Secret", "s"): {"k": "v"}}))


def test_secret_data_is_decoded() -> None:
    secret = {"data": {"k": base64.b64encode(b"value").decode()}}
    assert podspec.decode_secret_data(secret) == {"k": "value"}


def test_the_termination_message_keeps_the_end_of_the_output() -> None:
    output = "".join(f"line {i}\n" for i in range(100))
    message = podspec.termination_message(output)
    assert message.splitlines() == [f"line {i}" for i in range(80, 100)]
    assert len(podspec.termination_message("x" * 10_000).encode()) == podspec.TERMINATION_MESSAGE_MAX_BYTES


def test_exit_codes_are_reported_like_a_container_runtime() -> None:
    assert podspec.exit_code_of(3) == 3
    assert podspec.exit_code_of(-15) == 143  # killed by SIGTERM
