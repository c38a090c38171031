"""Slack over HTTP: Slack's own deliveries, and the REST routes behind the settings page's Slack section.

- ``POST /slack/events`` (:data:`EVENTS_PATH`, outside ``/api``: the Request URL pasted into the
  Slack app, the same path ``python -m backend_jobs.slack`` serves) — Events API deliveries and
  interactions, handed to the bot the control plane runs in this process. Its credential is
  Slack's signature over the body (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``), which the
  bot (slack-bolt) checks before anything else: unsigned, wrongly signed or stale → 401 and nothing
  done. It is one of the API's :data:`~openinspect_app.api.app.SIGNED_PATHS`, so no sign-in is
  asked for and none counts: a sign-in cookie or API token does not stand in for the signature.
  Only Slack's own headers reach the bot (never a cookie or an ``Authorization``).
- ``/api/slack/…`` (signed-in people and API tokens, like the rest of the API): which repository a
  channel works on, aliases and keywords per repository, the Slack users linked to people here,
  and ``POST /api/slack/link``, which completes the link a Slack user started with the code the
  bot gave them — as the caller. The rules are :mod:`openinspect_core.slack.hints`' and
  :mod:`openinspect_core.slack.people`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from openinspect_protocol.logs import EventLog
from pydantic import BaseModel, Field

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, ApiRefusal, error_responses
from openinspect_app.api.schemas import ID_PATTERN, _In
from openinspect_app.slack_bot import SlackAnswer, resume_later
from openinspect_core.models import Repo, RepoHint, SlackChannelRepo, SlackUserLink, User
from openinspect_core.slack import hints, people

log = EventLog(__name__)
events_router = APIRouter()
router = APIRouter(responses=error_responses(*COMMON_ERRORS))

EVENTS_PATH = "/slack/events"
# What the bot reads of a delivery (slack-bolt: the body's type, the signature, retries); nothing else of
# the request — its cookies, an Authorization — reaches the bot or anything it logs.
FORWARDED_HEADERS = ("content-type", "x-slack-signature", "x-slack-request-timestamp", "x-slack-retry-num",
                     "x-slack-retry-reason")
# Checked again by the services (a wrong one is told what is wrong); here only what a path may hold.
ChannelId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,32}$",
                                description="A Slack channel id, e.g. `C0123ABCD` (the channel's details, in Slack).")]
SlackUserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,32}$", description="A Slack user id, e.g. `U0123ABCD`.")]


# -- Slack's deliveries ------------------------------------------------------------------------------------


@events_router.post(EVENTS_PATH, include_in_schema=False)  # Slack's wire, not an API for people
async def slack_events(request: Request, system: System) -> Response:
    """An Events API delivery or an interaction (button, select) from Slack."""
    bot = system.slack
    if bot is None:
        raise ApiRefusal(404, "not_found", "no Slack bot runs in this process: set OPENINSPECT_SLACK_BOT_TOKEN, or "
                                           "point the Slack app's Request URL at python -m backend_jobs.slack")
    if not system.context.settings.slack_signing_secret:
        raise ApiRefusal(404, "not_found", "this Slack bot takes deliveries over Socket Mode only "
                                           "(set OPENINSPECT_SLACK_SIGNING_SECRET to take them over HTTP)")
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    return _response(await bot.handle_http(await request.body(), headers))


def _response(answer: SlackAnswer) -> Response:
    response = Response(content=answer.body, status_code=answer.status)
    for name, value in answer.headers.items():
        if name.lower() in ("content-length", "transfer-encoding"):
            continue  # the server sets them for the body it sends
        values: Sequence[str] = [value] if isinstance(value, str) else value
        del response.headers[name]
        for one in values:
            response.headers.append(name, one)
    return response


# -- the settings: channels, hints, people -----------------------------------------------------------------


class RepoRef(BaseModel):
    id: str
    name: str  # owner/name, or the repository's name


class ChannelRepoIn(_In):
    repo_id: str = Field(pattern=ID_PATTERN, description="The repository's id (a session's `repo.id`).")
    channel_name: str | None = Field(default=None, max_length=hints.MAX_CHANNEL_NAME_CHARS,
                                     description="The channel's name, to tell it apart on the settings page.")


class ChannelRepoOut(BaseModel):
    channel_id: str
    channel_name: str | None
    repo: RepoRef
    updated_by: str  # the person's id
    updated_at: datetime

    @classmethod
    def of(cls, row: SlackChannelRepo, repo: Repo) -> ChannelRepoOut:
        return cls(channel_id=row.channel_id, channel_name=row.channel_name, repo=_ref(repo),
                   updated_by=row.updated_by, updated_at=row.updated_at)


class HintIn(_In):
    repo_id: str = Field(pattern=ID_PATTERN, description="The repository's id (a session's `repo.id`).")
    kind: Literal["alias", "keyword"] = Field(description="An alias names the repository outright (one repository "
                                                          "each); a keyword points towards it.")
    # The word's own rules are the service's, so a wrong one is told what is wrong with it.
    value: str = Field(min_length=1, max_length=200, description="One lower-case word: `[a-z0-9][a-z0-9._-]*`.")


class HintOut(BaseModel):
    id: str
    repo_id: str
    kind: str
    value: str
    created_at: datetime

    @classmethod
    def of(cls, hint: RepoHint) -> HintOut:
        return cls(id=hint.id, repo_id=hint.repo_id, kind=hint.kind, value=hint.value, created_at=hint.created_at)


class PersonRef(BaseModel):
    id: str
    name: str
    email: str


class SlackLinkOut(BaseModel):
    slack_user_id: str
    team_id: str
    slack_name: str | None
    method: str  # email (Slack confirmed it) | link (the person confirmed a link code)
    person: PersonRef
    linked_at: datetime

    @classmethod
    def of(cls, link: SlackUserLink, user: User) -> SlackLinkOut:
        return cls(slack_user_id=link.slack_user_id, team_id=link.team_id, slack_name=link.slack_name,
                   method=link.method, person=PersonRef(id=user.id, name=user.name, email=user.email),
                   linked_at=link.linked_at)


class LinkCodeIn(_In):
    code: str = Field(min_length=1, max_length=200, description="The code of the link the bot gave the Slack user.")


def _ref(repo: Repo) -> RepoRef:
    return RepoRef(id=repo.id, name=repo.full_name or repo.name)


@router.get("/slack/channels")
async def list_channel_repos(system: System, _: Me) -> list[ChannelRepoOut]:
    """Channels with a repository: a mention there that names none works on it."""
    async with system.context.db.session() as db:
        return [ChannelRepoOut.of(c.association, c.repo) for c in await hints.list_channel_repos(db)]


@router.put("/slack/channels/{channel_id}", responses=error_responses(404))
async def set_channel_repo(channel_id: ChannelId, body: ChannelRepoIn, system: System, me: Me) -> ChannelRepoOut:
    """Give the channel its repository (replacing the one it had)."""
    async with system.context.work() as work:
        row = await hints.set_channel_repo(work.db, channel_id=channel_id, repo_id=body.repo_id, by=me.user,
                                           channel_name=body.channel_name)
        repo = await work.db.get(Repo, row.repo_id)
        assert repo is not None  # the service checked it
        return ChannelRepoOut.of(row, repo)


@router.delete("/slack/channels/{channel_id}", status_code=204, response_class=Response,
               responses=error_responses(404))
async def clear_channel_repo(channel_id: ChannelId, system: System, me: Me) -> Response:
    async with system.context.work() as work:
        if not await hints.clear_channel_repo(work.db, channel_id):
            raise ApiRefusal(404, "not_found", f"the channel {channel_id} has no repository")
    log.info("slack.channel_repo_cleared", channel_id=channel_id, by=me.user.id)
    return Response(status_code=204)


@router.get("/slack/hints")
async def list_hints(system: System, _: Me,
                     repo_id: str | None = Query(None, pattern=ID_PATTERN)) -> list[HintOut]:
    """Aliases and keywords (of one repository, with ``repo_id``), by repository, kind and value."""
    async with system.context.db.session() as db:
        return [HintOut.of(h) for h in await hints.list_hints(db, repo_id)]


@router.post("/slack/hints", responses=error_responses(404, 409))
async def add_hint(body: HintIn, system: System, me: Me) -> HintOut:
    """Add an alias or a keyword to a repository (one it has already is answered as it is)."""
    async with system.context.work() as work:
        return HintOut.of(await hints.add_hint(work.db, repo_id=body.repo_id, kind=body.kind, value=body.value,
                                               by=me.user))


@router.delete("/slack/hints/{hint_id}", status_code=204, response_class=Response, responses=error_responses(404))
async def remove_hint(hint_id: Annotated[str, Path(pattern=ID_PATTERN)], system: System, me: Me) -> Response:
    async with system.context.work() as work:
        if not await hints.remove_hint(work.db, hint_id):
            raise ApiRefusal(404, "not_found", "no such alias or keyword")
    log.info("slack.hint_removed", hint_id=hint_id, by=me.user.id)
    return Response(status_code=204)


@router.get("/slack/links")
async def list_links(system: System, _: Me) -> list[SlackLinkOut]:
    """The Slack users linked to people here (their Slack prompts, commits and PRs are those people's)."""
    async with system.context.db.session() as db:
        return [SlackLinkOut.of(p.link, p.user) for p in await people.list_links(db)]


@router.delete("/slack/links/{slack_user_id}", status_code=204, response_class=Response,
               responses=error_responses(404))
async def unlink(slack_user_id: SlackUserId, system: System, me: Me) -> Response:
    """Forget a Slack user's link: their next request asks them to link again (or links by email)."""
    async with system.context.work() as work:
        if not await people.unlink(work.db, slack_user_id, me.user):
            raise ApiRefusal(404, "not_found", f"the Slack user {slack_user_id} is not linked")
    return Response(status_code=204)


@router.post("/slack/link", responses=error_responses(404, 409))
async def complete_link(body: LinkCodeIn, system: System, me: Me) -> SlackLinkOut:
    """Become the Slack user who was given this link code; the request they made then goes on."""
    async with system.context.work() as work:
        pending = await people.complete_link(work.db, body.code, me.user)
        link = await work.db.get(SlackUserLink, pending.slack_user_id)
        assert link is not None
        answer = SlackLinkOut.of(link, me.user)
    log.info("slack.link_completed", slack_user_id=pending.slack_user_id, user_id=me.user.id, via="api")
    resume_later(system.slack, pending.id)
    return answer
