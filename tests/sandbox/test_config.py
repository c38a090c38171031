"""SandboxConfig.from_env: every setting, defaults, errors that name the variable, no leaked secrets."""

from __future__ import annotations

from pathlib import Path

import openinspect_protocol as protocol
import pytest
from openinspect_protocol.launch import settings_table

from sandbox.config import ConfigError, SandboxConfig, child_environment, take_secrets, take_token

SECRET_TOKEN = "tok-very-secret"
SECRET_KEY = "sk-very-secret"


def token_file(tmp_path: Path, content: str = SECRET_TOKEN + "\n") -> Path:
    path = tmp_path / "run" / "sandbox-token"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    path.chmod(0o600)
    return path


def full_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "OPENINSPECT_SESSION_ID": "sess 1/x",
        "OPENINSPECT_SANDBOX_ID": "sbx-1",
        "OPENINSPECT_SANDBOX_TOKEN_FILE": str(token_file(tmp_path)),
        "OPENINSPECT_CONTROL_PLANE_URL": "ws://127.0.0.1:8765/",
        "OPENINSPECT_REPO_URL": "https://example.invalid/r.git",
        "OPENINSPECT_WORKSPACE": str(tmp_path / "ws"),
        "OPENINSPECT_MODEL": "openinspect/scripted",
        "OPENINSPECT_PROVIDER_API_KEY": SECRET_KEY,
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "Leaky Override",
        "GIT_COMMITTER_EMAIL": "leaky@example.invalid",
    }
    env.update(overrides)
    return env


def test_defaults_and_derived_paths(tmp_path: Path):
    config = SandboxConfig.from_env(full_env(tmp_path))
    assert config.repo_dir == tmp_path / "ws" / "repo"
    assert config.agent_state_dir == tmp_path / "ws" / "agent"
    assert config.agent_name == "opencode"
    assert config.bridge.url == "ws://127.0.0.1:8765/bridge/sess%201%2Fx"
    assert config.bridge.heartbeat_interval_seconds == protocol.HEARTBEAT_INTERVAL_SECONDS
    assert config.supervisor.branch is None
    assert config.supervisor.setup_timeout_seconds == 300
    assert config.supervisor.start_timeout_seconds == 120
    assert (config.supervisor.bot.name, config.supervisor.bot.email) == ("Open-Inspect", "bot@openinspect.local")
    assert config.agent.workdir == config.repo_dir and config.agent.state_dir == config.agent_state_dir
    assert config.agent.binary == "opencode"
    assert config.agent.provider.kind == "openai_compatible"
    assert config.agent.provider.api_key == SECRET_KEY
    assert config.agent.provider.base_url is None


def test_every_setting_is_read(tmp_path: Path):
    config = SandboxConfig.from_env(full_env(
        tmp_path,
        OPENINSPECT_BRANCH="feature",
        OPENINSPECT_AGENT="tests.sandbox.doubles:ScriptedHarness",
        OPENINSPECT_OPENCODE_BIN="/opt/opencode",
        OPENINSPECT_PROVIDER_KIND="anthropic",
        OPENINSPECT_PROVIDER_BASE_URL="http://127.0.0.1:9/v1",
        OPENINSPECT_SETUP_TIMEOUT_SECONDS="12.5",
        OPENINSPECT_START_TIMEOUT_SECONDS="7",
        OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS="0.5",
        OPENINSPECT_BOT_NAME="Bot",
        OPENINSPECT_BOT_EMAIL="bot@example.com",
    ))
    assert config.supervisor.branch == "feature"
    assert config.agent_name == "tests.sandbox.doubles:ScriptedHarness"
    assert config.agent.binary == "/opt/opencode"
    assert config.agent.provider.kind == "anthropic"
    assert config.agent.provider.base_url == "http://127.0.0.1:9/v1"
    assert config.supervisor.setup_timeout_seconds == 12.5
    assert config.supervisor.start_timeout_seconds == 7
    assert config.bridge.heartbeat_interval_seconds == 0.5
    assert (config.supervisor.bot.name, config.supervisor.bot.email) == ("Bot", "bot@example.com")


def test_missing_required_values_are_all_named(tmp_path: Path):
    env = full_env(tmp_path)
    del env["OPENINSPECT_SESSION_ID"]
    env["OPENINSPECT_MODEL"] = ""
    with pytest.raises(ConfigError) as caught:
        SandboxConfig.from_env(env)
    assert "OPENINSPECT_SESSION_ID" in str(caught.value)
    assert "OPENINSPECT_MODEL" in str(caught.value)
    assert (tmp_path / "run" / "sandbox-token").exists()  # nothing read while the rest is wrong
    required = {name for name, default, _ in settings_table() if default is None}
    with pytest.raises(ConfigError) as caught:
        SandboxConfig.from_env({})
    assert all(name in str(caught.value) for name in required)


@pytest.mark.parametrize(("name", "value"), [
    ("OPENINSPECT_CONTROL_PLANE_URL", "http://127.0.0.1:8765"),
    ("OPENINSPECT_MODEL", "no-slash"),
    ("OPENINSPECT_PROVIDER_KIND", "other"),
    ("OPENINSPECT_SETUP_TIMEOUT_SECONDS", "soon"),
    ("OPENINSPECT_START_TIMEOUT_SECONDS", "0"),
    ("OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS", "-1"),
])
def test_invalid_values_are_named(tmp_path: Path, name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        SandboxConfig.from_env(full_env(tmp_path, **{name: value}))


def test_the_token_is_read_from_its_file_which_is_then_gone(tmp_path: Path):
    env = full_env(tmp_path)
    path = Path(env["OPENINSPECT_SANDBOX_TOKEN_FILE"])
    config = SandboxConfig.from_env(env)
    assert config.bridge.sandbox_token == SECRET_TOKEN  # the trailing newline is not part of it
    assert not path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == []
    assert SECRET_TOKEN not in "".join(f"{k}={v}" for k, v in {**env, **config.child_env}.items())
    # A second start with the same environment has no token to take: a config error, not a guess.
    with pytest.raises(ConfigError, match="OPENINSPECT_SANDBOX_TOKEN_FILE"):
        SandboxConfig.from_env(env)


def test_the_image_default_token_file_is_used_when_none_is_named(tmp_path: Path):
    env = full_env(tmp_path)
    del env["OPENINSPECT_SANDBOX_TOKEN_FILE"]
    with pytest.raises(ConfigError, match="/run/openinspect/sandbox-token"):
        SandboxConfig.from_env(env)


@pytest.mark.parametrize("problem", ["missing", "empty", "a directory", "not text"])
def test_a_token_file_that_cannot_be_taken_is_a_config_error(tmp_path: Path, problem: str):
    path = tmp_path / "token"
    if problem == "empty":
        path.write_text(" \n")
    elif problem == "a directory":
        path.mkdir()
    elif problem == "not text":
        path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as caught:
        take_token(path)
    message = str(caught.value)
    assert "OPENINSPECT_SANDBOX_TOKEN_FILE" in message and str(path) in message


def test_secrets_stay_out_of_repr_and_out_of_the_child_environment(tmp_path: Path):
    config = SandboxConfig.from_env(full_env(tmp_path))
    assert SECRET_TOKEN not in repr(config) and SECRET_KEY not in repr(config)
    assert config.bridge.sandbox_token == SECRET_TOKEN
    for env in (config.child_env, config.agent.env):
        assert "OPENINSPECT_SANDBOX_TOKEN_FILE" not in env
        assert "OPENINSPECT_PROVIDER_API_KEY" not in env
        assert "GIT_AUTHOR_NAME" not in env and "GIT_COMMITTER_EMAIL" not in env
        assert env["PATH"] == "/usr/bin:/bin"
        assert not any(name.startswith("OPENINSPECT_") for name in env)


def test_child_environment_keeps_everything_else():
    env = {"A": "1", "GIT_DIR": "x", "GIT_AUTHOR_DATE": "y", "OPENINSPECT_MODEL": "m", "REPO_SECRET": "s"}
    assert child_environment(env) == {"A": "1", "GIT_DIR": "x", "REPO_SECRET": "s"}


def secrets_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "run" / "secrets.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return path


def test_secrets_go_to_scripts_and_the_agent_but_not_the_runtimes_own_git(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '{"API_KEY": "api-value-1", "DB_URL": "postgres://x"}')
    config = SandboxConfig.from_env(full_env(tmp_path, OPENINSPECT_SECRETS_FILE=str(path)))
    assert not path.exists()  # taken like the token: nothing of the sandbox can read it later
    assert config.secrets == {"API_KEY": "api-value-1", "DB_URL": "postgres://x"}
    assert config.script_env["API_KEY"] == "api-value-1" and config.agent.env["DB_URL"] == "postgres://x"
    assert "API_KEY" not in config.child_env  # the runtime's own git commands
    assert "api-value-1" not in repr(config)


def test_no_secrets_file_means_no_secrets(tmp_path: Path) -> None:
    config = SandboxConfig.from_env(full_env(tmp_path, OPENINSPECT_SECRETS_FILE=str(tmp_path / "none.json")))
    assert config.secrets == {} and config.script_env == dict(config.child_env)


@pytest.mark.parametrize("content", ["not json", '["A"]', '{"API_KEY": 1}', '{"lower": "value-1"}',
                                     '{"OPENINSPECT_X": "value-1"}'])
def test_a_malformed_secrets_file_is_a_config_error_that_never_quotes_it(tmp_path: Path, content: str) -> None:
    path = secrets_file(tmp_path, content)
    with pytest.raises(ConfigError, match="OPENINSPECT_SECRETS_FILE") as error:
        take_secrets(path)
    assert "value-1" not in str(error.value) and not path.exists()
