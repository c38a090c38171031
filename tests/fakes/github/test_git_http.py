"""The real git client cloning from and pushing to the fake over smart HTTP, with GitHub's auth rules."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.github.conftest import Seeded
from tests.fakes.github.git_client import authed_url, run_git


def test_clone_needs_a_token_covering_the_repository(seeded: Seeded, tmp_path: Path) -> None:
    gh = seeded.gh
    anonymous = run_git(tmp_path, "clone", seeded.widgets.clone_url, "anon", check=False)
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    with httpx.Client(trust_env=False) as client:
        refs = client.get(f"{seeded.widgets.clone_url}/info/refs", params={"service": "git-upload-pack"})
        assert refs.status_code == 401 and refs.headers["www-authenticate"] == 'Basic realm="GitHub"'
    run_git(tmp_path, "clone", seeded.gadgets.clone_url, "public")  # public: no credentials needed

    narrowed = gh.issue_installation_token(seeded.inst, repositories=["gadgets"])
    refused = run_git(tmp_path, "clone", authed_url(seeded.widgets, narrowed), "narrow", check=False)
    assert refused.returncode != 0 and "not found" in refused.stderr.lower()
    assert gh.requests[-1].status == 404 and gh.requests[-1].auth == "basic-installation"

    token = gh.issue_installation_token(seeded.inst)
    run_git(tmp_path, "clone", authed_url(seeded.widgets, token), "full")
    assert (tmp_path / "full" / "README.md").read_text() == "hi\n"
    branches = run_git(tmp_path / "full", "branch", "-r").stdout
    assert "origin/feature" in branches and "origin/dev" in branches

    bad = run_git(tmp_path, "clone", authed_url(seeded.widgets, "ghs_" + "x" * 36), "bad", check=False)
    assert bad.returncode != 0 and "Authentication failed" in bad.stderr


def test_git_asks_its_credential_helper_after_the_401(seeded: Seeded, tmp_path: Path) -> None:
    token = seeded.gh.issue_installation_token(seeded.inst)
    helper = f"!f() {{ echo username=x-access-token; echo password={token}; }}; f"
    run_git(tmp_path, "-c", f"credential.helper={helper}", "clone", seeded.widgets.clone_url, "helped")
    assert (tmp_path / "helped" / "README.md").exists()
    statuses = [r.status for r in seeded.gh.requests if r.path.endswith("/info/refs")]
    assert statuses[:2] == [401, 200]


def test_user_tokens_work_for_members_only(seeded: Seeded, tmp_path: Path) -> None:
    gh = seeded.gh
    ada = gh.issue_user_token(seeded.app, "ada")["access_token"]
    run_git(tmp_path, "clone", authed_url(seeded.widgets, ada, "ada"), "ada")
    assert gh.requests[-1].auth == "basic-user"
    mallory = gh.issue_user_token(seeded.app, "mallory")["access_token"]
    refused = run_git(tmp_path, "clone", authed_url(seeded.widgets, mallory, "mallory"), "mallory", check=False)
    assert refused.returncode != 0


def test_push_needs_contents_write_and_lands_in_the_bare_repository(seeded: Seeded, tmp_path: Path) -> None:
    gh = seeded.gh
    work = tmp_path / "work"
    read_only = gh.issue_installation_token(seeded.inst, permissions={"contents": "read"})
    run_git(tmp_path, "clone", authed_url(seeded.widgets, read_only), "work")
    (work / "notes.txt").write_text("from the agent\n")
    run_git(work, "add", "notes.txt")
    identity = {"GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.com",
                "GIT_COMMITTER_NAME": "openinspect-test[bot]",
                "GIT_COMMITTER_EMAIL": f"{seeded.app.bot.id}+openinspect-test[bot]@users.noreply.github.com"}
    run_git(work, "commit", "-m", "Add notes\n\nBody.", env=identity)
    refused = run_git(work, "push", "origin", "HEAD:refs/heads/agent/notes", check=False)
    assert refused.returncode != 0 and "Write access to repository not granted" in refused.stderr
    assert [b for b in (r.path for r in gh.requests) if b.endswith("git-receive-pack")] == []

    writer = gh.issue_installation_token(seeded.inst)
    run_git(work, "push", authed_url(seeded.widgets, writer), "HEAD:refs/heads/agent/notes")
    assert gh.branches("acme/widgets") == ["agent/notes", "dev", "feature", "main"]
    pushed = gh.branch_commits("acme/widgets", "agent/notes")
    sha = run_git(work, "rev-parse", "HEAD").stdout.strip()
    assert pushed[0] == (sha, "Ada Lovelace", "ada@example.com", "openinspect-test[bot]",
                         f"{seeded.app.bot.id}+openinspect-test[bot]@users.noreply.github.com", "Add notes")
    assert pushed[1][5] == "Initial commit"

    with httpx.Client(base_url=gh.api_url, trust_env=False) as api:
        branch = api.get("/repos/acme/widgets/branches/agent/notes", headers={"Authorization": f"token {writer}"})
        body = branch.json()
        assert branch.status_code == 200 and body["commit"]["sha"] == sha
        assert body["commit"]["author"]["login"] == "ada"
        assert body["commit"]["committer"]["login"] == "openinspect-test[bot]"
        pr = api.post("/repos/acme/widgets/pulls", headers={"Authorization": f"token {writer}"},
                      json={"title": "Notes", "head": "agent/notes", "base": "main"})
        assert pr.status_code == 201 and pr.json()["head"]["sha"] == sha
