"""The test-facing API of the fake GitHub: :class:`FakeGitHub`.

Owns what a test does to and reads from the fake directly, without HTTP: adding
Apps, users, organizations, repositories (real bare git repositories) and
installations; committing to branches; reading pull requests, branch history, the
request log and every token ever issued; expiring and revoking tokens; moving the
fake's clock; building, signing and sending webhooks. Every method takes the
world's lock, so it is safe while the server answers requests in other threads.
The server itself is :func:`.server.serve_fake_github`.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import Any

import httpx

from . import git_repos, pulls, webhook_bodies, webhook_delivery
from .app_jwt import generate_key_pair, make_app_jwt
from .http_common import RecordedRequest, Services
from .shapes_repos import pull_request
from .tokens import TokenStore
from .webhook_delivery import Delivery
from .world import DEFAULT_APP_EVENTS, DEFAULT_APP_PERMISSIONS, Account, App, Installation, Repo, World


class FakeGitHub:
    """One fake GitHub: its world, its tokens, its request log and its webhook deliveries."""

    def __init__(self, base_url: str, data_dir: Path) -> None:
        self.world = World(base_url, Path(data_dir))
        self.tokens = TokenStore()
        self.services = Services(self.world, self.tokens)
        self.deliveries: list[Delivery] = []

    @property
    def base_url(self) -> str:
        """The web host: OAuth pages and git over HTTP (``http://127.0.0.1:N``)."""
        return self.world.base_url

    @property
    def api_url(self) -> str:
        """The REST API root, laid out like GitHub Enterprise Server (``http://127.0.0.1:N/api/v3``)."""
        return self.world.api_url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.world.lock:
            return list(self.services.requests)

    # -- building the world ------------------------------------------------------------------------

    def _account(self, login: str, kind: str = "Organization") -> Account:
        existing = self.world.account(login)
        if existing is not None:
            return existing
        return self.world.add_account(Account(self.world.next_id("account"), login, kind,  # type: ignore[arg-type]
                                              self.world.now()))

    def add_org(self, login: str, *, name: str | None = None, description: str | None = None,
                admins: tuple[str, ...] | list[str] = (), members: tuple[str, ...] | list[str] = ()) -> Account:
        with self.world.lock:
            org = self._account(login)
            if org.type != "Organization":
                raise ValueError(f"{login!r} is a {org.type}")
            org.name, org.description = name or org.name, description or org.description
            org.members.update({m: "member" for m in members})
            org.members.update({a: "admin" for a in admins})
            return org

    def add_user(self, login: str, *, name: str | None = None, email: str | None = None,
                 orgs: tuple[str, ...] | list[str] = (), admin_of: tuple[str, ...] | list[str] = (),
                 private_email: str | None = None, site_admin: bool = False) -> Account:
        """A user. ``email`` is public and primary; with None the primary address is private
        (``private_email``, default ``<login>@private.example.com``) and ``/user`` shows ``email: null``."""
        with self.world.lock:
            user = self.world.add_account(Account(
                self.world.next_id("account"), login, "User", self.world.now(), name=name, email=email,
                primary_email=email or private_email or f"{login.lower()}@private.example.com",
                site_admin=site_admin))
            for org in orgs:
                self.add_org(org, members=[login])
            for org in admin_of:
                self.add_org(org, admins=[login])
            return user

    def add_app(self, slug: str = "openinspect-test", *, name: str | None = None, client_id: str | None = None,
                client_secret: str | None = None, webhook_secret: str | None = None, owner: str = "fake-apps",
                permissions: dict[str, str] | None = None, events: list[str] | None = None,
                callback_urls: list[str] | None = None, description: str | None = None,
                key_pair: tuple[str, str] | None = None) -> App:
        """A GitHub App with a fresh RSA key (``app.private_key_pem``) and its bot user ``<slug>[bot]``.

        Without ``callback_urls`` the authorize page accepts any loopback ``redirect_uri``.
        ``key_pair`` (private PEM, public PEM; see :func:`.app_jwt.generate_key_pair`) reuses a key.
        """
        private, public = key_pair or generate_key_pair()
        alphabet = string.ascii_letters + string.digits
        with self.world.lock:
            owner_account = self._account(owner)
            bot = self.world.add_account(Account(self.world.next_id("account"), f"{slug}[bot]", "Bot",
                                                 self.world.now()))
            app = App(id=self.world.next_id("app"), slug=slug, name=name or slug, owner=owner_account, bot=bot,
                      client_id=client_id or "Iv23li" + "".join(secrets.choice(alphabet) for _ in range(14)),
                      client_secret=client_secret or secrets.token_hex(20),
                      webhook_secret=webhook_secret if webhook_secret is not None else secrets.token_hex(16),
                      private_key_pem=private, public_key_pem=public,
                      permissions=dict(permissions if permissions is not None else DEFAULT_APP_PERMISSIONS),
                      events=list(events if events is not None else DEFAULT_APP_EVENTS),
                      callback_urls=list(callback_urls or []), hook_id=self.world.next_id("hook"),
                      created_at=self.world.now(), description=description)
            self.world.apps[app.id] = app
            return app

    def add_repo(self, owner: str, name: str, *, default_branch: str = "main",
                 files: dict[str, str | bytes | None] | None = None, branches: list[str] | None = None,
                 private: bool = True, description: str | None = None,
                 collaborators: tuple[str, ...] | list[str] = ()) -> Repo:
        """A repository backed by a real bare git repository with one initial commit on every branch."""
        with self.world.lock:
            owner_account = self._account(owner)
            path = self.world.data_dir / "repos" / owner_account.login / f"{name}.git"
            git_repos.create_bare(path, default_branch, files or {}, branches or [default_branch])
            now = self.world.now()
            repo = Repo(id=self.world.next_id("repo"), owner=owner_account, name=name, private=private,
                        description=description, default_branch=default_branch, path=path,
                        clone_url=f"{self.base_url}/{owner_account.login}/{name}.git", created_at=now,
                        pushed_at=now, collaborators=set(collaborators))
            self.world.repos[repo.full_name.lower()] = repo
            return repo

    def _repo(self, full_name: str) -> Repo:
        repo = self.world.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name!r}")
        return repo

    def _installation(self, inst: Installation | int) -> Installation:
        return inst if isinstance(inst, Installation) else self.world.installations[inst]

    def add_installation(self, app: App, *, account: str, repos: list[str] | None = None,
                         permissions: dict[str, str] | None = None, events: list[str] | None = None) -> Installation:
        """Install ``app`` on ``account``: on the listed repositories (full names), or on all with None."""
        with self.world.lock:
            owner = self._account(account)
            chosen = [self._repo(r) for r in repos] if repos is not None else None
            if chosen and any(r.owner is not owner for r in chosen):
                raise ValueError(f"an installation on {account!r} covers only {account!r}'s repositories")
            inst = Installation(id=self.world.next_id("installation"), app=app, account=owner,
                                repo_ids=[r.id for r in chosen] if chosen is not None else None,
                                permissions=dict(permissions or app.permissions), events=list(events or app.events),
                                created_at=self.world.now())
            self.world.installations[inst.id] = inst
            return inst

    def commit(self, full_name: str, branch: str, files: dict[str, str | bytes | None], *,
               message: str = "Update files", author: tuple[str, str] = git_repos.INITIAL_AUTHOR,
               committer: tuple[str, str] | None = None, start: str | None = None) -> str:
        """Commit ``files`` onto ``branch`` (created from ``start``, default the default branch); the sha."""
        with self.world.lock:
            repo = self._repo(full_name)
            sha = git_repos.commit_files(repo.path, branch, files, message, author=author, committer=committer,
                                         start=start or repo.default_branch)
            repo.pushed_at = self.world.now()
            return sha

    # -- reading -----------------------------------------------------------------------------------

    def pulls(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """Every pull request of the repository, oldest first, as GET .../pulls/{number} shows it."""
        with self.world.lock:
            found = self.world.pulls.get(self._repo(f"{owner}/{repo}").id, [])
            return [pull_request(self.world, p) for p in found]

    def branches(self, full_name: str) -> list[str]:
        """The names of the repository's branches, sorted (read from the bare repository)."""
        with self.world.lock:
            path = self._repo(full_name).path
        return [name for name, _ in git_repos.branches(path)]

    def branch_commits(self, full_name: str, branch: str) -> list[tuple[str, str, str, str, str, str]]:
        """(sha, author name, author email, committer name, committer email, subject), newest first."""
        with self.world.lock:
            path = self._repo(full_name).path
        return [(c.sha, c.author_name, c.author_email, c.committer_name, c.committer_email, c.subject)
                for c in git_repos.log(path, f"refs/heads/{branch}")]

    def issued_tokens(self) -> list[str]:
        """Every token value ever issued: installation, user access and refresh tokens."""
        with self.world.lock:
            return self.tokens.values()

    # -- changing state ----------------------------------------------------------------------------

    def merge_pull(self, full_name: str, number: int, *, by: str | None = None) -> None:
        with self.world.lock:
            pr = self.world.pull(self._repo(full_name), number)
            if pr is None:
                raise KeyError(f"no pull request {full_name}#{number}")
            pulls.merge_pull(self.world, pr, self.world.user(by) if by else pr.user)

    def expire_user_tokens(self, login: str) -> None:
        """The user's access tokens expire now; their refresh tokens still work."""
        with self.world.lock:
            self.tokens.expire_user(login, self.world.now())

    def revoke_user_tokens(self, login: str) -> None:
        """Access and refresh tokens of the user stop working (the user revoked the App)."""
        with self.world.lock:
            self.tokens.revoke_user(login)

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock (token, code and JWT lifetimes) forward."""
        with self.world.lock:
            self.world.advance_clock(seconds)

    # -- credentials without the HTTP dance ----------------------------------------------------------

    def issue_installation_token(self, inst: Installation | int, *, repositories: list[str] | None = None,
                                 permissions: dict[str, str] | None = None) -> str:
        """An installation token as POST .../access_tokens would give (``repositories``: names)."""
        with self.world.lock:
            inst = self._installation(inst)
            ids = frozenset(self._repo(f"{inst.account.login}/{n}").id for n in repositories) if repositories \
                else None
            return self.tokens.issue_installation(inst, self.world.now(), repo_ids=ids,
                                                  permissions=permissions or inst.permissions).value

    def issue_user_token(self, app: App, login: str) -> dict[str, Any]:
        """A user access/refresh pair as the OAuth flow would give, without the browser."""
        with self.world.lock:
            access, refresh = self.tokens.issue_user_pair(app, self.world.user(login), self.world.now())
            return {"access_token": access.value, "refresh_token": refresh.value, "expires_in": 28800,
                    "refresh_token_expires_in": 15811200, "token_type": "bearer", "scope": ""}

    def app_jwt(self, app: App, *, iat: int | None = None, exp: int | None = None,
                iss: int | str | None = None) -> str:
        """An App JWT signed with the App's key; defaults as GitHub recommends (iat now-60, exp now+540)."""
        now = int(self.world.now().timestamp())
        return make_app_jwt(app.private_key_pem, app.id if iss is None else iss,
                            iat=now - 60 if iat is None else iat, exp=now + 540 if exp is None else exp)

    # -- webhooks ----------------------------------------------------------------------------------

    def pull_request_webhook(self, full_name: str, number: int, action: str, *, merged: bool = False,
                             sender: str | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.world.lock:
            return webhook_bodies.pull_request_body(self.world, full_name, number, action, merged=merged,
                                                    sender=self.world.user(sender) if sender else None,
                                                    changes=changes)

    def installation_webhook(self, inst: Installation | int, action: str = "created", *,
                             sender: str | None = None) -> dict[str, Any]:
        with self.world.lock:
            return webhook_bodies.installation_body(self.world, self.tokens, self._installation(inst), action,
                                                    sender=self.world.user(sender) if sender else None)

    def installation_repositories_webhook(self, inst: Installation | int, added: list[str] | tuple[str, ...] = (),
                                          removed: list[str] | tuple[str, ...] = (), *,
                                          sender: str | None = None) -> dict[str, Any]:
        with self.world.lock:
            installation = self._installation(inst)
            added_repos, removed_repos = [self._repo(r) for r in added], [self._repo(r) for r in removed]
            if any(r.owner is not installation.account for r in added_repos + removed_repos):
                raise ValueError("repositories must belong to the installation's account")
            return webhook_bodies.installation_repositories_body(
                self.world, installation, added=added_repos, removed=removed_repos,
                sender=self.world.user(sender) if sender else None)

    def _webhook_request(self, event: str, payload: dict[str, Any] | bytes, secret: str | None,
                         delivery: str | None, app: App | None) -> tuple[dict[str, str], bytes]:
        with self.world.lock:
            if app is None:
                inst_id = payload.get("installation", {}).get("id") if isinstance(payload, dict) else None
                inst = self.world.installations.get(inst_id) if inst_id else None
                apps = list(self.world.apps.values())
                app = inst.app if inst else apps[0] if len(apps) == 1 else None
            if app is None:
                raise ValueError("pass app= (several Apps exist and the payload names no installation)")
            body = webhook_delivery.encode(payload)
            headers = webhook_delivery.build_request(event, body, secret=app.webhook_secret if secret is None
                                                     else secret, delivery=delivery, hook_id=app.hook_id,
                                                     target_id=app.id)
            return headers, body

    def webhook_request(self, event: str, payload: dict[str, Any] | bytes, *, secret: str | None = None,
                        delivery: str | None = None, app: App | None = None) -> tuple[dict[str, str], bytes]:
        """The headers and raw body of a delivery, for tests that post it themselves (e.g. ASGI transport)."""
        return self._webhook_request(event, payload, secret, delivery, app)

    def send_webhook(self, url: str, event: str, payload: dict[str, Any] | bytes, *, secret: str | None = None,
                     delivery: str | None = None, app: App | None = None) -> httpx.Response:
        """POST a webhook to ``url`` (loopback only) as GitHub would; signed with ``secret`` or the App's."""
        headers, body = self._webhook_request(event, payload, secret, delivery, app)
        response = webhook_delivery.post(url, headers, body)
        self._record(url, event, headers, body, response.status_code)
        return response

    async def asend_webhook(self, url: str, event: str, payload: dict[str, Any] | bytes, *,
                            secret: str | None = None, delivery: str | None = None,
                            app: App | None = None) -> httpx.Response:
        """:meth:`send_webhook` for asyncio tests (does not block the event loop)."""
        headers, body = self._webhook_request(event, payload, secret, delivery, app)
        response = await webhook_delivery.apost(url, headers, body)
        self._record(url, event, headers, body, response.status_code)
        return response

    def _record(self, url: str, event: str, headers: dict[str, str], body: bytes, status: int) -> None:
        with self.world.lock:
            self.deliveries.append(Delivery(url, event, headers["X-GitHub-Delivery"], headers, body, status))
