"""People who sign in with GitHub: who they are, whether they may, and their user tokens.

Owns the :class:`~openinspect_core.models.GitHubAccount` rows: linking a GitHub
identity to a :class:`~openinspect_core.models.User`, storing the user token and
refresh token *encrypted* (``ctx.cipher``, the row and column bound as associated
data), refreshing the token when it is about to expire (:func:`user_token`), and
checking again, every :data:`RECHECK_INTERVAL`, that the person is still allowed
(:func:`still_allowed`). The OAuth exchange itself is :mod:`.oauth`'s; the HTTP
boundary (cookies, redirects) is the web app's.

**Who may sign in**: a login on ``OPENINSPECT_GITHUB_ALLOWED_LOGINS``, or an
active member of one of ``OPENINSPECT_GITHUB_ORGS`` (asked with the person's own
token; the App needs the organisation's ``members: read`` permission).

**Who they are**: their GitHub name (else login); their primary verified email
from ``/user/emails`` (else the public one, which GitHub only allows when
verified; else ``<id>+<login>@users.noreply.github.com``).

**Finding them again**: by GitHub's numeric id, never by email alone. A *new*
GitHub identity whose email an existing person already has is linked to that
person only when the email is verified on GitHub and that person has no GitHub
account yet (someone who proved the address owns it); otherwise the sign-in is
refused (:class:`EmailTaken`, code ``github_email_taken``) rather than handing
them someone else's history. A returning person's name follows GitHub's; their
email too, unless another person holds the new one.

``GitHubAccount.updated_at`` is *when access was last verified* (sign-in or
re-check): a token refresh does not move it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from githubkit.exception import RequestFailed
from openinspect_protocol.logs import EventLog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.crypto import Cipher, DecryptionError
from openinspect_core.github import oauth
from openinspect_core.github.client import GitHubApp, GitHubError, explain
from openinspect_core.github.running import Running
from openinspect_core.models import GitHubAccount, SignIn, User, utcnow
from openinspect_core.services import identity, users
from openinspect_core.services.errors import Conflict
from openinspect_core.settings import Settings

log = EventLog(__name__)

PROVIDER = "github"
# Why: a token handed to a caller must outlive the GitHub call it is for; refreshing 5 min early
# also covers clock skew between us and GitHub.
REFRESH_MARGIN = timedelta(minutes=5)
# Why: removal from the organisation should end access within minutes, and one GitHub call per
# person per 10 minutes stays far below GitHub's rate limits.
RECHECK_INTERVAL = timedelta(minutes=10)
# Why: while GitHub cannot be reached, asking again on every request would make each one wait for
# the timeout; the last verification stands for this long before the next try.
RECHECK_RETRY_SECONDS = 60.0


class EmailTaken(Conflict):
    """Another person here already has this GitHub identity's email, and it may not be linked."""

    code = "github_email_taken"


@dataclass(frozen=True)
class GitHubProfile:
    id: int
    login: str
    name: str
    email: str
    email_verified: bool  # GitHub says the person proved the address (False: the noreply stand-in)


def noreply_email(github_id: int, login: str) -> str:
    return f"{github_id}+{login}@users.noreply.github.com"


def associated_data(account_id: str, column: str) -> str:
    """What a stored token is bound to: a ciphertext copied into another row or column does not decrypt."""
    return f"github_account:{account_id}:{column}"


# -- asking GitHub -------------------------------------------------------------------------------------


async def fetch_profile(github: GitHubApp, access_token: str) -> GitHubProfile:
    """The person the token belongs to, with the name and email their work will carry."""
    async with github.user_client(access_token) as gh:
        try:
            me = (await gh.rest.users.async_get_authenticated()).parsed_data
        except Exception as exc:
            raise explain(exc, "reading who signed in") from None
        email, verified = None, False
        try:
            addresses = (await gh.rest.users.async_list_emails_for_authenticated_user(per_page=100)).parsed_data
            primary = next((a for a in addresses if a.primary and a.verified), None)
            if primary is not None:
                email, verified = primary.email, True
        except RequestFailed as exc:
            # Why: without the App's "email_addresses" permission GitHub answers 403/404; the public
            # email (or the noreply address) still identifies the person.
            log.warning("github.emails_unavailable", status=exc.response.status_code)
        except Exception as exc:
            raise explain(exc, "reading the signed-in person's email addresses") from None
    if email is None and isinstance(me.email, str) and me.email:
        email, verified = me.email, True  # GitHub lets only a verified address be public
    if email is None:
        email = noreply_email(me.id, me.login)
    name = me.name if isinstance(me.name, str) and me.name.strip() else me.login
    return GitHubProfile(id=me.id, login=me.login, name=name.strip()[: users.MAX_NAME_CHARS],
                         email=email.lower(), email_verified=verified)


async def is_allowed(github: GitHubApp, settings: Settings, access_token: str, login: str) -> bool:
    """Whether the person may use this system (allow-list, else organisation membership); raises
    :class:`GitHubError` when GitHub cannot say (unreachable, 5xx), so a caller can tell "no" from "unknown"."""
    if login.lower() in {allowed.lower() for allowed in settings.github_allowed_logins}:
        return True
    async with github.user_client(access_token) as gh:
        for org in settings.github_orgs:
            try:
                membership = (await gh.rest.orgs.async_get_membership_for_authenticated_user(org)).parsed_data
            except RequestFailed as exc:
                status = exc.response.status_code
                if status == 404:
                    continue  # not a member
                if status == 403:
                    # Why: the App is not installed on the organisation, or lacks members: read; that
                    # is a configuration mistake an operator must see, and it means "not allowed".
                    log.warning("github.membership_not_visible", org=org, status=status)
                    continue
                if status == 401:
                    return False  # the token is dead
                raise explain(exc, f"checking membership of {org}") from None
            except Exception as exc:
                raise explain(exc, f"checking membership of {org}") from None
            if membership.state == "active":
                return True
    return False


# -- storing -------------------------------------------------------------------------------------------


def _store_tokens(cipher: Cipher, account: GitHubAccount, tokens: oauth.UserTokens) -> None:
    account.access_token = cipher.encrypt(tokens.access_token, associated_data(account.id, "access_token"))
    account.access_token_expires_at = tokens.access_expires_at
    account.refresh_token = (None if tokens.refresh_token is None else
                             cipher.encrypt(tokens.refresh_token, associated_data(account.id, "refresh_token")))
    account.refresh_token_expires_at = tokens.refresh_expires_at


def _clear_tokens(account: GitHubAccount) -> None:
    account.access_token = account.refresh_token = None
    account.access_token_expires_at = account.refresh_token_expires_at = None


async def account_of(db: AsyncSession, user_id: str) -> GitHubAccount | None:
    return (await db.exec(select(GitHubAccount).where(GitHubAccount.user_id == user_id))).first()


async def _person_for(db: AsyncSession, profile: GitHubProfile) -> tuple[User, GitHubAccount | None]:
    """The person this GitHub identity is here (found by id; or linked, or made), and their account row."""
    account = (await db.exec(select(GitHubAccount).where(GitHubAccount.github_id == profile.id))).first()
    if account is not None:
        user = await db.get(User, account.user_id)
        assert user is not None
        user.name = profile.name
        if user.email != profile.email and await users.by_email(db, profile.email) is None:
            user.email = profile.email
        db.add(user)
        return user, account
    name, email = users.normalise(profile.name, profile.email)
    existing = await users.by_email(db, email)
    if existing is None:
        user = User(name=name, email=email)
        db.add(user)
        await db.flush()
        return user, None
    if not profile.email_verified or await account_of(db, existing.id) is not None:
        raise EmailTaken(f"someone here already signs in with {email}; the GitHub account {profile.login} "
                         "cannot take it over (ask an administrator)")
    return existing, None


async def sign_in_github(db: AsyncSession, cipher: Cipher, profile: GitHubProfile, tokens: oauth.UserTokens,
                         *, ttl_seconds: int) -> tuple[User, str]:
    """Record an allowed GitHub sign-in: the person (found, linked or made), their tokens (encrypted),
    and a new sign-in (provider ``github``) whose plaintext token goes into the cookie."""
    user, account = await _person_for(db, profile)
    now = utcnow()
    if account is None:
        account = GitHubAccount(user_id=user.id, github_id=profile.id, login=profile.login, created_at=now)
    account.login = profile.login
    account.updated_at = now  # access verified just now
    _store_tokens(cipher, account, tokens)
    db.add(account)
    token = identity.new_secret()
    db.add(SignIn(user_id=user.id, token_hash=identity.token_hash(token), provider=PROVIDER, created_at=now,
                  expires_at=now + timedelta(seconds=ttl_seconds), last_seen_at=now))
    await db.flush()
    return user, token


# -- the user token ------------------------------------------------------------------------------------

# Why: GitHub spends a refresh token when it is used; two refreshes at once in this process would
# have the second one fail and clear a good token. Other processes are held off by the row lock.
_refresh_locks: dict[str, asyncio.Lock] = {}
_recheck_paused_until: dict[str, float] = {}  # user id -> time.monotonic() before which GitHub is not asked


def _fresh(expires_at: datetime | None) -> bool:
    return expires_at is None or expires_at - utcnow() > REFRESH_MARGIN


def _decrypt(cipher: Cipher, account: GitHubAccount, column: str) -> str | None:
    stored = getattr(account, column)
    if stored is None:
        return None
    try:
        return cipher.decrypt(stored, associated_data(account.id, column))
    except DecryptionError as exc:
        log.error("github.token_undecryptable", account_id=account.id, column=column, error=str(exc))
        return None


async def user_token(ctx: Running, user_id: str) -> str | None:
    """The person's GitHub user token, refreshed (and stored again, encrypted) when it expires within
    :data:`REFRESH_MARGIN`; None when they have none, or it cannot be refreshed. A refresh GitHub refuses
    clears the stored tokens (they are dead); one that cannot reach GitHub leaves them for next time."""
    async with ctx.db.session() as db:
        account = await account_of(db, user_id)
    if account is None or account.access_token is None:
        return None
    if _fresh(account.access_token_expires_at):
        return _decrypt(ctx.cipher, account, "access_token")
    config = oauth.OAuthConfig.from_settings(ctx.settings)
    lock = _refresh_locks.setdefault(user_id, asyncio.Lock())
    async with lock, ctx.db.writer() as db:
        account = (await db.exec(select(GitHubAccount).where(GitHubAccount.user_id == user_id)
                                 .with_for_update())).first()
        if account is None or account.access_token is None:
            return None
        if _fresh(account.access_token_expires_at):  # refreshed meanwhile (another task or process)
            return _decrypt(ctx.cipher, account, "access_token")
        refresh_token = _decrypt(ctx.cipher, account, "refresh_token")
        if config is None or refresh_token is None or not _fresh_refresh(account):
            reason = "no_refresh_token" if refresh_token is None else "refresh_unavailable"
            await _dead(db, account, reason)
            return None
        try:
            tokens = await oauth.refresh(config, refresh_token)
        except oauth.OAuthFailed as exc:
            if exc.code == "unreachable":
                log.warning("github.refresh_unreachable", user_id=user_id)
                return None
            await _dead(db, account, exc.code)
            return None
        _store_tokens(ctx.cipher, account, tokens)
        db.add(account)
        await db.commit()
        log.info("github.token_refreshed", user_id=user_id)
        return tokens.access_token


def _fresh_refresh(account: GitHubAccount) -> bool:
    expires = account.refresh_token_expires_at
    return expires is None or expires > utcnow()


async def _dead(db: AsyncSession, account: GitHubAccount, reason: str) -> None:
    _clear_tokens(account)
    db.add(account)
    await db.commit()
    log.info("github.token_dead", user_id=account.user_id, reason=reason)


# -- checking again --------------------------------------------------------------------------------------


async def still_allowed(ctx: Running, user_id: str) -> bool:
    """Whether a person may go on: True for people without a GitHub account (not GitHub's to judge) and
    for those verified within :data:`RECHECK_INTERVAL`; else their membership is asked again with their
    token. A person no longer allowed, or whose token is dead, loses their tokens and every sign-in
    (False). When GitHub cannot be reached the last verification stands (True, checked again later)."""
    if ctx.github is None:
        return True
    async with ctx.db.session() as db:
        account = await account_of(db, user_id)
    if account is None:
        return True
    if account.access_token is None:
        return False  # dead since the last check: every credential of theirs fails until they sign in again
    if utcnow() - account.updated_at < RECHECK_INTERVAL or time.monotonic() < _recheck_paused_until.get(user_id, 0):
        return True
    token = await user_token(ctx, user_id)
    if token is None:
        async with ctx.db.session() as db:
            again = await account_of(db, user_id)
        if again is not None and again.access_token is not None:
            _recheck_paused_until[user_id] = time.monotonic() + RECHECK_RETRY_SECONDS
            return True  # GitHub unreachable: the tokens are still there
        await _sign_out_everywhere(ctx, user_id, "token_dead")
        return False
    try:
        allowed = await is_allowed(ctx.github, ctx.settings, token, account.login)
    except GitHubError as exc:
        log.warning("github.recheck_unavailable", user_id=user_id, error=str(exc))
        _recheck_paused_until[user_id] = time.monotonic() + RECHECK_RETRY_SECONDS
        return True
    _recheck_paused_until.pop(user_id, None)
    async with ctx.db.writer() as db:
        row = await account_of(db, user_id)
        if row is not None:
            if allowed:
                row.updated_at = utcnow()
            else:
                _clear_tokens(row)
            db.add(row)
        await db.commit()
    if not allowed:
        await _sign_out_everywhere(ctx, user_id, "not_allowed")
    return allowed


async def _sign_out_everywhere(ctx: Running, user_id: str, reason: str) -> None:
    async with ctx.db.writer() as db:
        await db.exec(sa.update(SignIn).where(col(SignIn.user_id) == user_id, col(SignIn.revoked_at).is_(None))
                      .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
        await db.commit()
    log.info("github.signed_out", user_id=user_id, reason=reason)
