"""End-to-end fixtures: the system started with the README's run command (production
mode), the scripted model, and Chromium (Debian's) driven by Playwright.

People sign in the way a person does: the sign-in page's form, which the server answers
with an HttpOnly cookie. REST calls from the tests carry an API token (Ada's).

Screenshots go to ``test-artifacts/screenshots/`` (kept by CI as artifacts).

The leak watch (:mod:`tests.e2e.leak_watch`): the system runs with canary secrets (a global one
and one of the test repository) and every browser context records what its pages received
and sent, for ``test_zz_leaks``, the suite's last test. The system also runs its Slack bot against a
fake Slack (``e2e_slack``, over HTTP), whose bot token and signing secret are canaries as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.conftest import REPO_ROOT
from tests.e2e.leak_watch import GLOBAL_CANARY, REPO_CANARY, WATCH, LeakWatch, WatchedSystem, stop_run
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply, ToolCallSpec, ToolReply
from tests.fakes.slack import FakeSlack, serve_fake_slack
from tests.support.system import ADA, make_repo, run_command, token_over_http

CHROMIUM = os.environ.get("OPENINSPECT_TEST_CHROMIUM", "/usr/bin/chromium")
# Offline machine: no background services, no component updates (they would try the internet).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
START_SECONDS = 300
UI_TIMEOUT_MS = 60_000

expect.set_options(timeout=UI_TIMEOUT_MS)


def agent_turn(ctx: ScriptContext) -> TextReply | ToolReply:
    """A turn with streamed text, a tool call that takes a few seconds, then a summary."""
    if ctx.step == 0:
        return ToolReply((ToolCallSpec("bash", {"command": "sleep 4; echo all-good",
                                                "description": "Check the workspace"}),),
                         text="Looking around first.")
    return TextReply(f"Finished: {ctx.last_tool_output.strip()[:40]}", chunk_delay_seconds=0.05)


@dataclass
class WebSystem:
    base_url: str
    data_dir: Path
    repo: Path
    log: Path
    token: str  # Ada's API token
    canaries: dict[str, str] = field(default_factory=dict)  # secret name -> canary value (the leak watch)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, trust_env=False,
                            headers={"Authorization": f"Bearer {self.token}"})

    def create_session(self, **body: object) -> dict:
        with self.api() as client:
            response = client.post("/api/sessions", json={"repo_url": str(self.repo), **body})
            assert response.status_code == 201, response.text
            return response.json()

    def set_secret(self, name: str, value: str, repo_id: str | None = None) -> None:
        path = f"/api/repos/{repo_id}/secrets/{name}" if repo_id else f"/api/secrets/{name}"
        with self.api() as client:
            response = client.put(path, json={"value": value})
        assert response.is_success, f"PUT {path}: {response.status_code} {response.text}"


@pytest.fixture(scope="session")
def leak_watch() -> LeakWatch:
    return WATCH


def set_canaries(system: WebSystem, watch: LeakWatch) -> None:
    """A global canary, and one of the test repository: its row exists once a session uses it."""
    system.canaries[GLOBAL_CANARY] = watch.canary("global, web system")
    system.set_secret(GLOBAL_CANARY, system.canaries[GLOBAL_CANARY])
    session = system.create_session(title="Canary scope")
    system.canaries[REPO_CANARY] = watch.canary("repository webapp, web system")
    system.set_secret(REPO_CANARY, system.canaries[REPO_CANARY], session["repo"]["id"])


@pytest.fixture(scope="session")
def e2e_slack() -> Iterator[FakeSlack]:
    """The fake Slack the suite's system runs its Slack bot against (over HTTP: ``/slack/events``). Its
    bot token and signing secret are canaries of the leak watch: they must never be seen anywhere."""
    with serve_fake_slack() as slack:
        WATCH.canaries[slack.bot_token] = "the Slack bot token"
        WATCH.canaries[slack.signing_secret] = "the Slack signing secret"
        yield slack


@pytest.fixture(scope="session")
def web_system(tmp_path_factory: pytest.TempPathFactory, scripted_model: ScriptedModel,
               e2e_slack: FakeSlack) -> Iterator[WebSystem]:
    scripted_model.register("agent-turn", agent_turn)
    root = tmp_path_factory.mktemp("e2e")
    repo = make_repo(root / "webapp", {"README.md": "# Web app\n",
                                       ".openinspect/setup.sh": "#!/bin/bash\necho 'installing'\n"})
    # Most sessions here are Ada's (the API token's person) and keep their sandboxes for the whole suite (idle
    # timeout 30 min): lift the per-person and overall bounds above the ~30 the e2e tests start, or later
    # tests' prompts wait "queued" for a slot.
    env = {"OPENINSPECT_PROVIDER_BASE_URL": scripted_model.base_url, "OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS": "5",
           "OPENINSPECT_REPO_ROOTS": str(root), "OPENINSPECT_MAX_SANDBOXES_PER_USER": "60",
           "OPENINSPECT_MAX_SANDBOXES": "60",
           "OPENINSPECT_SLACK_BOT_TOKEN": e2e_slack.bot_token, "OPENINSPECT_SLACK_API_URL": e2e_slack.api_url,
           "OPENINSPECT_SLACK_SIGNING_SECRET": e2e_slack.signing_secret}
    env["OPENINSPECT_MODEL_PRICES"] = "*=1/1"  # the scripted model states no cost: a dollar per million tokens
    with run_command(root, env) as run:
        system = WebSystem(run.base_url, root / "data", repo, run.log, token_over_http(run.base_url, ADA))
        WATCH.systems.append(WatchedSystem("web system", root, system.data_dir, run.log,
                                           stop=lambda: stop_run(run)))
        set_canaries(system, WATCH)
        yield system


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    WATCH.instrument(browser)  # every context any test makes records its pages' payloads
    yield browser
    browser.close()


@dataclass
class Person:
    name: str
    email: str
    context: BrowserContext
    base_url: str

    def page(self) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        return page

    def open_session(self, session_id: str, page: Page | None = None) -> Page:
        page = page or self.page()
        page.goto(f"{self.base_url}/sessions/{session_id}")
        # Pages are prerendered: wait for the first state round trip (the shared state arrives).
        expect(page.locator("#session-status")).not_to_have_text("")
        return page


@pytest.fixture
def people(browser: Browser, web_system: WebSystem) -> Iterator[callable]:
    contexts: list[BrowserContext] = []

    def person(name: str, email: str, *, width: int = 1280, height: int = 860) -> Person:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        signed_in = Person(name, email, context, web_system.base_url)
        page = signed_in.page()
        sign_in(page, web_system.base_url, name, email)
        page.close()
        return signed_in

    yield person
    for context in contexts:
        context.close()


def sign_in(page: Page, base_url: str, name: str, email: str, next_path: str = "/") -> None:
    """Through the sign-in page's form; the server sets the cookie and sends the browser on."""
    page.goto(f"{base_url}/signin?next={next_path}")
    page.fill("#signin-name", name)
    page.fill("#signin-email", email)
    page.click("#signin-submit")
    expect(page).to_have_url(base_url + next_path)
    expect(page.locator(".me")).to_be_attached()


def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
