"""The manual backend: a private env file per sandbox, for someone else to start it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend_jobs.sandboxes import create_backend
from backend_jobs.sandboxes.base import SandboxExit, SandboxSpec, SpawnError
from backend_jobs.sandboxes.manual import ManualSandboxBackend
from openinspect_core.settings import Settings

ENV = {"OPENINSPECT_SESSION_ID": "ses1", "OPENINSPECT_SANDBOX_ID": "sbx1",
       "OPENINSPECT_CONTROL_PLANE_URL": "ws://127.0.0.1:8765"}


def backend(tmp_path: Path) -> tuple[ManualSandboxBackend, list[SandboxExit]]:
    exits: list[SandboxExit] = []
    b = ManualSandboxBackend(tmp_path / "manual-sandboxes", tmp_path / "workspaces")

    async def record(exit: SandboxExit) -> None:
        exits.append(exit)

    b.on_exit(record)
    return b, exits


async def test_spawn_writes_the_environment_and_the_token_beside_it_readable_by_this_user_only(
        tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    secrets = {"API_KEY": "api-key-value-1"}
    assert await b.spawn(SandboxSpec("sbx1", "ses1", ENV, token="t0ken", secrets=secrets)) == "sbx1"
    path = tmp_path / "manual-sandboxes" / "sbx1.json"
    token = tmp_path / "manual-sandboxes" / "sbx1.token"
    secrets_file = tmp_path / "manual-sandboxes" / "sbx1.secrets.json"
    for file in (path, token, secrets_file):
        assert file.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert json.loads(path.read_text()) == {**ENV, "OPENINSPECT_WORKSPACE": str(tmp_path / "workspaces" / "ses1"),
                                            "OPENINSPECT_SANDBOX_TOKEN_FILE": str(token),
                                            "OPENINSPECT_SECRETS_FILE": str(secrets_file)}
    assert token.read_text() == "t0ken" and "t0ken" not in path.read_text()
    assert json.loads(secrets_file.read_text()) == secrets and "api-key-value-1" not in path.read_text()
    # nothing half-written
    assert sorted(p.name for p in path.parent.iterdir()) == ["sbx1.json", "sbx1.secrets.json", "sbx1.token"]
    assert exits == []


async def test_the_runtime_takes_the_token_from_its_file_and_the_file_is_gone(tmp_path: Path) -> None:
    from sandbox.config import SandboxConfig  # the runtime's own reading of what the backend wrote

    b, _ = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", {**ENV, "OPENINSPECT_REPO_URL": "/src/r",
                                               "OPENINSPECT_MODEL": "openinspect/scripted"}, token="t0ken",
                                  secrets={"API_KEY": "api-key-value-1"}))
    env = json.loads((tmp_path / "manual-sandboxes" / "sbx1.json").read_text())
    config = SandboxConfig.from_env(env)
    assert config.bridge.sandbox_token == "t0ken"
    assert config.secrets == {"API_KEY": "api-key-value-1"}
    assert not (tmp_path / "manual-sandboxes" / "sbx1.token").exists()
    assert not (tmp_path / "manual-sandboxes" / "sbx1.secrets.json").exists()
    assert await b.alive() == {"sbx1"}  # the environment file is what says the sandbox is there


async def test_alive_lists_the_sandboxes_whose_files_are_present(tmp_path: Path) -> None:
    b, _ = backend(tmp_path)
    assert await b.alive() == set()
    await b.spawn(SandboxSpec("sbx1", "ses1", ENV))
    await b.spawn(SandboxSpec("sbx2", "ses2", ENV, token="other"))
    assert await b.alive() == {"sbx1", "sbx2"}
    # A restarted control plane sees the same sandboxes (recovery keeps them).
    assert await ManualSandboxBackend(tmp_path / "manual-sandboxes", tmp_path / "workspaces").alive() == {
        "sbx1", "sbx2"}


async def test_stop_removes_the_file_and_reports_the_exit_once(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", ENV))
    await b.stop("sbx1")
    assert list((tmp_path / "manual-sandboxes").iterdir()) == []  # neither the environment nor the token
    assert exits == [SandboxExit("sbx1", None, "stopped")]
    assert await b.alive() == set()
    await b.stop("sbx1")  # stopping again (a timer racing a stop) reports nothing more
    assert len(exits) == 1


async def test_close_stops_every_sandbox(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", ENV))
    await b.spawn(SandboxSpec("sbx2", "ses2", ENV))
    await b.close()
    assert sorted(e.sandbox_id for e in exits) == ["sbx1", "sbx2"]
    assert await b.alive() == set()


async def test_an_unwritable_directory_is_a_spawn_error(tmp_path: Path) -> None:
    (tmp_path / "manual-sandboxes").write_text("a file where the directory should be")
    b, _ = backend(tmp_path)
    with pytest.raises(SpawnError, match="manual sandbox"):
        await b.spawn(SandboxSpec("sbx1", "ses1", ENV, token="t0ken"))


def test_it_is_picked_by_name_with_its_files_in_the_data_dir(tmp_path: Path) -> None:
    b = create_backend("manual", Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)}))
    assert isinstance(b, ManualSandboxBackend)
    assert b.env_dir == tmp_path / "manual-sandboxes"
    assert b.workspaces_dir == tmp_path / "workspaces"
