"""What the stand-in kubelet reads from a Pod spec (pure functions, no cluster)."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import REPO_ROOT
from tests.support.kube import podspec
from tests.support.kube.kubelet import CHECKOUT
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


def test_a_checkout_under_a_mounted_tmp_keeps_its_own_paths() -> None:
    # The sandbox Pod mounts an emptyDir at /tmp; the host plays its image, and a checkout at
    # /tmp/x holds that image's OpenCode and venv: those must not move into the Pod's /tmp volume.
    mounts = {"/tmp": "/tmp/node/p/volumes/tmp", "/workspace": "/tmp/node/p/volumes/workspace"}
    image = ["/tmp/x", "/tmp/x/.venv/"]
    bin_path = "/tmp/x/node_modules/.bin/opencode"
    assert podspec.map_mount_paths(bin_path, mounts, image) == bin_path
    assert podspec.map_mount_paths("/tmp/x/.venv/bin/python", mounts, image) == "/tmp/x/.venv/bin/python"
    assert podspec.map_mount_paths("/tmp/x", mounts, image) == "/tmp/x"
    # The volume's own paths still map: the mount path itself, and everything else below it.
    assert podspec.map_mount_paths("/tmp", mounts, image) == "/tmp/node/p/volumes/tmp"
    assert podspec.map_mount_paths("/tmp/agent.log", mounts, image) == "/tmp/node/p/volumes/tmp/agent.log"
    assert podspec.map_mount_paths("/tmp/xy", mounts, image) == "/tmp/node/p/volumes/tmp/xy"
    assert podspec.map_mount_paths("/workspace/home", mounts, image) == "/tmp/node/p/volumes/workspace/home"


def test_a_mount_inside_or_at_an_image_path_is_still_the_volume() -> None:
    mounts = {"/opt/app/cache": "/v/cache", "/srv": "/v/srv"}
    image = ["/opt/app", "/srv"]
    assert podspec.map_mount_paths("/opt/app/cache/a", mounts, image) == "/v/cache/a"
    assert podspec.map_mount_paths("/opt/app/bin/a", mounts, image) == "/opt/app/bin/a"
    assert podspec.map_mount_paths("/srv/a", mounts, image) == "/v/srv/a"


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


def test_the_stand_in_image_is_this_checkout() -> None:
    assert CHECKOUT == REPO_ROOT  # what the Pods' OpenCode and sandbox runtime paths point into
