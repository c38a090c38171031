"""The ids of the bot's interactive elements: what it posts (blocks) and what it answers (ingress) agree here."""

from __future__ import annotations

CHOOSE_REPO = "openinspect.choose_repo"  # a candidate's button; value: "<pending id>:<repo id>"
SELECT_REPO = "openinspect.select_repo"  # the searchable select of every repository; block_id: pending id
CREATE_PULL_REQUEST = "openinspect.create_pull_request"  # value: the session id
VIEW_SESSION = "openinspect.view_session"  # a link button; Slack still sends the click, which is acknowledged
VIEW_PULL_REQUEST = "openinspect.view_pull_request"  # a link button to the PR (beside VIEW_SESSION); acknowledged too
LINK_ACCOUNT = "openinspect.link_account"  # a link button to the settings page's link flow
