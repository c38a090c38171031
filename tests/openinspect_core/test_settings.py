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
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(OPENINSPECT_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    control_plane = {s.env for s in SETTINGS}
    assert control_plane <= documented, control_plane - documented
    # Settings the sandbox gets from the control plane are not the operator's business, except the shared ones.
    shared = {name for name, _, _ in settings_table()} & control_plane
    assert shared <= documented
