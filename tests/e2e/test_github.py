"""A team on GitHub, end to end: the system started by the README's run command with its GitHub
settings pointing at the fake GitHub, people in Chromium.

Sign-in through the fake's authorize page (an outsider is refused), the repository picker, a
session cloned over HTTP through the credential helper, the agent's commit pushed as the person,
"Create pull request" opening a PR whose author is that person, a signed ``closed``+``merged``
webhook turning the card to merged in a second viewer's browser; a commit holding a secret's
value, made past the sandbox's hook, whose push is refused (``secret_in_diff``); then the leak
test: the installation and user tokens are nowhere they must not be. (The system runs with the
leak watch's canary secrets, set by Ada once she is signed in: ``test_zz_leaks`` searches it.)
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect

from tests.e2e.conftest import UI_TIMEOUT_MS, screenshot
from tests.e2e.leak_watch import GLOBAL_CANARY, REPO_CANARY, WATCH, WatchedSystem, stop_run
from tests.fakes.github import FakeGitHub, serve_fake_github
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply, ToolCallSpec, ToolReply
from tests.support import leaks
from tests.support.system import RunCommand, run_command

# Started before the shared web system (tests/conftest.py): each scripts/run builds into the one .web.
RUNS_ITS_OWN_SYSTEM = True
ORG = "acme"
REPO = "acme/widgets"
SESSION_URL = re.compile(r".*/sessions/([0-9a-f]{32})$")


@dataclass
class GitHubSystem:
    gh: FakeGitHub
    run: RunCommand
    root: Path
    frames: list[tuple[str, str]] = field(default_factory=list)  # every Reflex payload and page seen

    @property
    def base_url(self) -> str:
        return self.run.base_url


@pytest.fixture(scope="module")
def github_system(tmp_path_factory: pytest.TempPathFactory, scripted_model: ScriptedModel) -> Iterator[GitHubSystem]:
    root = tmp_path_factory.mktemp("github-e2e")
    with serve_fake_github(root / "github") as gh:
        app = gh.add_app(slug="openinspect-test", client_id="Iv1.e2eclient", client_secret="e2e-client-secret",
                         webhook_secret="e2e-webhook-secret")
        gh.add_user("ada", name="Ada Lovelace", email="ada@example.com", orgs=[ORG])
        gh.add_user("grace", name="Grace Hopper", email="grace@example.com", orgs=[ORG])
        gh.add_user("mallory", name="Mallory", email="mallory@example.com", orgs=[])
        gh.add_repo(ORG, "widgets", default_branch="main", files={"README.md": "# Widgets\n"},
                    branches=["main", "release"], description="The widget factory")
        gh.add_repo(ORG, "gadgets", default_branch="main", files={"README.md": "# Gadgets\n"})
        gh.add_installation(app, account=ORG, repos=[REPO, "acme/gadgets"])
        key_file = root / "app.pem"
        key_file.write_text(app.private_key_pem)
        key_file.chmod(0o600)
        env = {"OPENINSPECT_PROVIDER_BASE_URL": scripted_model.base_url,
               "OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS": "5",
               "OPENINSPECT_IDENTITY_PROVIDER": "github",
               "OPENINSPECT_GITHUB_APP_ID": str(app.id),
               "OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
               "OPENINSPECT_GITHUB_CLIENT_ID": app.client_id,
               "OPENINSPECT_GITHUB_CLIENT_SECRET": app.client_secret,
               "OPENINSPECT_GITHUB_WEBHOOK_SECRET": "e2e-webhook-secret",
               "OPENINSPECT_GITHUB_ORGS": ORG,
               "OPENINSPECT_GITHUB_URL": gh.base_url,
               "OPENINSPECT_GITHUB_API_URL": gh.api_url}
        with run_command(root, env) as run:
            WATCH.systems.append(WatchedSystem("github system", root, root / "data", run.log,
                                               stop=lambda: stop_run(run)))
            yield GitHubSystem(gh, run, root)


def recorded_context(browser: Browser, system: GitHubSystem) -> BrowserContext:
    """A browser context whose every WebSocket frame (Reflex's payloads) is kept for the leak test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: system.frames.append((f"frame from {ws.url}", str(payload))))
        ws.on("framesent", lambda payload: system.frames.append((f"frame to {ws.url}", str(payload))))

    context.on("page", lambda page: page.on("websocket", watch))
    return context


def sign_in_with_github(page: Page, system: GitHubSystem, login: str) -> None:
    page.goto(f"{system.base_url}/signin")
    page.get_by_role("link", name=re.compile("Sign in with GitHub")).click()
    expect(page).to_have_url(re.compile(re.escape(system.gh.base_url) + "/login/oauth/authorize"))
    page.fill("input[name=login]", login)
    page.get_by_role("button", name=re.compile("Authorize")).click()


def set_canaries(page: Page, system: GitHubSystem) -> None:
    """The leak watch's canaries (global, and the repository's once the App's sync made its row),
    set by Ada through the REST API with her sign-in cookie, before any session starts."""
    def put(path: str, value: str) -> None:
        answer = page.request.put(system.base_url + path, data={"value": value},
                                  headers={"Origin": system.base_url})
        assert answer.ok, f"PUT {path}: {answer.status} {answer.text()}"
        WATCH.record(f"PUT {path} ({answer.status})", answer.body())  # the browser's context received it

    put(f"/api/secrets/{GLOBAL_CANARY}", WATCH.canary("global, github system"))
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while not (rows := _repo_ids(system, REPO)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rows, f"no row for {REPO} after the App's sync"
    put(f"/api/repos/{rows[0]}/secrets/{REPO_CANARY}", WATCH.canary(f"repository {REPO}, github system"))


def _repo_ids(system: GitHubSystem, full_name: str) -> list[str]:
    with sqlite3.connect(system.root / "data" / "openinspect.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM repo WHERE full_name = ?", (full_name,))]


def keep_page(system: GitHubSystem, page: Page, name: str) -> None:
    system.frames.append((f"page {name}", page.content()))


def commit_a_secret_past_the_hook(ctx: ScriptContext) -> TextReply | ToolReply:
    """The agent commits a secret's value with ``--no-verify`` (around the sandbox's hook)."""
    if ctx.step == 0:
        command = f'echo "${GLOBAL_CANARY}" > leak.txt && git add leak.txt && git commit --no-verify -m leak'
        return ToolReply((ToolCallSpec("bash", {"command": command}),))
    return TextReply("Committed past the hook.")


def test_a_team_on_github(browser: Browser, github_system: GitHubSystem, scripted_model: ScriptedModel) -> None:
    system, gh = github_system, github_system.gh
    scripted_model.register("commit-secret-no-verify", commit_a_secret_past_the_hook)

    # An outsider is refused, with a page that says why.
    outsider = recorded_context(browser, system)
    page = outsider.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    sign_in_with_github(page, system, "mallory")
    expect(page).to_have_url(re.compile(r"/signin/?\?.*error=github_not_allowed"))
    expect(page.get_by_text(re.compile("mallory.*not a member", re.I))).to_be_visible()
    screenshot(page, "github-refused")
    outsider.close()

    # Ada signs in through GitHub and starts a session from the picker.
    ada = recorded_context(browser, system)
    pa = ada.new_page()
    pa.set_default_timeout(UI_TIMEOUT_MS)
    sign_in_with_github(pa, system, "ada")
    expect(pa).to_have_url(system.base_url + "/")
    expect(pa.locator(".me")).to_contain_text("Ada Lovelace")
    pa.fill("#repo-search", "widg")
    pa.locator(".repo-option", has_text=REPO).click()
    expect(pa.locator("#branch-select")).to_have_value("main")
    set_canaries(pa, system)  # the picker lists the rows the App's sync made: the repository's is there
    screenshot(pa, "github-picker")
    pa.fill("#new-prompt", '#script commit path=WIDGETS.md content=more-widgets message="Add more widgets"')
    pa.click("#create-session")
    expect(pa).to_have_url(SESSION_URL)
    session_id = SESSION_URL.match(pa.url).group(1)  # type: ignore[union-attr]

    # The agent's commit is pushed to the session's branch, as Ada, committed by the bot.
    expect(pa.locator(".timeline-entry[data-kind=push]")).to_be_visible()
    branch = f"openinspect/{session_id[:8]}"
    heads = [b for b in gh.branches(REPO) if b.startswith(branch)]
    assert len(heads) == 1, gh.branches(REPO)
    commits = gh.branch_commits(REPO, heads[0])
    pushed = [(author, email, committer) for _, author, email, committer, _, subject in commits
              if subject == "Add more widgets"]
    assert pushed == [("Ada Lovelace", "ada@example.com", "Open-Inspect")], commits

    # "Create pull request": a dialog drafted from the session; GitHub shows Ada as the author.
    pa.click("#create-pr")
    expect(pa.locator("#pr-title")).not_to_have_value("")
    pa.fill("#pr-title", "More widgets")
    screenshot(pa, "github-pr-dialog")
    pa.click("#pr-submit")
    card = pa.locator(".pr-card")
    expect(card).to_contain_text("More widgets")
    expect(card.locator(".pr-state")).to_have_text(re.compile("open", re.I))
    pulls = gh.pulls(*REPO.split("/"))
    assert len(pulls) == 1 and pulls[0]["user"]["login"] == "ada" and pulls[0]["head"]["ref"] == heads[0]
    number = pulls[0]["number"]

    # A second viewer; a signed closed+merged webhook turns the card to merged in both browsers, live.
    grace = recorded_context(browser, system)
    pg = grace.new_page()
    pg.set_default_timeout(UI_TIMEOUT_MS)
    sign_in_with_github(pg, system, "grace")
    pg.goto(f"{system.base_url}/sessions/{session_id}")
    expect(pg.locator(".pr-card").locator(".pr-state")).to_have_text(re.compile("open", re.I))
    gh.merge_pull(REPO, number)
    delivered = gh.send_webhook(f"{system.base_url}/api/github/webhooks", "pull_request",
                                gh.pull_request_webhook(REPO, number, "closed", merged=True))
    assert delivered.status_code == 200, delivered.text
    for page in (pa, pg):
        expect(page.locator(".pr-card").locator(".pr-state")).to_have_text(re.compile("merged", re.I))
    screenshot(pg, "github-pr-merged")

    # The agent opens a PR itself when the prompt asks for one: through its tool and the control plane,
    # as the person whose prompt it is (Grace's, here), on the gadgets repository.
    pg.goto(system.base_url + "/")
    pg.fill("#repo-search", "gadg")
    pg.locator(".repo-option", has_text="acme/gadgets").click()
    pg.fill("#new-prompt", '#script commit-pull-request path=G.md content=g message="Add G" title="Gadget G"')
    pg.click("#create-session")
    expect(pg).to_have_url(SESSION_URL)
    expect(pg.locator(".pr-card")).to_contain_text("Gadget G")
    agent_pulls = gh.pulls("acme", "gadgets")
    assert [(p["title"], p["user"]["login"]) for p in agent_pulls] == [("Gadget G", "grace")]
    # A commit holding a secret's value that got past the hook is not pushed: the push is refused,
    # the timeline names the secret, and GitHub's branch does not move.
    before = gh.branch_commits(REPO, heads[0])
    pa.goto(f"{system.base_url}/sessions/{session_id}")
    pa.fill("#prompt", "#script commit-secret-no-verify")
    pa.click("#send")
    refused = pa.locator(".timeline-entry[data-kind=warning]", has_text=GLOBAL_CANARY)
    expect(refused.first).to_be_visible()
    assert gh.branch_commits(REPO, heads[0]) == before
    with sqlite3.connect(system.root / "data" / "openinspect.db") as db:
        codes = [row[0] for row in db.execute(
            "SELECT json_extract(data, '$.code') FROM event WHERE session_id = ? AND type = 'push_error'",
            (session_id,))]
    assert codes == ["secret_in_diff"], codes
    for name, page in (("ada", pa), ("grace", pg)):
        keep_page(system, page, name)

    # The leak test: after a whole session with a push and a PR, no GitHub token is anywhere it must
    # not be. (The tokens are in the database only encrypted; the plaintext must not be there either.)
    tokens = gh.issued_tokens()
    assert any(t.startswith("ghs_") for t in tokens) and any(t.startswith("ghu_") for t in tokens)
    data_dir = system.root / "data"
    found = leaks.in_files(data_dir, tokens)
    found += leaks.in_processes(leaks.process_tree(system.run.process.pid), tokens)
    found += leaks.in_texts([("the run log", system.run.log.read_text(errors="replace")), *system.frames], tokens)
    with sqlite3.connect(data_dir / "openinspect.db") as db:
        rows = db.execute("SELECT type, data FROM event").fetchall()
    found += leaks.in_texts([(f"event {kind}", str(data)) for kind, data in rows], tokens)
    assert found == [], found
    for context in (ada, grace):
        context.close()
