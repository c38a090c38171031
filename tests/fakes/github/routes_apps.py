"""REST routes of GitHub Apps: the App itself, its installations, installation tokens.

Owns ``GET /app``, ``GET /app/installations``, ``GET /app/installations/{id}``,
``POST /app/installations/{id}/access_tokens`` (App JWT), ``GET
/installation/repositories`` and ``DELETE /installation/token`` (installation
token), ``GET /user/installations`` and ``GET
/user/installations/{id}/repositories`` (user token). A token asked for with
``repositories``/``repository_ids``/``permissions`` is narrowed, and must be a
subset of the installation's (422 otherwise, with GitHub's messages).
"""

from __future__ import annotations

from typing import Any

from .http_common import ApiError, Reply, RestContext, not_found
from .shapes_accounts import installation, integration, ts
from .shapes_repos import repository
from .world import Installation, Repo, level_at_least

DOC_TOKEN = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
DOC_INSTALLATION = "https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app"
DOC_INSTALLATION_REPOS = "https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation"
DOC_USER_INSTALLATION_REPOS = ("https://docs.github.com/rest/apps/installations"
                               "#list-repositories-accessible-to-the-user-access-token")
NOT_IN_INSTALLATION = ("There is at least one repository that does not exist or is not accessible to the parent "
                       "installation.")
NOT_GRANTED = "The permissions requested are not granted to this installation."


def get_app(ctx: RestContext) -> Reply:
    app = ctx.require_jwt()
    count = sum(1 for i in ctx.world.installations.values() if i.app is app)
    return Reply(200, integration(ctx.world, app, installations_count=count))


def _own_installation(ctx: RestContext) -> Installation:
    app = ctx.require_jwt()
    try:
        inst = ctx.world.installations.get(int(ctx.params["installation_id"]))
    except ValueError:
        inst = None
    if inst is None or inst.app is not app:
        raise not_found(DOC_INSTALLATION)
    return inst


def list_installations(ctx: RestContext) -> Reply:
    app = ctx.require_jwt()
    found = sorted((i for i in ctx.world.installations.values() if i.app is app), key=lambda i: i.id)
    page, headers = ctx.paginate(found)
    return Reply(200, [installation(ctx.world, i) for i in page], headers)


def get_installation(ctx: RestContext) -> Reply:
    return Reply(200, installation(ctx.world, _own_installation(ctx)))


def _narrowed(ctx: RestContext, inst: Installation, body: dict[str, Any]) -> list[Repo] | None:
    names, ids = body.get("repositories"), body.get("repository_ids")
    for value, kind in ((names, str), (ids, int)):
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, kind) for v in value)):
            raise ApiError(422, "Invalid request.\n\nInvalid property: repositories or repository_ids.",
                           doc=DOC_TOKEN)
    if not names and not ids:
        return None
    available = ctx.world.installation_repos(inst)
    chosen: list[Repo] = []
    for name in names or []:
        repo = next((r for r in available if r.name.lower() == name.lower()), None)
        if repo is None:
            raise ApiError(422, NOT_IN_INSTALLATION, doc=DOC_TOKEN)
        chosen.append(repo)
    for repo_id in ids or []:
        repo = next((r for r in available if r.id == repo_id), None)
        if repo is None:
            raise ApiError(422, NOT_IN_INSTALLATION, doc=DOC_TOKEN)
        chosen.append(repo)
    return sorted(set(chosen), key=lambda r: r.id)


def _permissions(inst: Installation, asked: object) -> dict[str, str]:
    if asked is None:
        return dict(inst.permissions)
    if not isinstance(asked, dict) or not asked:
        raise ApiError(422, NOT_GRANTED, doc=DOC_TOKEN)
    for name, level in asked.items():
        if level not in ("read", "write", "admin") or not level_at_least(inst.permissions.get(name), level):
            raise ApiError(422, NOT_GRANTED, doc=DOC_TOKEN)
    granted = {str(k): str(v) for k, v in asked.items()}
    if "metadata" in inst.permissions:  # GitHub adds metadata:read to every narrowed token
        granted.setdefault("metadata", "read")
    return granted


def create_access_token(ctx: RestContext) -> Reply:
    inst = _own_installation(ctx)
    if inst.suspended_at is not None:
        raise ApiError(403, "This installation has been suspended", doc=DOC_TOKEN)
    body = ctx.json()
    repos = _narrowed(ctx, inst, body)
    permissions = _permissions(inst, body.get("permissions"))
    token = ctx.tokens.issue_installation(inst, ctx.now, permissions=permissions,
                                          repo_ids=frozenset(r.id for r in repos) if repos is not None else None)
    answer: dict[str, Any] = {
        "token": token.value,
        "expires_at": ts(token.expires_at),
        "permissions": permissions,
        "repository_selection": "selected" if repos is not None else inst.repository_selection,
    }
    if repos is not None:
        answer["repositories"] = [repository(ctx.world, r) for r in repos]
    return Reply(201, answer)


def _installation_token(ctx: RestContext) -> Any:
    token = ctx.caller.token
    if ctx.caller.kind is None:
        raise ApiError(401, "Requires authentication", doc=DOC_INSTALLATION_REPOS)
    if token is None or token.kind != "installation":
        raise ApiError(403, "You must authenticate with an installation access token in order to list "
                            "repositories for an installation.", doc=DOC_INSTALLATION_REPOS)
    return token


def installation_repositories(ctx: RestContext) -> Reply:
    token = _installation_token(ctx)
    visible = [r for r in ctx.world.installation_repos(token.installation)
               if token.repo_ids is None or r.id in token.repo_ids]
    page, headers = ctx.paginate(visible)
    selection = "selected" if token.repo_ids is not None else token.installation.repository_selection
    return Reply(200, {"total_count": len(visible), "repository_selection": selection,
                       "repositories": [repository(ctx.world, r) for r in page]}, headers)


def revoke_installation_token(ctx: RestContext) -> Reply:
    token = _installation_token(ctx)
    token.revoked = True
    return Reply(204)


def user_installations(ctx: RestContext) -> Reply:
    user = ctx.require_user()
    assert ctx.caller.app is not None
    found = ctx.world.user_installations(ctx.caller.app, user)
    page, headers = ctx.paginate(found)
    return Reply(200, {"total_count": len(found), "installations": [installation(ctx.world, i) for i in page]},
                 headers)


def user_installation_repositories(ctx: RestContext) -> Reply:
    user = ctx.require_user()
    assert ctx.caller.app is not None
    try:
        wanted = int(ctx.params["installation_id"])
    except ValueError:
        wanted = -1
    inst = next((i for i in ctx.world.user_installations(ctx.caller.app, user) if i.id == wanted), None)
    if inst is None:
        raise not_found(DOC_USER_INSTALLATION_REPOS)
    repos = [(r, ctx.world.user_role(user, r)) for r in ctx.world.installation_repos(inst)]
    repos = [(r, role) for r, role in repos if role is not None]
    page, headers = ctx.paginate(repos)
    shaped = []
    for repo, role in page:
        admin, push = role == "admin", role in ("admin", "write")
        perms = {"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": True}
        shaped.append(repository(ctx.world, repo, permissions=perms))
    return Reply(200, {"total_count": len(repos), "repository_selection": inst.repository_selection,
                       "repositories": shaped}, headers)


ROUTES = [
    ("GET", "/app", get_app),
    ("GET", "/app/installations", list_installations),
    ("GET", "/app/installations/{installation_id}", get_installation),
    ("POST", "/app/installations/{installation_id}/access_tokens", create_access_token),
    ("GET", "/installation/repositories", installation_repositories),
    ("DELETE", "/installation/token", revoke_installation_token),
    ("GET", "/user/installations", user_installations),
    ("GET", "/user/installations/{installation_id}/repositories", user_installation_repositories),
]
