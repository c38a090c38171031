"""What the fake's own tests share: Block Kit as the app posts it, and a small slack-bolt app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from .fake import FakeSlack

# Blocks as the app posts them: a status with a button, and a choice with buttons and a static_select.
STATUS_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*acme/api* — working: running `bash`"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "asked by <@U1>"}]},
    {"type": "actions", "elements": [
        {"type": "button", "action_id": "view_session", "text": {"type": "plain_text", "text": "View session"},
         "url": "http://127.0.0.1:3000/sessions/s1", "value": "s1"},
        {"type": "button", "action_id": "create_pull_request", "style": "primary",
         "text": {"type": "plain_text", "text": "Create pull request", "emoji": True}, "value": "s1"},
    ]},
]
CHOICE_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Which repository?"},
     "accessory": {"type": "static_select", "action_id": "select_repo",
                   "placeholder": {"type": "plain_text", "text": "All repositories"},
                   "options": [{"text": {"type": "plain_text", "text": "acme/api"}, "value": "r1"},
                               {"text": {"type": "plain_text", "text": "acme/web"}, "value": "r2"}]}},
    {"type": "actions", "elements": [
        {"type": "button", "action_id": "choose_repo", "text": {"type": "plain_text", "text": "acme/api"},
         "value": "p1:r1"}]},
    {"type": "divider"},
]


@dataclass
class Bolt:
    app: AsyncApp
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def dispatch(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body.decode("utf-8"), headers=headers))
        return response.status, response.headers, response.body


def build_bolt(fake: FakeSlack) -> Bolt:
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
                   signing_secret=fake.signing_secret)
    bolt = Bolt(app)

    @app.event("app_mention")
    async def mention(event: dict[str, Any], context: Any, request: AsyncBoltRequest, client: AsyncWebClient,
                      say: Any) -> None:
        bolt.seen.append({"kind": "app_mention", "event": event, "event_id": request.body.get("event_id"),
                          "retry_num": request.headers.get("x-slack-retry-num", [None])[0],
                          "retry_reason": request.headers.get("x-slack-retry-reason", [None])[0],
                          "user_id": context.user_id,
                          "team_id": context.team_id, "bot_user_id": context.bot_user_id})
        await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")
        await say(text="On it", thread_ts=event.get("thread_ts") or event["ts"])

    @app.event("message")
    async def message(event: dict[str, Any]) -> None:
        bolt.seen.append({"kind": "message", "event": event})

    @app.action("choose_repo")
    async def choose(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        bolt.seen.append({"kind": "choose_repo", "value": action["value"], "user_id": context.user_id,
                          "channel_id": context.channel_id, "body": body})
        await respond(text="Starting in acme/api", replace_original=True)

    @app.action("select_repo")
    async def select(ack: Any, action: dict[str, Any]) -> None:
        await ack()
        bolt.seen.append({"kind": "select_repo", "value": action["selected_option"]["value"]})

    return bolt
