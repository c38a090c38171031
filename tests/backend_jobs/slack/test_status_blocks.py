"""The thread's messages as Block Kit: what they show, and that nothing an agent or a person wrote is obeyed."""

from __future__ import annotations

import json
from typing import Any

from backend_jobs.slack import actions
from backend_jobs.slack.mrkdwn import code, cut, escape, link
from backend_jobs.slack.status_blocks import (
    SUMMARY_CHARS,
    ThreadHeader,
    completion_message,
    reply_message,
    status_message,
)
from backend_jobs.slack.thread_state import (
    Commit,
    Completion,
    Notice,
    Phase,
    PromptMirror,
    PullRequestNews,
    PullRequestRef,
    Status,
)

HEADER = ThreadHeader(session_id="s1", session_url="http://127.0.0.1:3000/sessions/s1", repository="acme/api",
                      repository_url="https://github.com/acme/api", slack_user_id="U123ADA")
HOSTILE = "<!channel> & <https://evil.example|your bank> <@U999> `x`"


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn/plain text in the blocks (what Slack renders)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(blocks)
    return found


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_escaping_makes_control_sequences_plain_text() -> None:
    assert escape("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert escape(HOSTILE).count("<") == 0
    assert link("javascript:alert(1)", "click") == "click"  # never a link to something that is no web page
    assert link("https://x.example/a|b>c", "a|b") == "<https://x.example/a%7Cb&gt;c|a¦b>"
    assert code("rm -rf `pwd`\nls") == "`rm -rf 'pwd' ls`"
    assert cut("one two three", 9) == ("one two", True) and cut("short", 9) == ("short", False)


def test_the_status_message_shows_the_step_the_repository_who_asked_and_a_link() -> None:
    message = status_message(Status(Phase.WORKING, "bash", "pytest -k login"), HEADER)
    shown = texts(message.blocks)
    assert shown[0] == ":hammer_and_wrench: *Working*: running `bash`"
    assert "`pytest -k login`" in shown
    assert "<https://github.com/acme/api|acme/api> · asked by <@U123ADA>" in shown
    [view] = buttons(message.blocks)
    assert view["action_id"] == actions.VIEW_SESSION and view["url"] == HEADER.session_url
    assert message.text == shown[0]  # the notification's text says the same


def test_the_status_message_escapes_what_the_agent_named() -> None:
    message = status_message(Status(Phase.WORKING, HOSTILE, HOSTILE), HEADER)
    failed = status_message(Status(Phase.FAILED, HOSTILE), HEADER)
    for text in texts(message.blocks) + texts(failed.blocks) + [failed.text]:
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U999>" not in text


def test_a_header_with_a_strange_user_id_mentions_nobody() -> None:
    header = ThreadHeader("s1", HEADER.session_url, "/tmp/repo", None, "<!channel>")
    shown = texts(status_message(Status(Phase.DONE), header).blocks)
    assert "`/tmp/repo`" in shown and not any("<!channel>" in t or "asked by" in t for t in shown)


def test_the_completion_reply_has_the_summary_files_commits_and_the_pull_request_button() -> None:
    done = Completion(9, "m1", "completed", summary=f"Fixed it. {HOSTILE}", files=["src/a.py", "src/b.py"],
                      commits=[Commit("a" * 40, "Fix <the> wait")], can_open_pull_request=True)
    message = completion_message(done, HEADER)
    shown = texts(message.blocks)
    assert shown[0] == "Fixed it. " + escape(HOSTILE)
    assert "*Files changed (2)*: `src/a.py`, `src/b.py`" in shown
    assert "Commit: `aaaaaaa` Fix &lt;the&gt; wait" in shown
    create, view = buttons(message.blocks)
    assert (create["action_id"], create["value"], create["style"]) == (actions.CREATE_PULL_REQUEST, "s1", "primary")
    assert view["url"] == HEADER.session_url
    assert "<!channel>" not in message.text


def test_an_open_pull_request_is_a_link_not_a_second_one() -> None:
    pr = PullRequestRef(7, "https://github.com/acme/api/pull/7", "Fix", "open")
    message = completion_message(Completion(9, "m1", "completed", summary="ok", pull_request=pr), HEADER)
    pr_button, view = buttons(message.blocks)
    assert pr_button["url"] == pr.url and pr_button["action_id"] == actions.VIEW_PULL_REQUEST
    assert pr_button["text"]["text"] == "View pull request #7" and view["action_id"] == actions.VIEW_SESSION


def test_a_long_summary_is_cut_with_a_link_to_the_rest() -> None:
    summary = "All good. " * 1000
    message = completion_message(Completion(9, "m1", "completed", summary=summary), HEADER)
    first = texts(message.blocks)[0]
    assert first.endswith(f" … <{HEADER.session_url}|see the rest>")
    assert len(first) < SUMMARY_CHARS + 100
    assert len(json.dumps(message.blocks)) < 6_000  # a reply, not the transcript


def test_failed_and_stopped_prompts_say_so() -> None:
    failed = completion_message(Completion(9, "m1", "failed", error="the agent <crashed>"), HEADER)
    assert texts(failed.blocks)[0] == ":x: *The prompt failed*: the agent &lt;crashed&gt;"
    stopped = completion_message(Completion(9, "m1", "stopped"), HEADER)
    assert texts(stopped.blocks)[0] == ":octagonal_sign: *Stopped*"
    silent = completion_message(Completion(9, "m1", "completed"), HEADER)
    assert texts(silent.blocks)[0] == "_The agent finished without a summary._"


def test_a_prompt_from_the_web_is_quoted_attributed_and_escaped() -> None:
    message = reply_message(PromptMirror(3, "Ana <Lima>", "web", f"Update the docs\n{HOSTILE}"), HEADER)
    [shown] = texts(message.blocks)
    assert shown == f":speech_balloon: *Ana &lt;Lima&gt;* on the web:\n> Update the docs\n> {escape(HOSTILE)}"
    api = reply_message(PromptMirror(3, "Bot", "api", "x"), HEADER)
    assert "through the API" in texts(api.blocks)[0]


def test_pull_request_news_and_notices() -> None:
    pr = PullRequestRef(7, "https://github.com/acme/api/pull/7", "Fix <b>", "open")
    [opened] = texts(reply_message(PullRequestNews(4, "opened", pr, "Ada Lima"), HEADER).blocks)
    assert opened == ":twisted_rightwards_arrows: Pull request <https://github.com/acme/api/pull/7|#7 Fix &lt;b&gt;> " \
                     "opened for Ada Lima"
    [merged] = texts(reply_message(PullRequestNews(5, "merged", pr, "Ada Lima"), HEADER).blocks)
    assert merged.startswith(":tada: Pull request") and merged.endswith("merged")
    failed = reply_message(Notice(6, "session_failed", "out of <memory>"), HEADER)
    assert texts(failed.blocks)[0] == ":x: *The session failed*: out of &lt;memory&gt;"
    refused = reply_message(Notice(6, "pull_request_failed", "no", "https://github.com/acme/api/compare/a...b"), HEADER)
    assert texts(refused.blocks)[0].endswith("<https://github.com/acme/api/compare/a...b|Open it on GitHub>")
    assert texts(reply_message(Notice(8, "archived"), HEADER).blocks) == [":file_cabinet: This session was archived."]
