"""Beyond loopback only with an identity provider; CORS for the app's own origin only (Reflex too)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from openinspect_app.http.origins import own_origins
from openinspect_app.http.policy import check_listening, local_sign_in_allowed, session_secret
from openinspect_core.settings import ConfigError, Settings


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data"), **env})


def test_local_sign_in_on_loopback_may_serve(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_listening(settings(tmp_path, OPENINSPECT_WEB_HOST=host))
        assert local_sign_in_allowed(settings(tmp_path, OPENINSPECT_WEB_HOST=host))


@pytest.mark.parametrize("env", [{"OPENINSPECT_WEB_HOST": "0.0.0.0"}, {"OPENINSPECT_WEB_HOST": "192.168.1.5"},
                                 {"OPENINSPECT_PUBLIC_URL": "https://openinspect.example.com"}])
def test_local_sign_in_beyond_loopback_refuses_to_start(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="local sign-in") as refused:
        check_listening(settings(tmp_path, **env))
    assert next(iter(env)) in str(refused.value)  # the message names the setting to change
    assert not local_sign_in_allowed(settings(tmp_path, **env))


async def test_the_web_process_refuses_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web = importlib.import_module("openinspect_app.openinspect_app")
    monkeypatch.setenv("OPENINSPECT_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("OPENINSPECT_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=r"OPENINSPECT_WEB_HOST=0\.0\.0\.0"):
        async with web.control_plane():
            pytest.fail("the server started")
    assert not (tmp_path / "data").exists()  # no database was made, no job started


def test_reflex_answers_cors_and_socket_origins_for_our_origin_only(tmp_path: Path) -> None:
    rxconfig = importlib.import_module("rxconfig")
    origins = list(rxconfig.config.cors_allowed_origins)
    assert "*" not in origins
    assert origins == list(own_origins(Settings.from_env({})))
    assert origins[0] == "http://127.0.0.1:3000"


def test_own_origins_are_the_public_url_and_on_loopback_its_other_names(tmp_path: Path) -> None:
    assert own_origins(settings(tmp_path)) == (
        "http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000")
    public = settings(tmp_path, OPENINSPECT_PUBLIC_URL="https://oi.example.com/", OPENINSPECT_WEB_HOST="0.0.0.0")
    assert own_origins(public) == ("https://oi.example.com",)


def test_a_short_session_secret_is_refused_and_the_default_is_a_private_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENINSPECT_SESSION_SECRET"):
        session_secret(settings(tmp_path, OPENINSPECT_SESSION_SECRET="hunter2"))
    assert session_secret(settings(tmp_path, OPENINSPECT_SESSION_SECRET="x" * 40)) == b"x" * 40
    key = session_secret(settings(tmp_path))
    assert len(key) == 32 and (tmp_path / "data" / "session-secret").stat().st_mode & 0o777 == 0o600
