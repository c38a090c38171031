"""Webhook bodies as GitHub sends them, built from GitHub's examples with the fake's values.

Owns the ``pull_request`` (opened, closed, reopened, edited), ``installation``
(created, deleted, suspend, unsuspend, new_permissions_accepted) and
``installation_repositories`` (added, removed) bodies. Each starts from an example
GitHub sent (``@octokit/webhooks-examples``; the first for that event and action
that passes its schema, preferring one delivered to an App of an organization),
whose fields are replaced by the fake's real values: the template decides which
fields exist and how they are written (epoch seconds where GitHub writes them
so), the fake decides every value. The body is then validated against
``@octokit/webhooks-schemas`` and refused (AssertionError) if it fails, or if any
value of the example (its "Codertocat" data) is left over.

A builder first brings the fake to the state the event reports: "closed" closes
(or merges, with ``merged=True``) the pull request, "reopened" reopens it,
installation "deleted" removes the installation and revokes its tokens,
"suspend"/"unsuspend" toggle suspension, and installation_repositories
"added"/"removed" change the installation's repositories.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from . import pulls, schemas
from .shapes_accounts import installation, node_id, organization_simple, simple_user
from .shapes_repos import pull_request, repository
from .tokens import TokenStore
from .world import Account, Installation, Repo, World

VERBATIM = {"permissions", "changes", "custom_properties", "events", "topics"}
WEBHOOK_PERMISSION_NAMES = {"email_addresses": "emails"}
FOREIGN_MARKERS = ("Codertocat", "Hello-World", "octo-org", "github.com/")


@lru_cache(maxsize=64)
def _template_choice(event: str, action: str, keys: frozenset[str]) -> tuple[str, int]:
    examples = schemas.webhook_examples()[event]
    wanted = action if any(e.get("action") == action for e in examples) else "opened"
    candidates = [i for i, e in enumerate(examples) if e.get("action") == wanted]
    valid = [i for i in candidates if not schemas.webhook_errors(event, examples[i])]
    return wanted, max(valid or candidates, key=lambda i: len(keys & set(examples[i])))


def template(event: str, action: str, keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A deep copy of GitHub's example for event+action that has the most of ``keys`` (an "opened"
    example stands in for "edited", which has none)."""
    _, index = _template_choice(event, action, keys)
    body = copy.deepcopy(schemas.webhook_examples()[event][index])
    body["action"] = action
    return body


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def overlay(shape: Any, ours: Any, key: str | None = None, donors: dict[str, Any] | None = None) -> Any:
    """``ours`` in the template's ``shape``: the template's fields, the fake's values."""
    donors = donors or {}
    if key in VERBATIM:
        return copy.deepcopy(ours)
    if isinstance(shape, dict) and isinstance(ours, dict):
        return {k: overlay(shape[k], ours[k], k, donors) if k in ours else shape[k] for k in shape}
    if shape is None and isinstance(ours, dict) and "login" in ours and "user" in donors:
        return overlay(donors["user"], ours, key, donors)
    if isinstance(shape, list) and isinstance(ours, list):
        if shape and isinstance(shape[0], dict):
            return [overlay(shape[0], item, key, donors) for item in ours]
        return copy.deepcopy(ours)
    if isinstance(shape, int) and not isinstance(shape, bool) and isinstance(ours, str) and key and \
            key.endswith("_at"):
        return _epoch(ours)
    return copy.deepcopy(ours)


def _leftovers(body: Any, path: str = "") -> list[str]:
    if isinstance(body, dict):
        return [p for k, v in body.items() for p in _leftovers(v, f"{path}/{k}")]
    if isinstance(body, list):
        return [p for i, v in enumerate(body) for p in _leftovers(v, f"{path}/{i}")]
    return [path] if isinstance(body, str) and any(m in body for m in FOREIGN_MARKERS) else []


def finish(event: str, action: str, ours: dict[str, Any]) -> dict[str, Any]:
    """Overlay ``ours`` on the template, keep exactly our top-level keys, validate, return."""
    shape = template(event, action, frozenset(ours))
    donors = {"user": shape.get("sender")}
    body = {k: overlay(shape.get(k), ours[k], k, donors) for k in ours}
    errors = schemas.webhook_errors(event, body)
    if errors:
        raise AssertionError(f"{event}.{action} body fails @octokit/webhooks-schemas: {errors[:5]}")
    leftover = _leftovers(body)
    if leftover:
        raise AssertionError(f"{event}.{action} body keeps example values at {leftover[:5]}")
    return json.loads(json.dumps(body))


def webhook_permissions(permissions: dict[str, str]) -> dict[str, str]:
    """An installation's permissions under the names the webhook schema knows (it calls
    ``email_addresses`` ``emails``); names it does not know are left out."""
    known = schemas.webhook_schema()["definitions"]["installation"]["properties"]["permissions"]["properties"]
    renamed = {WEBHOOK_PERMISSION_NAMES.get(k, k): v for k, v in permissions.items()}
    return {k: v for k, v in renamed.items() if k in known}


def webhook_repository(world: World, repo: Repo) -> dict[str, Any]:
    """The repository as webhooks carry it (the REST shape plus a few webhook-only fields)."""
    shape = repository(world, repo)
    shape.update(stargazers=0, master_branch=repo.default_branch, custom_properties={},
                 allow_squash_merge=True, allow_merge_commit=True, allow_rebase_merge=True,
                 allow_auto_merge=False, delete_branch_on_merge=False, allow_update_branch=False,
                 use_squash_pr_title_as_default=False, squash_merge_commit_message="COMMIT_MESSAGES",
                 squash_merge_commit_title="COMMIT_OR_PR_TITLE", merge_commit_message="PR_TITLE",
                 merge_commit_title="MERGE_MESSAGE")
    if repo.owner.type == "Organization":
        shape["organization"] = repo.owner.login
    return shape


def _context(world: World, repo: Repo, app_inst: Installation | None, sender: Account) -> dict[str, Any]:
    ours: dict[str, Any] = {"repository": webhook_repository(world, repo), "sender": simple_user(world, sender)}
    if repo.owner.type == "Organization":
        ours["organization"] = {**organization_simple(world, repo.owner),
                                "html_url": f"{world.base_url}/{repo.owner.login}"}
    if app_inst is not None:
        ours["installation"] = {"id": app_inst.id, "node_id": node_id("Installation", app_inst.id)}
    return ours


def pull_request_body(world: World, full_name: str, number: int, action: str, *, merged: bool = False,
                      sender: Account | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    repo = world.repo(full_name)
    pr = world.pull(repo, number) if repo is not None else None
    if repo is None or pr is None:
        raise KeyError(f"no pull request {full_name}#{number}")
    if action not in ("opened", "closed", "reopened", "edited"):
        raise ValueError(f"unsupported pull_request action {action!r}")
    if action == "closed" and merged:
        pulls.merge_pull(world, pr, sender or pr.merged_by or pr.user)
    elif action == "closed":
        pulls.close_pull(world, pr)
    elif action == "reopened":
        pulls.reopen_pull(world, pr)
    actor = sender or (pr.merged_by if action == "closed" and pr.merged_by else pr.user)
    app_inst = next((i for i in world.installations.values() if repo in world.installation_repos(i)), None)
    ours = {"action": action, "number": pr.number, "pull_request": pull_request(world, pr)}
    if action == "edited":
        ours["changes"] = changes if changes is not None else pr.last_changes
    ours.update(_context(world, repo, app_inst, actor))
    return finish("pull_request", action, ours)


def _default_sender(world: World, account: Account) -> Account:
    if account.type != "Organization":
        return account
    admins = [login for login, role in account.members.items() if role == "admin"] or list(account.members)
    return world.user(admins[0]) if admins else account


def _installation(world: World, inst: Installation) -> dict[str, Any]:
    shape = installation(world, inst)
    shape["permissions"] = webhook_permissions(inst.permissions)
    return shape


def _mini(repo: Repo) -> dict[str, Any]:
    return {"id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
            "full_name": repo.full_name, "private": repo.private}


def installation_body(world: World, tokens: TokenStore, inst: Installation, action: str, *,
                      sender: Account | None = None) -> dict[str, Any]:
    actor = sender or _default_sender(world, inst.account)
    if action == "suspend":
        inst.suspended_at, inst.suspended_by = world.now(), actor
    elif action == "unsuspend":
        inst.suspended_at = inst.suspended_by = None
    elif action == "deleted":
        world.installations.pop(inst.id, None)
        for token in tokens.of_installation(inst):
            token.revoked = True
    elif action not in ("created", "new_permissions_accepted"):
        raise ValueError(f"unsupported installation action {action!r}")
    ours: dict[str, Any] = {"action": action, "installation": _installation(world, inst),
                            "repositories": [_mini(r) for r in world.installation_repos(inst)]}
    if action == "created":
        ours["requester"] = simple_user(world, actor)
    ours["sender"] = simple_user(world, actor)
    return finish("installation", action, ours)


def installation_repositories_body(world: World, inst: Installation, *, added: list[Repo], removed: list[Repo],
                                   sender: Account | None = None) -> dict[str, Any]:
    if removed and inst.repo_ids is None:
        inst.repo_ids = [r.id for r in world.installation_repos(inst)]
    if inst.repo_ids is not None:
        inst.repo_ids = [i for i in inst.repo_ids if i not in {r.id for r in removed}]
        inst.repo_ids += [r.id for r in added if r.id not in inst.repo_ids]
    actor = sender or _default_sender(world, inst.account)
    action = "added" if added else "removed"
    ours = {"action": action, "installation": _installation(world, inst),
            "repository_selection": inst.repository_selection,
            "repositories_added": [_mini(r) for r in added], "repositories_removed": [_mini(r) for r in removed],
            "requester": None, "sender": simple_user(world, actor)}
    return finish("installation_repositories", action, ours)
