"""The fake's world: accounts, apps, repositories, installations and pull requests.

Owns the records, their ids, the fake clock and the access rules GitHub applies to
them (who may see or push a repository, which repositories an installation
covers, what a user token may do). No HTTP, no JSON shapes, no git: the routes
render records with :mod:`.shapes_accounts` / :mod:`.shapes_repos`, and
:mod:`.git_repos` holds the bare repositories.

Everything is guarded by one re-entrant lock, :attr:`World.lock`: the server's
worker threads and the test's own thread both change the world.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

AccountType = Literal["User", "Organization", "Bot"]
Role = Literal["admin", "member"]
Level = Literal["read", "write"]

# What an App asks for unless told otherwise: enough to clone, push, open pull requests and read
# who the signed-in user is (email addresses and org members are permissions of their own on GitHub).
DEFAULT_APP_PERMISSIONS: dict[str, str] = {
    "metadata": "read",
    "contents": "write",
    "pull_requests": "write",
    "members": "read",
    "email_addresses": "read",
}
DEFAULT_APP_EVENTS = ["pull_request", "push"]
# Permissions granted on the account (user or organization) rather than on its repositories.
ACCOUNT_PERMISSIONS = {"members", "email_addresses", "organization_administration", "followers", "profile"}


@dataclass(eq=False)
class Account:
    """A user, an organization or an App's bot user (they share GitHub's id space)."""

    id: int
    login: str
    type: AccountType
    created_at: datetime
    name: str | None = None
    email: str | None = None  # the public email; None when it is private
    primary_email: str | None = None  # users: the primary, verified address (shown by /user/emails)
    members: dict[str, Role] = field(default_factory=dict)  # organizations: login -> role
    description: str | None = None
    site_admin: bool = False

    @property
    def noreply_email(self) -> str:
        return f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass(eq=False)
class App:
    """A GitHub App: its credentials, permissions and bot user."""

    id: int
    slug: str
    name: str
    client_id: str
    client_secret: str
    webhook_secret: str | None
    private_key_pem: str
    public_key_pem: str
    owner: Account
    bot: Account
    permissions: dict[str, str]
    events: list[str]
    callback_urls: list[str]
    hook_id: int
    created_at: datetime
    description: str | None = None


@dataclass(eq=False)
class Repo:
    """A repository; its content lives in the bare git repository at ``path``."""

    id: int
    owner: Account
    name: str
    private: bool
    description: str | None
    default_branch: str
    path: Path
    clone_url: str
    created_at: datetime
    pushed_at: datetime
    collaborators: set[str] = field(default_factory=set)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass(eq=False)
class Installation:
    """An App installed on an account, on all its repositories (``repo_ids`` None) or some."""

    id: int
    app: App
    account: Account
    repo_ids: list[int] | None
    permissions: dict[str, str]
    events: list[str]
    created_at: datetime
    suspended_at: datetime | None = None
    suspended_by: Account | None = None

    @property
    def repository_selection(self) -> str:
        return "all" if self.repo_ids is None else "selected"


@dataclass(eq=False)
class PullRequest:
    """A pull request between two branches of one repository (forks are not modelled)."""

    id: int
    number: int
    repo: Repo
    user: Account
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    created_at: datetime
    updated_at: datetime
    draft: bool = False
    maintainer_can_modify: bool = False
    state: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: Account | None = None
    merge_commit_sha: str | None = None
    frozen_head_sha: str | None = None  # the head once closed (the branch may move on or go)
    frozen_base_sha: str | None = None
    last_changes: dict[str, Any] = field(default_factory=dict)  # for an "edited" webhook
    rendered_once: bool = False  # GitHub computes mergeability after the first answer


def level_at_least(have: str | None, want: str) -> bool:
    order = {None: 0, "read": 1, "write": 2, "admin": 3}
    return order.get(have, 0) >= order[want]


def lesser(a: str | None, b: str | None) -> str | None:
    order = {None: 0, "read": 1, "write": 2, "admin": 3}
    return a if order.get(a, 0) <= order.get(b, 0) else b


class World:
    """Every record of the fake, with the rules that relate them. Use under :attr:`lock`."""

    def __init__(self, base_url: str, data_dir: Path) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url.rstrip("/")
        self.api_url = f"{self.base_url}/api/v3"
        self.data_dir = data_dir
        self.clock_offset = timedelta()
        self.accounts: dict[str, Account] = {}  # lower-case login -> account
        self.apps: dict[int, App] = {}
        self.repos: dict[str, Repo] = {}  # lower-case full name -> repo
        self.installations: dict[int, Installation] = {}
        self.pulls: dict[int, list[PullRequest]] = {}  # repo id -> pull requests by number
        self._ids: dict[str, int] = {"account": 9000, "app": 300, "repo": 70000, "installation": 4100,
                                     "pull": 1_800_000, "hook": 51_000}

    # -- time and ids ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's clock: real UTC time plus what :meth:`advance_clock` added (whole seconds)."""
        return (datetime.now(UTC) + self.clock_offset).replace(microsecond=0)

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += timedelta(seconds=seconds)

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # -- lookups -----------------------------------------------------------------------------------

    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def user(self, login: str) -> Account:
        account = self.account(login)
        if account is None or account.type != "User":
            raise KeyError(f"no user {login!r}")
        return account

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def app_by_client_id(self, client_id: str) -> App | None:
        return next((a for a in self.apps.values() if a.client_id == client_id), None)

    def pull(self, repo: Repo, number: int) -> PullRequest | None:
        return next((p for p in self.pulls.get(repo.id, []) if p.number == number), None)

    def add_account(self, account: Account) -> Account:
        if account.login.lower() in self.accounts:
            raise ValueError(f"account {account.login!r} exists")
        self.accounts[account.login.lower()] = account
        return account

    def orgs_of(self, user: Account) -> list[Account]:
        return [a for a in self.accounts.values() if a.type == "Organization" and user.login in a.members]

    # -- access rules ------------------------------------------------------------------------------

    def user_role(self, user: Account, repo: Repo) -> str | None:
        """The user's own permission on the repository ("admin", "write", "read") or None."""
        if repo.owner is user:
            return "admin"
        role = repo.owner.members.get(user.login) if repo.owner.type == "Organization" else None
        if role == "admin":
            return "admin"
        # Members get write: this fake's organizations use "write" as the base repository permission.
        if role == "member" or user.login in repo.collaborators:
            return "write"
        return "read" if not repo.private else None

    def installation_repos(self, inst: Installation) -> list[Repo]:
        """The repositories the installation covers now (all of the account's, or the selected)."""
        owned = [r for r in self.repos.values() if r.owner is inst.account]
        if inst.repo_ids is None:
            return sorted(owned, key=lambda r: r.id)
        return [r for r in sorted(owned, key=lambda r: r.id) if r.id in inst.repo_ids]

    def installation_for(self, app: App, repo: Repo) -> Installation | None:
        """The App's installation that covers the repository, if any."""
        for inst in self.installations.values():
            if inst.app is app and inst.suspended_at is None and repo in self.installation_repos(inst):
                return inst
        return None

    def installation_on_account(self, app: App, account: Account) -> Installation | None:
        for inst in self.installations.values():
            if inst.app is app and inst.account is account and inst.suspended_at is None:
                return inst
        return None

    def user_installations(self, app: App, user: Account) -> list[Installation]:
        """The App's installations on accounts the user belongs to (GET /user/installations)."""
        accounts = [user, *self.orgs_of(user)]
        return sorted((i for i in self.installations.values() if i.app is app and i.account in accounts),
                      key=lambda i: i.id)

    def repo_permission(self, caller: Any, repo: Repo, name: str) -> str | None:
        """The level of permission ``name`` a caller (see :class:`.http_common.Caller`) has on a repo.

        Installation token: the token's permission when the repository is in its scope. User token
        (user-to-server): the lesser of the user's own role and the App installation's permission,
        and only where the App is installed. Anyone, even anonymous: read of a public repository's
        metadata and contents.
        """
        public_read = "read" if not repo.private and name in ("metadata", "contents", "pull_requests") else None
        token = getattr(caller, "token", None)
        if token is not None and token.kind == "installation":
            inst = token.installation
            in_scope = repo in self.installation_repos(inst) and (
                token.repo_ids is None or repo.id in token.repo_ids)
            if not in_scope or inst.suspended_at is not None:
                return public_read
            granted = token.permissions.get(name)
            if name == "metadata":
                granted = granted or "read"
            return granted if level_at_least(granted, "read") else public_read
        if token is not None and token.kind == "user":
            role = self.user_role(token.user, repo)
            inst = self.installation_for(token.app, repo)
            if inst is None or role is None:
                return public_read
            granted = inst.permissions.get(name, "read" if name == "metadata" else None)
            level = lesser(granted, "write" if role == "admin" else role)
            return level or public_read
        return public_read

    def can_see(self, caller: Any, repo: Repo) -> bool:
        return self.repo_permission(caller, repo, "metadata") is not None
