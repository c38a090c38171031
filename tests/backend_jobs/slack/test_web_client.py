"""The bot's Web API client against the fake Slack: a short 429 is waited out, a long one and an outage
come back to the caller at once (who decides), and nothing goes anywhere but the configured URL."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from backend_jobs.slack.web_client import SLACK_FAILURES, make_client
from openinspect_core.settings import Settings
from tests.fakes.slack import FakeSlack


def client_for(fake: FakeSlack):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"OPENINSPECT_SLACK_BOT_TOKEN": fake.bot_token,
                                  "OPENINSPECT_SLACK_SIGNING_SECRET": fake.signing_secret,
                                  "OPENINSPECT_SLACK_API_URL": fake.api_url.rstrip("/")})
    client = make_client(settings)
    assert client.base_url == fake.api_url  # the setting always ends with "/" (slack_sdk appends the method)
    return client


async def test_a_short_retry_after_is_waited_out(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    posted = await client.chat_postMessage(channel=fake_slack.world.general.id, text="hi")
    assert posted["ok"]
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


async def test_a_long_retry_after_and_an_outage_are_the_callers(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    fake_slack.rate_limit("chat.update", retry_after=3600)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_update(channel=fake_slack.world.general.id, ts="1.2", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "3600"
    assert len(fake_slack.calls("chat.update")) == 1

    fake_slack.down("refuse")
    with pytest.raises(SLACK_FAILURES):
        await client.auth_test()
    fake_slack.up()
    assert (await client.auth_test())["user_id"] == fake_slack.bot_user_id
