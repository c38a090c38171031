"""GitRepo against real git: local paths, file:// and http:// remotes, attribution, new commits."""

from __future__ import annotations

from pathlib import Path

import openinspect_protocol as protocol
import pytest

from sandbox.config import Identity
from sandbox.git_sync import GitError, GitRepo, mask_credentials, strip_credentials
from tests.sandbox.gitrepos import GLOBAL_USER_NAME, git, make_bare, make_repo
from tests.support.git_http import serve_git_http

BOT = Identity("Open-Inspect", "bot@openinspect.local")
ADA = protocol.Author(name="Ada Lovelace", email="ada@example.com")


async def test_clone_of_a_local_path_returns_the_head_sha(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env, {"a.txt": "a\n"})
    repo = GitRepo(tmp_path / "ws" / "repo", env=sandbox_git_env)
    sha = await repo.clone(str(source))
    assert sha == git(source, "rev-parse", "HEAD", env=sandbox_git_env)
    assert (tmp_path / "ws" / "repo" / "a.txt").read_text() == "a\n"
    assert await repo.current_branch() == "main"


async def test_clone_of_a_file_url_and_a_branch(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env, branches={"feature": {"f.txt": "feature\n"}})
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    sha = await repo.clone(source.as_uri(), "feature")
    assert sha == git(source, "rev-parse", "feature", env=sandbox_git_env)
    assert (tmp_path / "repo" / "f.txt").exists()
    assert await repo.current_branch() == "feature"


async def test_a_missing_repository_fails_with_a_clear_reason_and_gits_words(tmp_path: Path, sandbox_git_env):
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    with pytest.raises(GitError) as caught:
        await repo.clone(str(tmp_path / "nowhere"))
    first_line, _, rest = str(caught.value).partition("\n")
    assert first_line == f"repository not found: {tmp_path / 'nowhere'}"
    assert "fatal:" in rest


async def test_a_missing_branch_is_named(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    with pytest.raises(GitError, match=r"^branch 'nope' not found in "):
        await GitRepo(tmp_path / "repo", env=sandbox_git_env).clone(str(source), "nope")


async def test_an_existing_clone_is_reused(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    first = await repo.clone(str(source))
    (tmp_path / "repo" / "work.txt").write_text("unsaved work\n")
    assert await repo.clone(str(source)) == first
    assert (tmp_path / "repo" / "work.txt").exists()


async def test_attribution_makes_the_person_author_and_the_bot_committer(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    await repo.clone(str(source))
    await repo.set_attribution(ADA, BOT)
    # The global config names someone else; a plain `git commit` must still use the prompt's person.
    assert git(tmp_path / "repo", "config", "--global", "user.name", env=sandbox_git_env) == GLOBAL_USER_NAME
    (tmp_path / "repo" / "new.txt").write_text("new\n")
    git(tmp_path / "repo", "add", "new.txt", env=sandbox_git_env)
    git(tmp_path / "repo", "commit", "--quiet", "-m", "add new", env=sandbox_git_env)
    who = git(tmp_path / "repo", "log", "-1", "--format=%an|%ae|%cn|%ce", env=sandbox_git_env)
    assert who == "Ada Lovelace|ada@example.com|Open-Inspect|bot@openinspect.local"


async def test_attribution_changes_per_prompt(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    await repo.clone(str(source))
    await repo.set_attribution(ADA, BOT)
    await repo.set_attribution(protocol.Author(name="Grace Hopper", email="grace@example.com"), BOT)
    git(tmp_path / "repo", "commit", "--quiet", "--allow-empty", "-m", "x", env=sandbox_git_env)
    assert git(tmp_path / "repo", "log", "-1", "--format=%an", env=sandbox_git_env) == "Grace Hopper"


async def test_commits_since_lists_new_commits_on_head_and_new_branches(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    work = tmp_path / "repo"
    repo = GitRepo(work, env=sandbox_git_env)
    await repo.clone(str(source))
    await repo.set_attribution(ADA, BOT)
    tips = await repo.ref_tips()
    assert await repo.commits_since(tips) == []
    git(work, "commit", "--quiet", "--allow-empty", "-m", "first: on main", env=sandbox_git_env)
    git(work, "checkout", "--quiet", "-b", "topic", env=sandbox_git_env)
    git(work, "commit", "--quiet", "--allow-empty", "-m", "second: on topic", env=sandbox_git_env)
    git(work, "checkout", "--quiet", "main", env=sandbox_git_env)
    commits = await repo.commits_since(tips)
    assert [c.subject for c in commits] == ["first: on main", "second: on topic"]
    first = commits[0]
    assert first.sha == git(work, "rev-parse", "main", env=sandbox_git_env)
    assert (first.author_name, first.author_email) == ("Ada Lovelace", "ada@example.com")
    assert (first.committer_name, first.committer_email) == ("Open-Inspect", "bot@openinspect.local")
    assert await repo.commits_since(await repo.ref_tips()) == []


async def test_an_empty_repository_clones_with_no_head(tmp_path: Path, sandbox_git_env):
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "--quiet", "--bare", str(empty), env=sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    assert await repo.clone(str(empty)) is None
    tips = await repo.ref_tips()
    assert tips == ()
    assert await repo.commits_since(tips) == []
    git(tmp_path / "repo", "commit", "--quiet", "--allow-empty", "-m", "root", env=sandbox_git_env)
    assert [c.subject for c in await repo.commits_since(tips)] == ["root"]


async def test_clone_over_http_with_a_token_leaves_no_credentials_behind(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env, {"served.txt": "over http\n"})
    root = tmp_path / "served"
    root.mkdir()
    make_bare(source, root / "project.git", sandbox_git_env)
    with serve_git_http(root, token="tok-s3cret") as server:
        repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
        sha = await repo.clone(server.repo_url("project.git"))
        assert sha == git(source, "rev-parse", "HEAD", env=sandbox_git_env)
        assert (tmp_path / "repo" / "served.txt").read_text() == "over http\n"
        remote = git(tmp_path / "repo", "remote", "get-url", "origin", env=sandbox_git_env)
        assert remote == server.repo_url("project.git", authenticated=False)
        assert "tok-s3cret" not in (tmp_path / "repo" / ".git" / "config").read_text()
        assert any(status == 401 for _, _, status in server.requests)  # it really asked for the token


async def test_http_clone_with_a_wrong_token_is_denied_and_the_token_never_shown(
    tmp_path: Path, sandbox_git_env
):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    root = tmp_path / "served"
    root.mkdir()
    make_bare(source, root / "project.git", sandbox_git_env)
    with serve_git_http(root, token="right-token") as server:
        url = server.repo_url("project.git").replace("right-token", "wrong-token")
        with pytest.raises(GitError) as caught:
            await GitRepo(tmp_path / "repo", env=sandbox_git_env).clone(url)
    assert str(caught.value).startswith("access to http://***@127.0.0.1")
    assert "wrong-token" not in str(caught.value)


async def test_http_clone_of_a_missing_repository(tmp_path: Path, sandbox_git_env):
    root = tmp_path / "served"
    root.mkdir()
    with serve_git_http(root) as server:
        with pytest.raises(GitError, match=r"^repository not found: http://127\.0\.0\.1:\d+/nope\.git"):
            await GitRepo(tmp_path / "repo", env=sandbox_git_env).clone(server.repo_url("nope.git"))


async def test_push_over_http_works_for_integration_tests(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    root = tmp_path / "served"
    root.mkdir()
    bare = make_bare(source, root / "project.git", sandbox_git_env)
    with serve_git_http(root, token="t") as server:
        repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
        await repo.clone(server.repo_url("project.git"))
        git(tmp_path / "repo", "commit", "--quiet", "--allow-empty", "-m", "pushed", env=sandbox_git_env)
        git(tmp_path / "repo", "push", "--quiet", server.repo_url("project.git"), "HEAD:refs/heads/pushed",
            env=sandbox_git_env)
    assert git(bare, "log", "-1", "--format=%s", "pushed", env=sandbox_git_env) == "pushed"


def test_credentials_are_masked_in_text_and_stripped_from_urls():
    assert mask_credentials("fatal: https://x:abc@host/r.git failed") == "fatal: https://***@host/r.git failed"
    assert strip_credentials("https://x:abc@host:8080/r.git") == "https://host:8080/r.git"
    assert strip_credentials("/local/path") == "/local/path"
    assert strip_credentials("file:///srv/r.git") == "file:///srv/r.git"
