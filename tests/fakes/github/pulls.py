"""Pull request rules: opening, editing, closing, reopening and merging, as GitHub validates them.

Owns the lifecycle of :class:`.world.PullRequest` records independently of HTTP, so
the REST routes (:mod:`.routes_repos`), the test API and the webhook builders make
the same changes. Refusals are GitHub's 422 "Validation Failed" answers: a head or
base branch missing from the bare repository (``{"resource": "PullRequest", "field":
"head", "code": "invalid"}``), "No commits between …", "A pull request already
exists for …". Merging changes state only (no merge commit is written; the merge
commit sha is the head's sha).
"""

from __future__ import annotations

from typing import Any

from . import git_repos
from .http_common import ApiError, validation_failed
from .world import Account, PullRequest, Repo, World

DOC_CREATE = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
DOC_UPDATE = "https://docs.github.com/rest/pulls/pulls#update-a-pull-request"


def missing_fields(doc: str, names: list[str]) -> ApiError:
    """GitHub's answer for absent required parameters (checked before anything else)."""
    quoted = ", ".join(f'"{n}"' for n in names)
    verb = "wasn't" if len(names) == 1 else "weren't"
    return ApiError(422, f"Invalid request.\n\n{quoted} {verb} supplied.", doc=doc)


def _branch_of(repo: Repo, spec: str) -> str | None:
    """The branch a ``head``/``base`` parameter names (``branch`` or ``owner:branch``), if it is ours."""
    owner, sep, branch = spec.partition(":")
    if not sep:
        return spec
    return branch if owner.lower() == repo.owner.login.lower() else None


def open_for(world: World, repo: Repo, head_ref: str, base_ref: str,
             *, other_than: PullRequest | None = None) -> PullRequest | None:
    return next((p for p in world.pulls.get(repo.id, []) if p.state == "open" and p is not other_than
                 and p.head_ref == head_ref and p.base_ref == base_ref), None)


def create_pull(world: World, repo: Repo, user: Account, params: dict[str, Any]) -> PullRequest:
    """Open a pull request as ``user`` (a person or an App's bot) after GitHub's checks."""
    missing = [n for n in ("head", "base") if not params.get(n)]
    if not params.get("title") and not params.get("issue"):
        missing.insert(0, "title")
    if missing:
        raise missing_fields(DOC_CREATE, missing)
    head_spec, base_spec = str(params["head"]), str(params["base"])
    base_ref = base_spec if git_repos.branch_sha(repo.path, base_spec) else None
    if base_ref is None:
        raise validation_failed(DOC_CREATE, {"resource": "PullRequest", "field": "base", "code": "invalid"})
    head_ref = _branch_of(repo, head_spec)
    if head_ref is None or git_repos.branch_sha(repo.path, head_ref) is None:
        raise validation_failed(DOC_CREATE, {"resource": "PullRequest", "field": "head", "code": "invalid"})
    if open_for(world, repo, head_ref, base_ref):
        raise validation_failed(DOC_CREATE, {"resource": "PullRequest", "code": "custom",
                                             "message": f"A pull request already exists for "
                                                        f"{repo.owner.login}:{head_ref}."})
    if git_repos.ahead_count(repo.path, base_ref, head_ref) == 0:
        raise validation_failed(DOC_CREATE, {"resource": "PullRequest", "code": "custom",
                                             "message": f"No commits between {base_spec} and {head_spec}"})
    now = world.now()
    pulls = world.pulls.setdefault(repo.id, [])
    pr = PullRequest(id=world.next_id("pull"), number=len(pulls) + 1, repo=repo, user=user,
                     title=str(params.get("title") or f"Issue #{params.get('issue')}"),
                     body=params.get("body"), head_ref=head_ref, base_ref=base_ref, created_at=now,
                     updated_at=now, draft=bool(params.get("draft", False)),
                     maintainer_can_modify=bool(params.get("maintainer_can_modify", False)))
    pulls.append(pr)
    return pr


def _freeze(pr: PullRequest) -> None:
    pr.frozen_head_sha = git_repos.branch_sha(pr.repo.path, pr.head_ref) or pr.frozen_head_sha
    pr.frozen_base_sha = git_repos.branch_sha(pr.repo.path, pr.base_ref) or pr.frozen_base_sha


def close_pull(world: World, pr: PullRequest) -> None:
    if pr.state == "closed":
        return
    _freeze(pr)
    pr.state, pr.closed_at = "closed", world.now()
    pr.updated_at = pr.closed_at


def reopen_pull(world: World, pr: PullRequest) -> None:
    if pr.state == "open":
        return
    if pr.merged_at is not None:
        raise validation_failed(DOC_UPDATE, {"resource": "PullRequest", "code": "custom", "field": "state",
                                             "message": "Cannot reopen a merged pull request."})
    if open_for(world, pr.repo, pr.head_ref, pr.base_ref, other_than=pr):
        raise validation_failed(DOC_UPDATE, {"resource": "PullRequest", "code": "custom",
                                             "message": f"A pull request already exists for "
                                                        f"{pr.repo.owner.login}:{pr.head_ref}."})
    pr.state, pr.closed_at = "open", None
    pr.frozen_head_sha = pr.frozen_base_sha = None
    pr.updated_at = world.now()


def merge_pull(world: World, pr: PullRequest, merged_by: Account) -> None:
    """Mark merged and closed (state only)."""
    if pr.merged_at is not None:
        return
    _freeze(pr)
    now = world.now()
    pr.state, pr.closed_at, pr.merged_at, pr.updated_at = "closed", now, now, now
    pr.merged_by = merged_by
    pr.merge_commit_sha = pr.frozen_head_sha


def update_pull(world: World, pr: PullRequest, params: dict[str, Any]) -> None:
    """PATCH: title, body, state, base, maintainer_can_modify; remembers what changed for "edited"."""
    changes: dict[str, Any] = {}
    state = params.get("state")
    if state is not None and state not in ("open", "closed"):
        raise validation_failed(DOC_UPDATE, {"resource": "PullRequest", "field": "state", "code": "invalid"})
    base = params.get("base")
    if base is not None and git_repos.branch_sha(pr.repo.path, str(base)) is None:
        raise validation_failed(DOC_UPDATE, {"resource": "PullRequest", "field": "base", "code": "invalid"})
    if "title" in params and params["title"] is not None and params["title"] != pr.title:
        changes["title"] = {"from": pr.title}
        pr.title = str(params["title"])
    if "body" in params and params["body"] != pr.body:
        changes["body"] = {"from": pr.body or ""}
        pr.body = params["body"]
    if base is not None and base != pr.base_ref:
        changes["base"] = {"ref": {"from": pr.base_ref}, "sha": {"from": git_repos.branch_sha(pr.repo.path,
                                                                                             pr.base_ref) or ""}}
        pr.base_ref = str(base)
    if "maintainer_can_modify" in params:
        pr.maintainer_can_modify = bool(params["maintainer_can_modify"])
    if state == "closed":
        close_pull(world, pr)
    elif state == "open":
        reopen_pull(world, pr)
    if changes:
        pr.last_changes = changes
        pr.updated_at = world.now()
