"""The sandbox's side of live previews: the declaration read once after the clone, reported, and told to
the agent (its environment and instructions)."""

from __future__ import annotations

import json
from pathlib import Path

import openinspect_protocol as protocol
from openinspect_protocol.previews import PREVIEW_URLS_ENV, PreviewPort

from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode_config import agent_environment, instructions_text, opencode_config, write_instructions
from sandbox.previews import MAX_DECLARATION_BYTES, read_declaration
from tests.sandbox.test_supervisor import rig

DECLARATION = """
[[ports]]
port = 3000
label = "Web app"

[[ports]]
port = 6006
label = "Storybook"
path = "/?path=/docs"
"""


def declare(repo: Path, text: str) -> Path:
    path = repo / ".openinspect" / "preview.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return repo


def test_no_file_declares_nothing(tmp_path: Path) -> None:
    assert read_declaration(tmp_path) is None


def test_a_declaration_becomes_the_event(tmp_path: Path) -> None:
    event = read_declaration(declare(tmp_path, DECLARATION))
    assert isinstance(event, protocol.PreviewPorts)
    assert event.ports == [PreviewPort(port=3000, label="Web app"),
                           PreviewPort(port=6006, label="Storybook", path="/?path=/docs")]


def test_a_wrong_file_is_a_warning_that_says_why(tmp_path: Path) -> None:
    cases = {
        "[[ports]\nport = 3000": "not valid TOML",
        "[[ports]]\nport = 22\nlabel = 'ssh'": "ports.0.port: Input should be greater than or equal to 1024",
        "[[ports]]\nport = 3000\nlabel = 'a'\n[[ports]]\nport = 3000\nlabel = 'b'": "port 3000 is declared twice",
        "ports = 3000": "ports: Input should be a valid list",
        "# " + "x" * MAX_DECLARATION_BYTES: f"larger than {MAX_DECLARATION_BYTES} bytes",
    }
    for text, reason in cases.items():
        warning = read_declaration(declare(tmp_path, text))
        assert isinstance(warning, protocol.WarningEvent), text
        assert warning.code == "preview_declaration_invalid"
        assert reason in warning.message and "no live preview" in warning.message, warning.message
    (tmp_path / ".openinspect" / "preview.toml").write_bytes(b"\xff\xfe")
    warning = read_declaration(tmp_path)
    assert isinstance(warning, protocol.WarningEvent) and "cannot be read" in warning.message


async def test_the_supervisor_reports_the_ports_after_the_clone_and_tells_the_agent(tmp_path: Path,
                                                                                    sandbox_git_env) -> None:
    files = {".openinspect/preview.toml": DECLARATION, ".openinspect/setup.sh": "echo setting up\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        await r.cp.wait_for(protocol.Ready)
        types = r.types()
        # Once, right after the clone: before setup.sh, so the control plane knows them while the app starts.
        assert types.index("preview_ports") == types.index("git_sync") + 1 < types.index("script_output")
        (declared,) = r.cp.of_type(protocol.PreviewPorts)
        assert [p.port for p in declared.ports] == [3000, 6006]
        assert r.harness.config.preview_urls == {"3000": "http://127.0.0.1:3000/",
                                                 "6006": "http://127.0.0.1:6006/?path=/docs"}


async def test_a_wrong_declaration_is_a_warning_and_the_sandbox_starts_anyway(tmp_path: Path,
                                                                             sandbox_git_env) -> None:
    files = {".openinspect/preview.toml": "[[ports]]\nport = 80\nlabel = 'web'\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        await r.cp.wait_for(protocol.Ready)
        assert "preview_ports" not in r.types()
        (warning,) = [w for w in r.cp.of_type(protocol.WarningEvent) if w.code == "preview_declaration_invalid"]
        assert "greater than or equal to 1024" in warning.message
        assert r.harness.config.preview_urls == {}


def agent_config(tmp_path: Path, **values: object) -> AgentConfig:
    return AgentConfig(workdir=tmp_path / "repo", state_dir=tmp_path / "agent", model="openinspect/scripted",
                       provider=ProviderConfig(base_url="http://127.0.0.1:1/v1"), binary="opencode",
                       **values)  # type: ignore[arg-type]


def test_the_agent_is_told_where_its_previews_are(tmp_path: Path) -> None:
    urls = {"6006": "http://127.0.0.1:6006/", "3000": "http://127.0.0.1:3000/app/"}
    config = agent_config(tmp_path, preview_urls=urls)
    env = agent_environment(config, "pw", {"OPENINSPECT_PREVIEW_URLS": "from the runtime's own environment"})
    assert json.loads(env[PREVIEW_URLS_ENV]) == urls
    text = instructions_text(config)
    assert "# Live previews" in text and "# Git" not in text
    assert "http://127.0.0.1:3000/app/, http://127.0.0.1:6006/" in text and PREVIEW_URLS_ENV in text
    (tmp_path / "agent").mkdir()
    path = write_instructions(tmp_path / "agent", config)
    assert path is not None and path.read_text() == text
    assert opencode_config(config)["instructions"] == [str(path.absolute())]


def test_without_previews_the_agent_hears_nothing_of_them(tmp_path: Path) -> None:
    plain = agent_config(tmp_path)
    assert PREVIEW_URLS_ENV not in agent_environment(plain, "pw", {PREVIEW_URLS_ENV: "{}"})
    assert "instructions" not in opencode_config(plain)
    with_branch = agent_config(tmp_path, work_branch="openinspect/x")
    assert "Live previews" not in instructions_text(with_branch)
    both = agent_config(tmp_path, work_branch="openinspect/x", preview_urls={"3000": "http://127.0.0.1:3000/"})
    assert instructions_text(both).index("# Git in this session") < instructions_text(both).index("# Live previews")
