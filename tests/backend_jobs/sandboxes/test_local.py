"""The local backend: a process tree per sandbox under bubblewrap, a private workspace per session.

These run real ``bwrap`` with a stand-in runtime; tests/security/test_local_isolation.py runs the
real runtime and agent in a whole system.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import psutil
import pytest

from backend_jobs.sandboxes import create_backend
from backend_jobs.sandboxes.base import SandboxExit, SandboxSpec, SpawnError
from backend_jobs.sandboxes.local import LocalSandboxBackend
from backend_jobs.sandboxes.local_isolation import (
    HostLayout,
    SandboxView,
    agent_paths,
    bwrap_arguments,
    repository_paths,
)
from openinspect_core.settings import Settings

# Stands in for the sandbox runtime, inside the sandbox: takes its token, records what it sees, and
# leaves processes behind that try to escape (a child in its own session, a grandchild of that one),
# then waits to be stopped (unless told to exit, or to ignore SIGTERM).
FAKE_RUNTIME = r"""
import json, os, signal, subprocess, sys, time
ws = os.environ["OPENINSPECT_WORKSPACE"]
token_file = os.environ["OPENINSPECT_SANDBOX_TOKEN_FILE"]
seen = {"uid": os.getuid(), "cwd": os.getcwd(), "env": dict(os.environ), "pids": sorted(
    int(p) for p in os.listdir("/proc") if p.isdigit()), "token_mode": oct(os.stat(token_file).st_mode & 0o777),
    "token": open(token_file).read(), "pid_ns": os.readlink("/proc/self/ns/pid")}
os.unlink(token_file)
def visible(path):
    try:
        return sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
    except OSError as exc:
        return type(exc).__name__
seen["looked"] = {path: visible(path) for path in sys.argv[1:]}
for path in ("/", "/usr/probe", "/etc/probe", ws + "/written"):
    try:
        open(os.path.join(path, "probe") if path == "/" else path, "w").write("x")
        seen.setdefault("wrote", []).append(path)
    except OSError:
        pass
open(os.path.join(ws, "mine.txt"), "w").write(os.environ.get("OPENINSPECT_SESSION_ID", ""))
subprocess.Popen(["setsid", "sh", "-c", "sleep 300 & sleep 300"])
json.dump(seen, open(os.path.join(ws, "seen.json"), "w"))
if os.environ.get("EXIT_CODE"):
    print("boom: the runtime gave up", flush=True)
    sys.exit(int(os.environ["EXIT_CODE"]))
if os.environ.get("IGNORE_SIGTERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(300)
"""


def in_namespace(pid_ns: str) -> list[psutil.Process]:
    """Every live process of the host in the PID namespace ``pid_ns`` (as /proc/<pid>/ns/pid reads)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.readlink(f"/proc/{proc.pid}/ns/pid") == pid_ns and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


async def wait_until(predicate, timeout_seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_seconds):
        while not predicate():
            await asyncio.sleep(0.05)


def backend(tmp_path: Path, *looked_at: Path, **options: object) -> tuple[LocalSandboxBackend, list[SandboxExit]]:
    exits: list[SandboxExit] = []
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    (data_dir / "openinspect.db").write_text("SQLite format 3 (a stand-in)")
    options.setdefault("stop_grace_seconds", 1.0)
    b = LocalSandboxBackend(data_dir / "workspaces", hidden=[data_dir],
                            command=[sys.executable, "-c", FAKE_RUNTIME, *map(str, looked_at)],
                            environ={"PATH": "/usr/bin:/bin", "CONTROL_PLANE_SECRET": "s3cret"},
                            **options)  # type: ignore[arg-type]

    async def record(exit: SandboxExit) -> None:
        exits.append(exit)

    b.on_exit(record)
    return b, exits


def seen(b: LocalSandboxBackend, session_id: str) -> dict:
    return json.loads((b.workspace(session_id) / "seen.json").read_text())


async def started(b: LocalSandboxBackend, session_id: str) -> dict:
    await wait_until(lambda: (b.workspace(session_id) / "seen.json").exists())
    await asyncio.sleep(0.2)  # the detached processes it starts last
    return seen(b, session_id)


async def test_stop_ends_every_process_of_the_sandbox_even_those_that_left_its_session(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", token="t1"))
    pid_ns = (await started(b, "ses1"))["pid_ns"]
    await wait_until(lambda: len(in_namespace(pid_ns)) >= 5)  # bwrap's init, runtime, setsid sh, two sleeps
    await b.stop("sbx1")
    assert in_namespace(pid_ns) == []
    assert [(e.sandbox_id, e.reason) for e in exits] == [("sbx1", "stopped")]
    assert await b.alive() == set()


async def test_a_runtime_that_ignores_sigterm_is_killed_with_its_namespace_after_the_grace(tmp_path: Path) -> None:
    b, exits = backend(tmp_path, stop_grace_seconds=0.5)
    await b.spawn(SandboxSpec("sbx1", "ses1", {"IGNORE_SIGTERM": "1"}, token="t1"))
    pid_ns = (await started(b, "ses1"))["pid_ns"]
    await b.stop("sbx1")
    assert in_namespace(pid_ns) == []
    assert [(e.sandbox_id, e.reason) for e in exits] == [("sbx1", "stopped")]


async def test_sessions_get_separate_private_workspaces_and_a_clean_environment(tmp_path: Path) -> None:
    b, _ = backend(tmp_path, tmp_path / "data" / "workspaces" / "ses2", tmp_path / "data" / "openinspect.db")
    await b.spawn(SandboxSpec("sbx1", "ses1", {"OPENINSPECT_SESSION_ID": "ses1"}, token="t1"))
    await b.spawn(SandboxSpec("sbx2", "ses2", {"OPENINSPECT_SESSION_ID": "ses2"}, token="t2"))
    ws1, ws2 = b.workspace("ses1"), b.workspace("ses2")
    try:
        one, two = await started(b, "ses1"), await started(b, "ses2")
        assert (ws1 / "mine.txt").read_text() == "ses1" and (ws2 / "mine.txt").read_text() == "ses2"
        assert sorted(p.name for p in ws1.iterdir()) == [
            "home", "mine.txt", "sandbox-sbx1.log", "seen.json", "tmp", "written"]
        for ws in (ws1, ws2):
            assert ws.stat().st_mode & 0o777 == 0o700
        env = one["env"]
        assert (one["uid"], one["cwd"]) == (10001, "/workspace")
        assert (env["HOME"], env["TMPDIR"], env["OPENINSPECT_WORKSPACE"]) == (
            "/workspace/home", "/workspace/tmp", "/workspace")
        assert "CONTROL_PLANE_SECRET" not in env  # nothing of the control plane's own environment leaks
        # The token: in a file of its own sandbox, readable by it alone, in no environment.
        assert (one["token"], two["token"], one["token_mode"]) == ("t1", "t2", "0o600")
        assert list((tmp_path / "data" / "sandbox-runtime" / "sbx1").iterdir()) == []  # the runtime took it
        assert env["OPENINSPECT_SANDBOX_TOKEN_FILE"] == "/run/openinspect/sandbox-token"
        assert "t1" not in json.dumps(env).replace("OPENINSPECT_", "")
        # Neither the other workspace nor the database exists in its world; its own processes are all it sees.
        assert list(one["looked"].values()) == ["FileNotFoundError", "FileNotFoundError"]
        assert one["pids"] == [1, 2] and one["pid_ns"] != two["pid_ns"]
        assert one["wrote"] == ["/workspace/written"]  # the system and the new root are read-only
    finally:
        await b.close()
    assert in_namespace(one["pid_ns"]) == [] and in_namespace(two["pid_ns"]) == []
    assert list((tmp_path / "data" / "sandbox-runtime").iterdir()) == []


async def test_neither_the_token_nor_the_environment_is_on_a_command_line(tmp_path: Path) -> None:
    b, _ = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", {"OPENINSPECT_SESSION_ID": "ses1", "REPO_SECRET": "r3po"},
                              token="tok-on-no-cmdline"))
    try:
        pid_ns = (await started(b, "ses1"))["pid_ns"]
        tree = psutil.Process(next(iter(b._running.values())).process.pid)
        lines = [" ".join(p.cmdline()) for p in (tree, *tree.children(recursive=True))]
        assert lines and in_namespace(pid_ns)
        assert not any(secret in line for line in lines for secret in ("tok-on-no-cmdline", "r3po", "ses1"))
        assert tree.environ() == {}  # bwrap itself gets nothing: the runtime's environment came through a pipe
    finally:
        await b.close()


async def test_an_unexpected_exit_is_reported_with_its_last_words_and_nothing_is_left(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx3", "ses3", {"EXIT_CODE": "4"}, token="t3"))
    await wait_until(lambda: bool(exits))
    assert exits[0].exit_code == 4
    assert exits[0].reason == "sandbox exited with code 4: boom: the runtime gave up"
    assert in_namespace(seen(b, "ses3")["pid_ns"]) == []


async def test_a_token_the_runtime_never_took_goes_with_the_sandbox_and_leftovers_go_at_start(
        tmp_path: Path) -> None:
    exits: list[SandboxExit] = []
    runtime_dir = tmp_path / "data" / "sandbox-runtime"
    (runtime_dir / "crashed").mkdir(parents=True)
    (runtime_dir / "crashed" / "sandbox-token").write_text("of a sandbox that died with its control plane")
    b = LocalSandboxBackend(tmp_path / "data" / "workspaces", command=[sys.executable, "-c", "raise SystemExit(3)"])

    async def record(exit: SandboxExit) -> None:
        exits.append(exit)

    b.on_exit(record)
    await b.start()
    assert list(runtime_dir.iterdir()) == []
    await b.spawn(SandboxSpec("sbx7", "ses7", token="t7"))
    assert (runtime_dir / "sbx7" / "sandbox-token").read_text() == "t7"
    assert (runtime_dir / "sbx7").stat().st_mode & 0o777 == 0o700
    assert (runtime_dir / "sbx7" / "sandbox-token").stat().st_mode & 0o777 == 0o600
    await wait_until(lambda: bool(exits))
    assert exits[0].exit_code == 3 and list(runtime_dir.iterdir()) == []


async def test_the_lifetime_limit_ends_a_sandbox_and_says_so(tmp_path: Path) -> None:
    b, exits = backend(tmp_path, max_lifetime_seconds=2)
    await b.spawn(SandboxSpec("sbx4", "ses4", token="t4"))
    pid_ns = (await started(b, "ses4"))["pid_ns"]
    await wait_until(lambda: bool(exits))
    assert [(e.sandbox_id, e.reason) for e in exits] == [
        ("sbx4", "the sandbox reached its maximum lifetime (2 s)")]
    assert in_namespace(pid_ns) == [] and await b.alive() == set()


async def test_the_data_directory_is_covered_where_it_lies_inside_the_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    (checkout / "data" / "session-secret").write_text("k3y")
    (checkout / "README.md").write_text("readable")
    exits: list[SandboxExit] = []
    b = LocalSandboxBackend(checkout / "data" / "workspaces", hidden=[checkout / "data"], project_root=checkout,
                            command=[sys.executable, "-c", FAKE_RUNTIME, str(checkout), str(checkout / "data")],
                            stop_grace_seconds=0.5)

    async def record(exit: SandboxExit) -> None:
        exits.append(exit)

    b.on_exit(record)
    await b.spawn(SandboxSpec("sbx5", "ses5", token="t5"))
    try:
        looked = (await started(b, "ses5"))["looked"]
    finally:
        await b.close()
    assert looked == {str(checkout): ["README.md", "data"], str(checkout / "data"): []}


async def test_without_bubblewrap_no_sandbox_starts_and_the_error_says_what_to_install(tmp_path: Path) -> None:
    b, exits = backend(tmp_path, bwrap="bwrap-is-not-installed")
    with pytest.raises(SpawnError, match="install the Debian package `bubblewrap`"):
        await b.spawn(SandboxSpec("sbx6", "ses6", token="t6"))
    assert exits == [] and await b.alive() == set()


def test_it_is_picked_by_name_with_the_data_dir_hidden_and_the_lifetime_limit(tmp_path: Path) -> None:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path),
                                  "OPENINSPECT_SANDBOX_MAX_LIFETIME_SECONDS": "60"})
    b = create_backend("local", settings)
    assert isinstance(b, LocalSandboxBackend)
    assert b.workspaces_dir == tmp_path / "workspaces"
    assert tmp_path in b.hidden and b.max_lifetime_seconds == 60


# ---------------------------------------------------------------- the command line, as a pure function

LAYOUT = HostLayout(system_dirs=(Path("/usr"), Path("/etc")), links=((Path("/bin"), "usr/bin"),),
                    unreadable=(Path("/etc/shadow"), Path("/etc/ssl/private")),
                    unreadable_dirs=frozenset({Path("/etc/ssl/private")}))


def options(view: SandboxView, env: dict[str, str] | None = None) -> list[str]:
    return bwrap_arguments(LAYOUT, view, info_fd=8, env=env or {})


def pairs(args: list[str], option: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == option]


def test_namespaces_identity_and_the_end_with_the_parent() -> None:
    args = options(SandboxView(Path("/data/workspaces/s1"), Path("/data/rt/x"), (), (Path("/data"),)))
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--disable-userns"):
        assert flag in args
    assert args[args.index("--uid") + 1] == "10001" and args[args.index("--gid") + 1] == "10001"
    assert "--share-net" not in args and "--unshare-net" not in args  # the bridge and proxy are on loopback
    assert args[-1] != "--" and "--clearenv" in args


def test_the_workspace_is_the_only_writable_path_of_the_data_directory() -> None:
    args = options(SandboxView(Path("/data/workspaces/s1"), Path("/data/rt/x"),
                               (Path("/data/workspaces/s2/repo/.git"), Path("/data"), Path("/src/r/.git")),
                               (Path("/data"),)))
    assert pairs(args, "--bind") == [("/data/rt/x", "/run/openinspect"), ("/data/workspaces/s1", "/workspace")]
    assert ("/src/r/.git", "/src/r/.git") in pairs(args, "--ro-bind")
    assert not any(src.startswith("/data") for src, _ in pairs(args, "--ro-bind"))


def test_the_data_directory_inside_a_visible_path_is_covered_after_it_is_bound() -> None:
    args = options(SandboxView(Path("/app/.data/workspaces/s1"), Path("/app/.data/rt/x"), (Path("/app"),),
                               (Path("/app/.data"),)))
    bound = args.index("--ro-bind", args.index("/app") - 2)
    covered = [i for i, a in enumerate(args) if a == "--tmpfs" and args[i + 1] == "/app/.data"]
    assert covered and covered[0] > bound
    assert args[covered[0] + 2: covered[0] + 4] == ["--remount-ro", "/app/.data"]


def test_system_secrets_are_hidden_and_the_root_itself_is_never_bound() -> None:
    args = options(SandboxView(Path("/w"), Path("/rt"), (Path("/"), Path("/usr/lib/x")), ()))
    assert ("/dev/null", "/etc/shadow") in pairs(args, "--ro-bind")
    assert "/etc/ssl/private" in [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]
    assert ("/", "/") not in pairs(args, "--ro-bind") and ("/usr/lib/x", "/usr/lib/x") not in pairs(args, "--ro-bind")
    assert ("usr/bin", "/bin") in pairs(args, "--symlink")


def test_the_token_directory_is_bound_on_a_private_run_and_the_environment_is_set_inside() -> None:
    args = options(SandboxView(Path("/w"), Path("/rt/sbx"), (), ()), {"A": "1"})
    run = [i for i, a in enumerate(args) if a == "--tmpfs" and args[i + 1] == "/run"]
    assert run and run[0] < args.index("/rt/sbx")  # bound on top of the sandbox's own /run
    assert args[args.index("--clearenv") + 1:] == ["--setenv", "A", "1"]
    assert args[args.index("--info-fd") + 1] == "8" and "--file" not in args


def test_what_of_a_repository_and_of_the_agent_the_sandbox_sees(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "bare.git").mkdir()
    assert repository_paths(str(tmp_path / "repo")) == (tmp_path / "repo" / ".git",)
    assert repository_paths((tmp_path / "repo").as_uri()) == (tmp_path / "repo" / ".git",)
    assert repository_paths(str(tmp_path / "bare.git")) == (tmp_path / "bare.git",)
    assert repository_paths("https://github.com/o/r.git") == ()
    modules = tmp_path / "app" / "node_modules"
    (modules / ".bin").mkdir(parents=True)
    (modules / "pkg" / "bin").mkdir(parents=True)
    (modules / "pkg" / "bin" / "tool").write_text("")
    (modules / ".bin" / "tool").symlink_to("../pkg/bin/tool")
    assert agent_paths(str(modules / ".bin" / "tool")) == (modules,)
    assert agent_paths("opencode") == ()
