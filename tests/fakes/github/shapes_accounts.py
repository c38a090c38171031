"""GitHub's JSON shapes for accounts and Apps: users, organizations, emails, memberships,
Apps (``integration``) and installations.

Owns how these records look on the wire — field names, URL templates, node ids,
timestamps — following the OpenAPI description's schemas (``simple-user``,
``private-user``, ``email``, ``organization-simple``, ``org-membership``,
``integration``, ``installation``). URLs point at the fake (web host and
``/api/v3``), laid out as on GitHub Enterprise Server.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from .world import Account, App, Installation, World


def ts(moment: datetime | None) -> str | None:
    """GitHub's timestamp format: ``2024-05-01T12:00:00Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """A node id in GitHub's legacy format (base64 of ``0<len>:<Type><id>``)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def avatar_url(world: World, account: Account) -> str:
    return f"{world.base_url}/avatars/u/{account.id}?v=4"


def account_html_url(world: World, account: Account) -> str:
    if account.type == "Bot":
        return f"{world.base_url}/apps/{account.login.removesuffix('[bot]')}"
    return f"{world.base_url}/{account.login}"


def simple_user(world: World, account: Account) -> dict[str, Any]:
    """``simple-user``: how an account appears inside other objects."""
    api = f"{world.api_url}/users/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id({"User": "User", "Bot": "Bot", "Organization": "Organization"}[account.type],
                           account.id),
        "avatar_url": avatar_url(world, account),
        "gravatar_id": "",
        "url": api,
        "html_url": account_html_url(world, account),
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": account.site_admin,
    }


def private_user(world: World, user: Account, *, repo_counts: tuple[int, int]) -> dict[str, Any]:
    """``private-user``: GET /user for the signed-in user (``user_view_type`` "private")."""
    public_repos, private_repos = repo_counts
    return {
        **simple_user(world, user),
        "user_view_type": "private",
        "name": user.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": user.email,
        "notification_email": user.email,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": ts(user.created_at),
        "updated_at": ts(user.created_at),
        "private_gists": 0,
        "total_private_repos": private_repos,
        "owned_private_repos": private_repos,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": False,
        "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
    }


def emails(user: Account) -> list[dict[str, Any]]:
    """GET /user/emails: the primary address (public or private), then the noreply address."""
    primary = user.email or user.primary_email
    listed = []
    if primary:
        listed.append({"email": primary, "primary": True, "verified": True,
                       "visibility": "public" if user.email else "private"})
    listed.append({"email": user.noreply_email, "primary": False, "verified": True, "visibility": None})
    return listed


def organization_simple(world: World, org: Account) -> dict[str, Any]:
    api = f"{world.api_url}/orgs/{org.login}"
    return {
        "login": org.login,
        "id": org.id,
        "node_id": node_id("Organization", org.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": avatar_url(world, org),
        "description": org.description,
    }


def org_membership(world: World, org: Account, user: Account) -> dict[str, Any]:
    """GET /user/memberships/orgs/{org} for an active member."""
    role = org.members[user.login]
    return {
        "url": f"{world.api_url}/orgs/{org.login}/memberships/{user.login}",
        "state": "active",
        "role": role,
        "direct_membership": True,
        "organization_url": f"{world.api_url}/orgs/{org.login}",
        "organization": organization_simple(world, org),
        "user": simple_user(world, user),
        "permissions": {"can_create_repository": role == "admin"},
    }


def integration(world: World, app: App, *, installations_count: int | None = None) -> dict[str, Any]:
    """``integration``: GET /app."""
    shape = {
        "id": app.id,
        "client_id": app.client_id,
        "slug": app.slug,
        "node_id": node_id("App", app.id),
        "owner": simple_user(world, app.owner),
        "name": app.name,
        "description": app.description or "",
        "external_url": f"{world.base_url}/{app.owner.login}",
        "html_url": f"{world.base_url}/apps/{app.slug}",
        "created_at": ts(app.created_at),
        "updated_at": ts(app.created_at),
        "permissions": dict(app.permissions),
        "events": list(app.events),
    }
    if installations_count is not None:
        shape["installations_count"] = installations_count
    return shape


def installation(world: World, inst: Installation) -> dict[str, Any]:
    """``installation``: GET /app/installations/{id} and the lists of installations."""
    html = (f"{world.base_url}/organizations/{inst.account.login}/settings/installations/{inst.id}"
            if inst.account.type == "Organization" else f"{world.base_url}/settings/installations/{inst.id}")
    return {
        "id": inst.id,
        "client_id": inst.app.client_id,
        "account": simple_user(world, inst.account),
        "repository_selection": inst.repository_selection,
        "access_tokens_url": f"{world.api_url}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{world.api_url}/installation/repositories",
        "html_url": html,
        "app_id": inst.app.id,
        "app_slug": inst.app.slug,
        "target_id": inst.account.id,
        "target_type": inst.account.type,
        "permissions": dict(inst.permissions),
        "events": list(inst.events),
        "created_at": ts(inst.created_at),
        "updated_at": ts(inst.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": simple_user(world, inst.suspended_by) if inst.suspended_by else None,
        "suspended_at": ts(inst.suspended_at),
    }
