"""The control-plane image cannot be built here (no image registry), so this reads ./Dockerfile
and the Deployments that run it: the code is root's and not writable by the running user (uid
10001), who may write only /data and Reflex's working copy in /srv/web; the Pods mount the root
read-only with an emptyDir for each of those and /tmp; the web's start copies what
`reflex run --env prod` rewrites at every start (named after Reflex's own constants).

What was checked by hand (docs/kubernetes.md): this CMD as uid 10001 under bubblewrap, with /
read-only, the code and frontend root's, and only /srv/web and /tmp writable: `reflex run --env
prod` compiles, rebuilds the frontend and answers /api/health (and without the chmod, the copy
fails on a 0600 file)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import yaml
from reflex_base import constants

from tests.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
JOINED = DOCKERFILE.replace("\\\n", " ")
UID = 10001
WRITABLE = {"/data", "/srv/web"}  # the image's only directories its user may write
WEB_WORKDIR = "/srv/web"


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", JOINED, flags=re.MULTILINE)]


def env() -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV"))))


def container(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod spec, its one container) of a Deployment in k8s/base."""
    (doc,) = [d for d in yaml.safe_load_all((REPO_ROOT / "k8s" / "base" / f"{name}.yaml").read_text())
              if d and d["kind"] == "Deployment"]
    spec = doc["spec"]["template"]["spec"]
    (only,) = spec["containers"]
    return spec, only


def test_the_code_is_roots_and_the_user_may_write_only_data_and_reflexs_working_copy() -> None:
    assert instructions("USER") == [str(UID)]
    assert f"useradd --uid {UID}" in JOINED
    # Everything is written as root, before the one USER line.
    last_write = max(m.start() for m in re.finditer(r"^(RUN|COPY)\s", JOINED, flags=re.MULTILINE))
    assert JOINED.index(f"USER {UID}") > last_write
    assert not any("--chown" in copy for copy in instructions("COPY"))
    # Modes may only be opened for reading (Reflex writes some files 0600, which the web's copy must read).
    assert re.findall(r"chmod\s+(\S+\s+\S+)", JOINED) == ["-R a+rX"]
    chowned = [m.groups() for m in re.finditer(r"chown(\s+-\S+)*\s+(\S+)((?:\s+/\S+)+)", JOINED)]
    assert [(flags, owner) for flags, owner, _ in chowned] == [(None, "openinspect:openinspect")]  # no -R
    assert set(chowned[0][2].split()) == WRITABLE
    assert env()["OPENINSPECT_DATA_DIR"] == "/data"


def test_reflex_needs_nothing_writable_beyond_its_working_copy() -> None:
    variables = env()
    assert variables["PYTHONPATH"] == "/app"  # the code is read from /app whatever the working directory
    assert variables["PYTHONDONTWRITEBYTECODE"] == "1"
    # Reflex's own directory must exist (or it re-initialises, writing there): made before the export, as root.
    reflex_dir = variables["REFLEX_DIR"]
    assert reflex_dir not in WRITABLE and re.search(rf"mkdir -p {reflex_dir} && reflex export", JOINED)


def test_the_web_starts_on_a_fresh_copy_of_what_reflex_rewrites() -> None:
    (cmd,) = instructions("CMD")
    shell, flags, script = json.loads(cmd)
    assert (shell, flags) == ("/bin/sh", "-ec")
    steps = [shlex.split(step) for step in script.split(" && ")]
    # What `reflex run --env prod` writes in its working directory, by Reflex's own names.
    rewritten = {constants.Dirs.WEB, constants.Dirs.STATES, constants.Bun.ROOT_LOCKFILE_DIR}
    assert steps[0] == ["cd", WEB_WORKDIR]
    assert steps[1][:2] == ["rm", "-rf"] and rewritten | {str(constants.Config.FILE)} <= set(steps[1][2:])
    assert steps[2][:2] == ["cp", "-R"] and steps[2][-1] == "."
    copied = {path.removeprefix("/app/") for path in steps[2][2:-1]}
    assert copied == {constants.Dirs.WEB, constants.Bun.ROOT_LOCKFILE_DIR, str(constants.Config.FILE)}
    assert steps[3] == ["exec", "reflex", "run", "--env", "prod"]


def test_the_deployments_run_it_read_only_as_its_user_with_an_empty_dir_for_each_writable_path() -> None:
    expected_mounts = {"web": WRITABLE | {"/tmp"}, "worker": {"/data", "/tmp"}}
    for name, mounts in expected_mounts.items():
        pod, main = container(name)
        assert pod["securityContext"]["runAsUser"] == UID and pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["fsGroup"] == UID
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert {m["mountPath"] for m in main["volumeMounts"]} == mounts
        assert all("emptyDir" in volumes[m["name"]] for m in main["volumeMounts"])
        assert main["image"].startswith("openinspect/control-plane:")
    _, web = container("web")
    assert "command" not in web and "args" not in web  # the image's CMD: the fresh copy, then reflex
    _, worker = container("worker")
    assert worker["args"] == ["python", "-m", "backend_jobs"]
