"""GitHub's JSON shapes for repositories, branches, commits and pull requests.

Owns how these records look on the wire, following the OpenAPI description's
``repository``, ``full-repository``, ``short-branch``, ``branch-with-protection``,
``commit``, ``pull-request`` and ``pull-request-simple`` schemas. Values that live in
git (branch tips, commit authors, a pull request's sha, commit count, diff stats,
mergeability) are read from the bare repository at render time, so a push shows
up at once. Commit authors are linked to accounts by email, as GitHub does.
"""

from __future__ import annotations

from typing import Any

from . import git_repos
from .shapes_accounts import node_id, simple_user, ts
from .world import Account, PullRequest, Repo, World

EMPTY_PROTECTION = {"enabled": False, "required_status_checks": {"enforcement_level": "off", "contexts": [],
                                                                 "checks": []}}


def repository(world: World, repo: Repo, *, permissions: dict[str, bool] | None = None) -> dict[str, Any]:
    """``repository``: inside pull requests, installation repository lists and tokens."""
    api = f"{world.api_url}/repos/{repo.full_name}"
    html = f"{world.base_url}/{repo.full_name}"
    host = world.base_url.split("://", 1)[1]
    shape: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": simple_user(world, repo.owner),
        "html_url": html,
        "description": repo.description,
        "fork": False,
        "url": api,
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
        "created_at": ts(repo.created_at),
        "updated_at": ts(repo.pushed_at),
        "pushed_at": ts(repo.pushed_at),
        "git_url": f"git://{host}/{repo.full_name}.git",
        "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
        "clone_url": repo.clone_url,
        "svn_url": html,
        "homepage": None,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": not repo.private,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": sum(1 for p in world.pulls.get(repo.id, []) if p.state == "open"),
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private" if repo.private else "public",
        "forks": 0,
        "watchers": 0,
        "default_branch": repo.default_branch,
    }
    shape["open_issues"] = shape["open_issues_count"]
    if permissions is not None:
        shape["permissions"] = permissions
    return shape


def full_repository(world: World, repo: Repo, *, permissions: dict[str, bool] | None) -> dict[str, Any]:
    """``full-repository``: GET /repos/{owner}/{repo}."""
    shape = repository(world, repo, permissions=permissions)
    shape.update({
        "allow_squash_merge": True, "allow_merge_commit": True, "allow_rebase_merge": True,
        "allow_auto_merge": False, "delete_branch_on_merge": False, "allow_update_branch": False,
        "use_squash_pr_title_as_default": False, "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "squash_merge_commit_message": "COMMIT_MESSAGES", "merge_commit_title": "MERGE_MESSAGE",
        "merge_commit_message": "PR_TITLE", "custom_properties": {},
        "network_count": 0, "subscribers_count": 0,
    })
    if repo.owner.type == "Organization":
        shape["organization"] = simple_user(world, repo.owner)
    return shape


def short_branch(world: World, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    return {"name": name, "commit": {"sha": sha, "url": f"{world.api_url}/repos/{repo.full_name}/commits/{sha}"},
            "protected": False}


def _account_by_email(world: World, email: str) -> Account | None:
    for account in world.accounts.values():
        if email and email.lower() in {(account.email or "").lower(), (account.primary_email or "").lower(),
                                       account.noreply_email.lower()}:
            return account
    return None


def commit(world: World, repo: Repo, info: git_repos.CommitInfo) -> dict[str, Any]:
    """``commit``: a commit as GET /repos/.../commits/{sha} and branches show it."""
    api = f"{world.api_url}/repos/{repo.full_name}"
    author = _account_by_email(world, info.author_email)
    committer = _account_by_email(world, info.committer_email)
    return {
        "sha": info.sha,
        "node_id": node_id("Commit", int(info.sha[:12], 16)),
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{world.base_url}/{repo.full_name}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "author": {"name": info.author_name, "email": info.author_email, "date": info.author_date},
            "committer": {"name": info.committer_name, "email": info.committer_email,
                          "date": info.committer_date},
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        },
        "author": simple_user(world, author) if author else {},
        "committer": simple_user(world, committer) if committer else {},
        "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{world.base_url}/{repo.full_name}/commit/{p}"}
                    for p in info.parents],
    }


def branch_with_protection(world: World, repo: Repo, name: str, info: git_repos.CommitInfo) -> dict[str, Any]:
    """``branch-with-protection``: GET /repos/.../branches/{branch}."""
    api = f"{world.api_url}/repos/{repo.full_name}/branches/{name}"
    return {
        "name": name,
        "commit": commit(world, repo, info),
        "_links": {"self": api, "html": f"{world.base_url}/{repo.full_name}/tree/{name}"},
        "protected": False,
        "protection": EMPTY_PROTECTION,
        "protection_url": f"{api}/protection",
    }


def author_association(world: World, pr: PullRequest) -> str:
    if pr.repo.owner is pr.user:
        return "OWNER"
    if pr.user.login in pr.repo.owner.members:
        return "MEMBER"
    return "COLLABORATOR" if pr.user.login in pr.repo.collaborators else "NONE"


def pull_request_simple(world: World, pr: PullRequest) -> dict[str, Any]:
    """``pull-request-simple``: the items of GET /repos/.../pulls."""
    repo = pr.repo
    api = f"{world.api_url}/repos/{repo.full_name}"
    html = f"{world.base_url}/{repo.full_name}/pull/{pr.number}"
    head_sha = pr.frozen_head_sha or git_repos.branch_sha(repo.path, pr.head_ref) or ""
    base_sha = pr.frozen_base_sha or git_repos.branch_sha(repo.path, pr.base_ref) or ""
    links = {
        "self": f"{api}/pulls/{pr.number}", "html": html, "issue": f"{api}/issues/{pr.number}",
        "comments": f"{api}/issues/{pr.number}/comments", "review_comments": f"{api}/pulls/{pr.number}/comments",
        "review_comment": f"{api}/pulls/comments{{/number}}", "commits": f"{api}/pulls/{pr.number}/commits",
        "statuses": f"{api}/statuses/{head_sha}",
    }
    owner = simple_user(world, repo.owner)
    return {
        "url": links["self"],
        "id": pr.id,
        "node_id": node_id("PullRequest", pr.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": links["issue"],
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": simple_user(world, pr.user),
        "body": pr.body,
        "created_at": ts(pr.created_at),
        "updated_at": ts(pr.updated_at),
        "closed_at": ts(pr.closed_at),
        "merged_at": ts(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "head": {"label": f"{repo.owner.login}:{pr.head_ref}", "ref": pr.head_ref, "sha": head_sha,
                 "user": owner, "repo": repository(world, repo)},
        "base": {"label": f"{repo.owner.login}:{pr.base_ref}", "ref": pr.base_ref, "sha": base_sha,
                 "user": owner, "repo": repository(world, repo)},
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": author_association(world, pr),
        "auto_merge": None,
        "active_lock_reason": None,
    }


def pull_request(world: World, pr: PullRequest) -> dict[str, Any]:
    """``pull-request``: create, get and update answer this. Mergeability is "unknown" at first."""
    shape = pull_request_simple(world, pr)
    head, base = shape["head"]["sha"], shape["base"]["sha"]
    path = pr.repo.path
    commits = git_repos.ahead_count(path, base, head) if head and base else 0
    additions, deletions, files = git_repos.diff_stats(path, base, head) if head and base else (0, 0, 0)
    if pr.state == "open" and pr.rendered_once and head and base:
        clean = git_repos.mergeable(path, base, head)
        mergeable, state = clean, ("draft" if pr.draft else "clean") if clean else "dirty"
    else:
        mergeable, state = None, "unknown"
    pr.rendered_once = True
    shape.update({
        "merged": pr.merged_at is not None,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": state,
        "merged_by": simple_user(world, pr.merged_by) if pr.merged_by else None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": pr.maintainer_can_modify,
        "commits": commits,
        "additions": additions,
        "deletions": deletions,
        "changed_files": files,
    })
    return shape
