"""The launch contract: what the control plane writes, the sandbox reads back, defaults defined once."""

from __future__ import annotations

import pytest
from openinspect_protocol import launch
from openinspect_protocol.launch import LaunchError, LaunchSpec

REQUIRED = dict(session_id="ses", sandbox_id="sbx", control_plane_url="ws://127.0.0.1:1",
                repo_url="/r", model="openinspect/scripted")


def test_to_env_then_from_env_is_the_same_spec() -> None:
    spec = LaunchSpec(**REQUIRED, branch="main", provider_api_key="sk-secret", setup_timeout_seconds=12.5)
    env = spec.to_env()
    assert env["OPENINSPECT_SETUP_TIMEOUT_SECONDS"] == "12.5"
    assert all(name.startswith(launch.ENV_PREFIX) for name in env)
    assert LaunchSpec.from_env(env) == spec


def test_empty_optional_values_are_left_out_and_defaults_come_back() -> None:
    env = LaunchSpec(**REQUIRED).to_env()
    assert "OPENINSPECT_BRANCH" not in env and "OPENINSPECT_PROVIDER_API_KEY" not in env
    spec = LaunchSpec.from_env({k: v for k, v in env.items() if k not in (
        "OPENINSPECT_SETUP_TIMEOUT_SECONDS", "OPENINSPECT_BOT_NAME", "OPENINSPECT_WORKSPACE")})
    assert spec.setup_timeout_seconds == launch.SETUP_TIMEOUT_SECONDS
    assert spec.bot_name == launch.BOT_NAME
    assert spec.workspace == launch.IMAGE_WORKSPACE


def test_secrets_are_known_and_kept_out_of_repr() -> None:
    # The bridge token is not in the spec at all (a file the runtime reads and removes); the proxy token is.
    assert launch.SECRET_ENV_NAMES == {"OPENINSPECT_PROVIDER_API_KEY"}
    assert not any("SANDBOX_TOKEN" == name.removeprefix("OPENINSPECT_") for name in LaunchSpec(**REQUIRED).to_env())
    spec = LaunchSpec(**REQUIRED, provider_api_key="sk-secret")
    assert "sk-secret" not in repr(spec)


def test_errors_name_every_variable() -> None:
    with pytest.raises(LaunchError) as caught:
        LaunchSpec.from_env({"OPENINSPECT_CONTROL_PLANE_URL": "http://x", "OPENINSPECT_START_TIMEOUT_SECONDS": "0"})
    message = str(caught.value)
    for name in ("OPENINSPECT_SESSION_ID", "OPENINSPECT_SANDBOX_ID", "OPENINSPECT_MODEL",
                 "OPENINSPECT_CONTROL_PLANE_URL", "OPENINSPECT_START_TIMEOUT_SECONDS"):
        assert name in message


def test_the_settings_table_lists_every_field_once() -> None:
    names = [name for name, _, _ in launch.settings_table()]
    assert len(names) == len(set(names)) == len(LaunchSpec.model_fields)
    assert all(help_text for _, _, help_text in launch.settings_table())
