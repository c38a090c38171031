"""REST routes about people: the signed-in user, their emails, organization membership.

Owns ``GET /user``, ``GET /user/emails``, ``GET /user/memberships/orgs/{org}``,
``GET /orgs/{org}/members/{username}`` and ``GET /orgs/{org}/public_members/{username}``.
As for a GitHub App's user token: ``/user/emails`` needs the App's
``email_addresses`` permission, organization membership needs the App installed on
that organization with ``members`` permission (else 403 "Resource not accessible by
integration"). Membership checks answer 204/404, or 302 to the public-members check
when the asker is not a member.
"""

from __future__ import annotations

from .http_common import NOT_ACCESSIBLE, ApiError, Reply, RestContext, not_found
from .shapes_accounts import emails, org_membership, private_user
from .world import Account, level_at_least

DOC_USER = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
DOC_EMAILS = "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user"
DOC_MEMBERSHIP = "https://docs.github.com/rest/orgs/members#get-an-organization-membership-for-the-authenticated-user"
DOC_CHECK = "https://docs.github.com/rest/orgs/members#check-organization-membership-for-a-user"


def get_user(ctx: RestContext) -> Reply:
    user = ctx.require_user()
    owned = [r for r in ctx.world.repos.values() if r.owner is user]
    counts = (sum(1 for r in owned if not r.private), sum(1 for r in owned if r.private))
    return Reply(200, private_user(ctx.world, user, repo_counts=counts))


def _app_granted(ctx: RestContext, name: str) -> bool:
    token = ctx.caller.token
    return token is not None and level_at_least(token.app.permissions.get(name), "read")


def get_emails(ctx: RestContext) -> Reply:
    user = ctx.require_user()
    if not _app_granted(ctx, "email_addresses"):
        raise ApiError(403, NOT_ACCESSIBLE, doc=DOC_EMAILS,
                       headers={"X-Accepted-GitHub-Permissions": "email_addresses=read"})
    return Reply(200, emails(user))


def _org(ctx: RestContext, doc: str) -> Account:
    org = ctx.world.account(ctx.params["org"])
    if org is None or org.type != "Organization":
        raise not_found(doc)
    return org


def _members_permission(ctx: RestContext, org: Account, doc: str) -> None:
    """The App behind the token must be installed on the organization with ``members`` read."""
    app = ctx.caller.app
    inst = ctx.world.installation_on_account(app, org) if app is not None else None
    if inst is None or not level_at_least(inst.permissions.get("members"), "read"):
        raise ApiError(403, NOT_ACCESSIBLE, doc=doc, headers={"X-Accepted-GitHub-Permissions": "members=read"})


def get_membership(ctx: RestContext) -> Reply:
    user = ctx.require_user()
    org = _org(ctx, DOC_MEMBERSHIP)
    _members_permission(ctx, org, DOC_MEMBERSHIP)
    if user.login not in org.members:
        raise not_found(DOC_MEMBERSHIP)
    return Reply(200, org_membership(ctx.world, org, user))


def check_member(ctx: RestContext) -> Reply:
    org = _org(ctx, DOC_CHECK)
    username = ctx.params["username"]
    asker = ctx.caller.user
    token = ctx.caller.token
    if ctx.caller.kind is None:
        raise ApiError(401, "Requires authentication", doc=DOC_CHECK)
    if token is None:
        raise ApiError(403, NOT_ACCESSIBLE, doc=DOC_CHECK)
    _members_permission(ctx, org, DOC_CHECK)
    if asker is not None and asker.login not in org.members:
        location = f"{ctx.world.api_url}/orgs/{org.login}/public_members/{username}"
        return Reply(302, None, {"Location": location})
    if token.kind == "installation" and token.installation is not None and token.installation.account is not org:
        raise ApiError(403, NOT_ACCESSIBLE, doc=DOC_CHECK)
    member = ctx.world.account(username)
    return Reply(204 if member is not None and member.login in org.members else 404)


def check_public_member(ctx: RestContext) -> Reply:
    """No membership in this fake is public, so this is always 404 (for existing organizations too)."""
    _org(ctx, DOC_CHECK)
    return Reply(404)


ROUTES = [
    ("GET", "/user", get_user),
    ("GET", "/user/emails", get_emails),
    ("GET", "/user/memberships/orgs/{org}", get_membership),
    ("GET", "/orgs/{org}/members/{username}", check_member),
    ("GET", "/orgs/{org}/public_members/{username}", check_public_member),
]
