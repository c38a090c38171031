"""The settings page's secrets, driven like a browser tab (the real system, ``scripts/run``): a value sent
in a form reaches the store and never comes back — not in any delta of any state, not in the web log."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.reflex_client import IS_HYDRATED_VAR, ROOT_STATE_NAME, ReflexClient, Update
from openinspect_app.state.secrets import GLOBAL_CHOICE, SecretsState
from tests.support.system import make_repo, run_command, token_over_http

pytestmark = pytest.mark.timeout(600)

PERSON = {"name": "Sam Secret", "email": "sam.secret@example.com"}
RUN = uuid.uuid4().hex[:8]
TYPED = f"typed-canary-{RUN}"
PASTED = f"pasted-canary-{RUN}"
SHORT = "q7z!"
SECRETS = SecretsState.get_full_name()
SENTINEL = f"{ROOT_STATE_NAME}.set_is_hydrated"
SETTLE_SECONDS = 30.0


class Tab:
    """A browserless tab keeping every frame it got; ``settle`` waits until what it sent was handled."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.updates: list[Update] = []
        self._settled = asyncio.Event()
        self.client = ReflexClient(base_url, headers={"Cookie": cookie}, on_update=self._on_update)

    def _on_update(self, _: ReflexClient, update: Update) -> None:
        self.updates.append(update)
        if update.delta.get(ROOT_STATE_NAME, {}).get(IS_HYDRATED_VAR):
            self._settled.set()

    async def send(self, handler: str, payload: dict[str, Any]) -> None:
        self._settled.clear()
        await self.client.send_event(f"{SECRETS}.{handler}", payload)
        await self.client.send_event(SENTINEL, {"value": True})  # answered after the handler (in order)
        async with asyncio.timeout(SETTLE_SECONDS):
            await self._settled.wait()

    def var(self, name: str) -> Any:
        return self.client.state.get(SECRETS, {}).get(f"{name}_rx_state_")

    def text(self) -> str:
        return json.dumps([[u.delta, u.events] for u in self.updates])


def cookie_of(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/auth/local", json=PERSON, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return response.headers["set-cookie"].split(";", 1)[0]


async def test_values_set_on_the_page_never_reach_a_tab_or_the_log(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# Secrets\n"})
    env = {"OPENINSPECT_SANDBOX_BACKEND": "manual", "OPENINSPECT_PROVIDER_BASE_URL": "http://127.0.0.1:9/v1",
           "OPENINSPECT_SANDBOX_IDLE_TIMEOUT_SECONDS": "0"}
    with run_command(tmp_path, env) as system:
        token = token_over_http(system.base_url, PERSON)
        rest = httpx.AsyncClient(base_url=system.base_url, timeout=30, trust_env=False,
                                 headers={"Authorization": f"Bearer {token}"})
        session = (await rest.post("/api/sessions", json={"repo_url": str(repo)})).json()
        repo_id = session["repo"]["id"]
        tab = Tab(system.base_url, cookie_of(system.base_url))
        try:
            await tab.client.connect("/settings")
            await tab.client.wait_hydrated(SETTLE_SECONDS)
            assert tab.var("scope") == GLOBAL_CHOICE
            assert repo_id in [c["value"] for c in tab.var("scopes")]

            await tab.send("save_secret", {"form": {"name": "TYPED_KEY", "value": TYPED}})
            assert [s["name"] for s in tab.var("secrets")] == ["TYPED_KEY"]
            assert tab.var("secrets")[0]["updated_by"] == PERSON["name"]
            assert tab.var("secret_error") == ""

            await tab.send("save_secret", {"form": {"name": "TOO_SHORT", "value": SHORT}})
            assert "shorter than" in tab.var("secret_error") and "TOO_SHORT" in tab.var("secret_error")

            await tab.send("choose_scope", {"value": repo_id})
            await tab.send("import_dotenv", {"form": {"dotenv": f"# pasted\nPASTED_KEY='{PASTED}'\n"}})
            assert [s["name"] for s in tab.var("secrets")] == ["PASTED_KEY"]
            assert [(c["action"], c["name"]) for c in tab.var("changes")] == [("import", "PASTED_KEY")]

            await tab.send("import_dotenv", {"form": {"dotenv": f"GOOD_KEY={PASTED}\nbroken\n"}})
            assert tab.var("secret_error").startswith("line 2:")
            await tab.send("delete_secret", {"name": "PASTED_KEY"})
            assert tab.var("secrets") == []
            assert [c["action"] for c in tab.var("changes")] == ["delete", "import"]

            # The values did reach the store: a session of the repository gets the global one.
            listed = (await rest.get("/api/secrets")).json()
            assert [s["name"] for s in listed] == ["TYPED_KEY"]
            frames = tab.text()
        finally:
            await tab.client.close()
            await rest.aclose()
        logged = system.log.read_text(errors="replace")
    assert "ui.secret_set" in logged and "TYPED_KEY" in logged  # the changes were logged, by name
    for value in (TYPED, PASTED, SHORT):
        assert value not in frames, value
    for value in (TYPED, PASTED):
        assert value not in logged, value
