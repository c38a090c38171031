"""REST routes of a repository: the repository, its branches, its pull requests.

Owns ``GET /repos/{owner}/{repo}``, ``GET .../branches`` (paginated) and ``GET
.../branches/{branch}`` — the real refs of the bare repository — and the pull
request routes: ``POST .../pulls`` (a user token of someone with access, or an
installation token with ``pull_requests: write``; the author is the user, or the
App's bot user ``<slug>[bot]``), ``GET .../pulls`` (``state``, ``head=owner:branch``,
``base``, ``sort``, ``direction``, paginated; like GitHub, a ``head`` without
``owner:`` filters nothing), ``GET .../pulls/{number}`` and ``PATCH
.../pulls/{number}``. The pull request rules live in :mod:`.pulls`. A repository
the caller may not see is a 404, as on GitHub.
"""

from __future__ import annotations

from typing import Any

from . import git_repos, pulls
from .http_common import ApiError, Reply, RestContext, not_found, validation_failed
from .shapes_repos import branch_with_protection, full_repository, pull_request, pull_request_simple, short_branch
from .world import Account, PullRequest, Repo, level_at_least

DOC_REPO = "https://docs.github.com/rest/repos/repos#get-a-repository"
DOC_BRANCHES = "https://docs.github.com/rest/branches/branches#list-branches"
DOC_BRANCH = "https://docs.github.com/rest/branches/branches#get-a-branch"


def _permissions(ctx: RestContext, repo: Repo) -> dict[str, bool] | None:
    """What the caller may do, as ``permissions`` shows it (absent for anonymous callers)."""
    if ctx.caller.kind is None:
        return None
    user = ctx.caller.user
    role = ctx.world.user_role(user, repo) if user is not None else None
    push = level_at_least(ctx.world.repo_permission(ctx.caller, repo, "contents"), "write")
    admin = role == "admin" and push
    return {"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": True}


def get_repo(ctx: RestContext) -> Reply:
    repo = ctx.repo(DOC_REPO)
    return Reply(200, full_repository(ctx.world, repo, permissions=_permissions(ctx, repo)))


def list_branches(ctx: RestContext) -> Reply:
    repo = ctx.repo(DOC_BRANCHES)
    found = git_repos.branches(repo.path)
    if ctx.query.get("protected") == "true":
        found = []
    page, headers = ctx.paginate(found)
    return Reply(200, [short_branch(ctx.world, repo, name, sha) for name, sha in page], headers)


def get_branch(ctx: RestContext) -> Reply:
    repo = ctx.repo(DOC_BRANCH)
    name = ctx.params["branch"]
    sha = git_repos.branch_sha(repo.path, name)
    if sha is None:
        raise ApiError(404, "Branch not found", doc=DOC_BRANCH)
    return Reply(200, branch_with_protection(ctx.world, repo, name, git_repos.commit_info(repo.path, sha)))


DOC_LIST = "https://docs.github.com/rest/pulls/pulls#list-pull-requests"
DOC_GET = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"


def _author(ctx: RestContext) -> Account:
    if ctx.caller.user is not None:
        return ctx.caller.user
    assert ctx.caller.app is not None
    return ctx.caller.app.bot


def open_pull(ctx: RestContext) -> Reply:
    repo = ctx.repo(pulls.DOC_CREATE)
    ctx.require_repo_permission(repo, "pull_requests", "write")
    params = ctx.json()
    pr = pulls.create_pull(ctx.world, repo, _author(ctx), params)
    headers = {"Location": f"{ctx.world.api_url}/repos/{repo.full_name}/pulls/{pr.number}"}
    return Reply(201, pull_request(ctx.world, pr), headers)


def _matches(pr: PullRequest, repo: Repo, state: str, head: str | None, base: str | None) -> bool:
    if state != "all" and pr.state != state:
        return False
    if head and ":" in head:  # GitHub ignores a head filter without the owner
        owner, _, branch = head.partition(":")
        if owner.lower() != repo.owner.login.lower() or pr.head_ref != branch:
            return False
    return base is None or pr.base_ref == base


def list_pulls(ctx: RestContext) -> Reply:
    repo = ctx.repo(DOC_LIST)
    state = ctx.query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed(DOC_LIST, {"resource": "Issue", "field": "state", "code": "invalid"})
    head, base = ctx.query.get("head"), ctx.query.get("base")
    found = [p for p in ctx.world.pulls.get(repo.id, []) if _matches(p, repo, state, head, base)]
    sort = ctx.query.get("sort", "created")
    key: Any = {"updated": lambda p: (p.updated_at, p.number)}.get(sort, lambda p: (p.created_at, p.number))
    descending = ctx.query.get("direction", "desc" if sort == "created" else "asc") == "desc"
    found.sort(key=key, reverse=descending)
    page, headers = ctx.paginate(found)
    return Reply(200, [pull_request_simple(ctx.world, p) for p in page], headers)


def _pull(ctx: RestContext, repo: Repo, doc: str) -> PullRequest:
    try:
        number = int(ctx.params["pull_number"])
    except ValueError:
        raise not_found(doc) from None
    pr = ctx.world.pull(repo, number)
    if pr is None:
        raise not_found(doc)
    return pr


def get_pull(ctx: RestContext) -> Reply:
    repo = ctx.repo(DOC_GET)
    return Reply(200, pull_request(ctx.world, _pull(ctx, repo, DOC_GET)))


def edit_pull(ctx: RestContext) -> Reply:
    repo = ctx.repo(pulls.DOC_UPDATE)
    pr = _pull(ctx, repo, pulls.DOC_UPDATE)
    ctx.require_repo_permission(repo, "pull_requests", "write")
    params = ctx.json()
    for name, kind in (("title", str), ("body", (str, type(None))), ("state", str), ("base", str)):
        if name in params and not isinstance(params[name], kind):
            raise ApiError(422, f'Invalid request.\n\nFor \'properties/{name}\', {params[name]!r} is not a '
                                f'{"string" if kind is str else "string or null"}.', doc=pulls.DOC_UPDATE)
    pulls.update_pull(ctx.world, pr, params)
    return Reply(200, pull_request(ctx.world, pr))


ROUTES = [
    ("GET", "/repos/{owner}/{repo}", get_repo),
    ("GET", "/repos/{owner}/{repo}/branches", list_branches),
    ("GET", "/repos/{owner}/{repo}/branches/{branch:path}", get_branch),
    ("POST", "/repos/{owner}/{repo}/pulls", open_pull),
    ("GET", "/repos/{owner}/{repo}/pulls", list_pulls),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", get_pull),
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", edit_pull),
]
