"""Pushes and pull requests on the timeline: one card per PR whatever happens to it, pushes and failures
as lines a person reads."""

from __future__ import annotations

from typing import Any

import openinspect_protocol as p
from openinspect_protocol.timeline import PromptAuthor, PullRequestChanged, PullRequestFailed, TimelineEvent

from openinspect_app.live.github_entries import PR_LIVE_STATES
from openinspect_app.live.projector import Window
from openinspect_app.live.timeline_view import TimelineView

ADA = PromptAuthor(id="u1", name="Ada Lovelace", email="ada@example.com")
BRANCH = "openinspect/0123abcd-more-widgets"


def pr(number: int = 7, **changes: Any) -> PullRequestChanged:
    values: dict[str, Any] = {
        "number": number, "url": f"https://github.example/acme/widgets/pull/{number}", "title": "More widgets",
        "state": "open", "head": BRANCH, "base": "main", "author_login": "ada", "opened_as": "user",
        "requested_by": ADA, **changes}
    return PullRequestChanged(**values)


def fold(events: list[TimelineEvent]) -> TimelineView:
    view = TimelineView()
    for seq, event in enumerate(events, start=1):
        view.apply(seq, event)
    return view


def test_a_pr_opened_then_merged_is_one_card_in_the_merged_state() -> None:
    view = TimelineView()
    assert view.apply(1, pr()) == {0}
    view.apply(2, p.TokenDelta(message_id="m1", part_id="t", text="done"))
    # The webhook: same number, merged. The card where it was changes; nothing is added.
    assert view.apply(3, pr(state="merged", action="closed", title="More widgets, merged")) == {0}
    cards = [e for e in view.entries if e.kind == "pull_request"]
    assert len(cards) == 1 and len(view.entries) == 2
    card = cards[0]
    assert (card.key, card.status, card.title, card.meta) == ("pr:7", "merged", "More widgets, merged", "#7")
    assert card.url == "https://github.example/acme/widgets/pull/7"
    assert (card.author, card.detail, card.text) == ("ada", "opened as Ada Lovelace", f"{BRANCH} → main")
    # The header's copy follows the card.
    [header] = view.pull_request()
    assert header == card and header is not card


def test_the_header_shows_the_newest_pr_and_changes_to_an_older_one_stay_on_its_card() -> None:
    view = fold([pr(7), pr(8, title="Second"), pr(7, state="closed")])
    assert [(e.key, e.status) for e in view.entries] == [("pr:7", "closed"), ("pr:8", "open")]
    assert [e.title for e in view.pull_request()] == ["Second"]


def test_draft_and_who_opened_it() -> None:
    by_app = fold([pr(opened_as="app", author_login="openinspect[bot]", draft=True)]).entries[0]
    assert (by_app.status, by_app.author, by_app.detail) == ("draft", "openinspect[bot]",
                                                             "opened by the App for Ada Lovelace")
    assert by_app.status in PR_LIVE_STATES
    nobody = fold([pr(opened_as="app", requested_by=None)]).entries[0]
    assert nobody.detail == "opened by the App"
    own = fold([pr(requested_by=None)]).entries[0]
    assert own.detail == "opened as ada"
    # A merged draft is merged (the draft flag matters only while it is open).
    assert fold([pr(draft=True), pr(state="merged", draft=True)]).entries[0].status == "merged"


def test_a_link_is_only_ever_a_web_address() -> None:
    assert fold([pr(url="javascript:alert(1)")]).entries[0].url == ""
    failed = fold([PullRequestFailed(reason="x", code="c", compare_url="JavaScript:alert(1)")]).entries[0]
    assert failed.url == ""


def test_pushes_and_failures() -> None:
    view = fold([
        p.PushComplete(branch=BRANCH, head_sha="abcdef0123456789", base_branch="main", commits_ahead=2),
        p.PushComplete(branch=BRANCH, head_sha="fedcba9876543210", commits_ahead=1),
        p.PushError(branch=BRANCH, code="push_rejected", message="the remote has commits you do not"),
        p.PullRequestRequested(request_id="r1", title="More widgets"),
        PullRequestFailed(reason="GitHub refused creating the pull request (422: no commits)", code="github_refused",
                          compare_url="https://github.example/acme/widgets/compare/main...x", requested_by=ADA),
    ])
    assert [(e.kind, e.text, e.meta, e.url) for e in view.entries] == [
        ("push", f"Pushed {BRANCH} (2 commits)", "abcdef0123", ""),
        ("push", f"Pushed {BRANCH} (1 commit)", "fedcba9876", ""),
        ("warning", f"Could not push {BRANCH}: the remote has commits you do not", "", ""),
        ("note", "The agent asked for a pull request: More widgets", "", ""),
        ("warning", "No pull request was opened (asked by Ada Lovelace): GitHub refused creating the pull request "
                    "(422: no commits)", "", "https://github.example/acme/widgets/compare/main...x"),
    ]
    assert view.pull_request() == []


def test_a_changed_card_is_resent_in_its_slot() -> None:
    view, window = TimelineView(), Window()
    window.changes(view.entries, view.apply(1, pr()), full=True)
    changed = set()
    for seq in range(2, 6):
        changed |= view.apply(seq, p.TokenDelta(message_id="m", part_id=f"t{seq}", text="x"))
    window.changes(view.entries, changed)
    out = window.changes(view.entries, view.apply(6, pr(state="merged")))
    assert [e.status for e in out["slot_0"] if e.kind == "pull_request"] == ["merged"]


def test_a_push_refused_for_a_secret_says_so_first() -> None:
    view = fold([p.PushError(branch=BRANCH, code="secret_in_diff",
                             message="commit abc contains the value of the secret API_KEY (in a.py)")])
    [entry] = view.entries
    assert entry.kind == "warning"
    assert entry.text == ("Push refused, a commit contains a secret: commit abc contains the value of the secret "
                          "API_KEY (in a.py)")
