"""Settings: read from a mapping, checked, and all documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openinspect_protocol.launch import settings_table

from openinspect_core.settings import SETTINGS, ConfigError, Settings
from tests.conftest import REPO_ROOT


def test_defaults_make_an_embedded_system(tmp_path: Path) -> None:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'openinspect.db'}"
    assert (settings.sandbox_backend, settings.bridge_host, settings.bridge_port) == ("local", "127.0.0.1", 8765)
    assert (settings.max_prompt_chars, settings.max_pending_prompts) == (64_000, 10)


def test_postgres_urls_use_psycopg() -> None:
    settings = Settings.from_env({"OPENINSPECT_DATABASE_URL": "postgresql://u@db/x"})
    assert settings.database_url == "postgresql+psycopg://u@db/x"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENINSPECT_BRIDGE_PORT": "eighty"}, "OPENINSPECT_BRIDGE_PORT must be a number"),
        ({"OPENINSPECT_MAX_PENDING_PROMPTS": "-1"}, "must not be negative"),
        ({"OPENINSPECT_MODEL": "gpt"}, "provider/model"),
        ({"OPENINSPECT_PROVIDER_KIND": "azure"}, "openai_compatible or anthropic"),
        ({"OPENINSPECT_IDENTITY_PROVIDER": "github"}, "needs OPENINSPECT_GITHUB_CLIENT_ID"),
        ({"OPENINSPECT_IDENTITY_PROVIDER": "github", "OPENINSPECT_GITHUB_CLIENT_ID": "Iv1",
          "OPENINSPECT_GITHUB_CLIENT_SECRET": "s"}, "OPENINSPECT_GITHUB_ORGS or OPENINSPECT_GITHUB_ALLOWED_LOGINS"),
        ({"OPENINSPECT_GITHUB_APP_ID": "my-app"}, "numeric id"),
        ({"OPENINSPECT_GITHUB_APP_ID": "12"}, "OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE"),
        ({"OPENINSPECT_GITHUB_API_URL": "api.github.com"}, "must be an http\\(s\\) URL"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_github_settings_and_their_secrets(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\n")
    settings = Settings.from_env({"OPENINSPECT_GITHUB_APP_ID": "12",
                                  "OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE": str(key),
                                  "OPENINSPECT_GITHUB_CLIENT_SECRET": "very-secret",
                                  "OPENINSPECT_GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert settings.github_enabled and settings.github_private_key().startswith("-----BEGIN")
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert "very-secret" not in repr(settings)
    assert not Settings.from_env({}).github_enabled


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(OPENINSPECT_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    control_plane = {s.env for s in SETTINGS}
    assert control_plane <= documented, control_plane - documented
    # Settings the sandbox gets from the control plane are not the operator's business, except the shared ones.
    shared = {name for name, _, _ in settings_table()} & control_plane
    assert shared <= documented
