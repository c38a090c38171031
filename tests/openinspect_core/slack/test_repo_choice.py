"""The repository chooser on realistic Slack messages, as Slack delivers their text (mentions as
``<@U…>``, links as ``<url|label>``, ``&lt;``/``&gt;``/``&amp;`` escaped): each row pins the choice,
why, the candidates offered when undecided, and the prompt the agent gets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from openinspect_core.slack.repo_choice import MAX_CANDIDATES, Candidate, choose, to_plain

BOT = "U0BOT7QX2"

API = Candidate("r-api", "billing-api", "acme/billing-api", "https://github.com/acme/billing-api",
                "REST API for invoices, payments and subscriptions", aliases=("api", "billing"),
                keywords=("invoice", "payment", "stripe"))
WEB = Candidate("r-web", "webapp", "acme/webapp", "https://github.com/acme/webapp",
                "Customer dashboard (React, TypeScript)", aliases=("frontend", "web"),
                keywords=("css", "dashboard", "react"))
IOS = Candidate("r-ios", "mobile-ios", "acme/mobile-ios", "https://github.com/acme/mobile-ios",
                "The iPhone app in Swift", aliases=("ios",), keywords=("swift", "testflight"))
INFRA = Candidate("r-infra", "infrastructure", "acme/infrastructure", "https://github.com/acme/infrastructure",
                  "Terraform and Kubernetes manifests for production", aliases=("infra",),
                  keywords=("helm", "k8s", "terraform"))
DOCS = Candidate("r-docs", "docs-site", "acme/docs-site", "https://github.com/acme/docs-site",
                 "Public documentation site built with MkDocs")
SEARCH = Candidate("r-search", "search-indexer", "acme/search-indexer", "https://github.com/acme/search-indexer",
                   "Elasticsearch indexing pipeline", keywords=("dashboard", "elasticsearch"))
AUTH = Candidate("r-auth", "auth-service", "acme/auth-service", "https://github.com/acme/auth-service",
                 "Login, SSO and session tokens")
ALL = (API, WEB, IOS, INFRA, DOCS, SEARCH, AUTH)
BY_LABEL = [c.repo_id for c in sorted(ALL, key=lambda c: c.label)][:MAX_CANDIDATES]

# The embedded default: repositories by URL or path, no GitHub App (no full names).
SHOP = Candidate("l-shop", "shop", None, "/srv/repos/shop")
LEGACY = Candidate("l-legacy", "legacy", None, "https://github.com/acme/legacy.git", "The old PHP monolith")
LOCAL = (SHOP, LEGACY)


@dataclass(frozen=True)
class Row:
    text: str
    repo_id: str | None
    reason: str
    prompt: str | None = None  # None: the text as plain text, without the bot's mention
    candidates: tuple[str, ...] = ()
    channel: str | None = None
    repos: tuple[Candidate, ...] = ALL
    unknown: tuple[str, ...] = ()
    bot: str | None = None


ROWS = [
    # 1. explicit: owner/repo or a URL, anywhere; removed from the prompt when the message starts with it
    Row(f"<@{BOT}> in acme/webapp: the logout button is misaligned on Safari", "r-web", "explicit",
        "the logout button is misaligned on Safari"),
    Row(f"<@{BOT}> acme/billing-api fix the rounding in invoice totals", "r-api", "explicit",
        "fix the rounding in invoice totals"),
    Row(f"<@{BOT}> <https://github.com/acme/infrastructure|acme/infrastructure> bump the node pool to 5", "r-infra",
        "explicit", "bump the node pool to 5"),
    Row(f"<@{BOT}> <https://github.com/acme/docs-site> add a page about SSO", "r-docs", "explicit",
        "add a page about SSO"),
    Row(f"<@{BOT}> <http://github.com/acme/docs-site|github.com/acme/docs-site> typo on the home page", "r-docs",
        "explicit", "typo on the home page"),
    Row(f"<@{BOT}> can you look at <https://github.com/acme/mobile-ios/issues/214|this crash>?", "r-ios", "explicit",
        "can you look at this crash (https://github.com/acme/mobile-ios/issues/214)?"),
    Row(f"<@{BOT}> please address the review on <https://github.com/acme/auth-service/pull/88>", "r-auth", "explicit",
        "please address the review on https://github.com/acme/auth-service/pull/88"),
    Row(f"<@{BOT}> [acme/search-indexer] reindex nightly instead of hourly", "r-search", "explicit",
        "reindex nightly instead of hourly"),
    Row(f"<@{BOT}> the totals are off by a cent, see acme/billing-api", "r-api", "explicit"),
    Row(f"<@{BOT}> ACME/WebApp: dark mode toggle in the header", "r-web", "explicit", "dark mode toggle in the header"),
    Row(f"<@{BOT}> in acme/webapp: render &lt;Modal&gt; only when open &amp;&amp; visible", "r-web", "explicit",
        "render <Modal> only when open && visible"),
    Row("fix the flaky test in acme/webapp", "r-web", "explicit"),  # a direct message: no mention
    Row(f"<@{BOT}> in acme/mobile-ios: port the date picker from acme/webapp", "r-ios", "explicit",
        "port the date picker from acme/webapp"),
    Row(f"<@{BOT}> port the date picker from acme/webapp to acme/mobile-ios", None, "ambiguous",
        candidates=("r-web", "r-ios")),
    Row(f"<@{BOT}> acme/legacy: drop PHP 7 support", "l-legacy", "explicit", "drop PHP 7 support", repos=LOCAL),
    # named, but nobody has it: never sent elsewhere when it opens the message; else only reported
    Row(f"<@{BOT}> in acme/ghost: bump the dependencies", None, "ambiguous", candidates=tuple(BY_LABEL),
        unknown=("acme/ghost",)),
    Row(f"<@{BOT}> in acme/ghost: bump the dependencies", None, "ambiguous", candidates=("r-web",), repos=(WEB,),
        unknown=("acme/ghost",)),
    Row(f"<@{BOT}> <https://github.com/other-org/thing/issues/1> looks like the same bug as ours", "r-api", "channel",
        channel="r-api", unknown=("other-org/thing",)),
    # 2. aliases
    Row(f"<@{BOT}> frontend: make the header sticky", "r-web", "alias", "make the header sticky"),
    Row(f"<@{BOT}> the infra pipeline fails at terraform plan", "r-infra", "alias"),
    Row(f"<@{BOT}> in ios, the onboarding skips step 2", "r-ios", "alias", "the onboarding skips step 2"),
    Row(f"<@{BOT}> api returns 500 on /health", "r-api", "alias"),  # a first word that is the prompt stays
    Row(f"<@{BOT}> api: add rate limiting per token", "r-api", "alias", "add rate limiting per token",
        channel="r-web"),  # an alias beats the channel
    Row(f"<@{BOT}> api and web both show the wrong currency", None, "ambiguous", candidates=("r-api", "r-web")),
    Row(f"hey <@{BOT}> the ios build is red since this morning", "r-ios", "alias",
        "hey the ios build is red since this morning", bot=BOT),
    Row(f"<@{BOT}> ask <@U0456ANA|ana> to review the infra change", "r-infra", "alias",
        "ask @ana to review the infra change"),
    Row(f"<@{BOT}> the web build posts to <#C024BE7LR|deploys> twice", "r-web", "alias",
        "the web build posts to #deploys twice"),
    Row(f"<@{BOT}> email <mailto:ana@acme.com|ana@acme.com> when the infra job finishes", "r-infra", "alias",
        "email ana@acme.com when the infra job finishes"),
    # 3. the channel's repository
    Row(f"<@{BOT}> add a retry to the sync job", "r-search", "channel", channel="r-search"),
    Row(f"<@{BOT}> <!here> the nightly job failed again", "r-infra", "channel", "@here the nightly job failed again",
        channel="r-infra"),
    Row(f"<@{BOT}> src/app.py: the import order is wrong", "r-api", "channel", channel="r-api"),  # a path, no repo
    Row(f"<@{BOT}> add a retry to the sync job", None, "ambiguous", candidates=tuple(BY_LABEL),
        channel="r-uninstalled"),  # a channel whose repository is no longer available
    # 4. keywords
    Row(f"<@{BOT}> the stripe webhook double-charges annual plans", "r-api", "keyword"),
    Row(f"<@{BOT}> upgrade terraform to 1.9 and the helm charts with it", "r-infra", "keyword"),
    Row(f"<@{BOT}> the PDF of invoices has the old logo", "r-api", "keyword"),
    Row(f"<@{BOT}> the dashboard is slow", None, "ambiguous",
        candidates=("r-web", "r-search", "r-auth", "r-api", "r-docs")),  # one keyword each: a tie
    # 5. fuzzy names and descriptions
    Row(f"<@{BOT}> the search indexer drops documents with emoji", "r-search", "fuzzy"),
    Row(f"<@{BOT}> the serch indexer is stuck since yesterday", "r-search", "fuzzy"),
    Row(f"<@{BOT}> docs site: the pricing page links to a 404", "r-docs", "fuzzy"),
    Row(f"<@{BOT}> SSO login redirects loop forever", "r-auth", "fuzzy"),
    Row(f"<@{BOT}> the shop checkout forgets the coupon", "l-shop", "fuzzy", repos=LOCAL),
    Row(f"<@{BOT}> the old PHP monolith logs too much", "l-legacy", "fuzzy", repos=LOCAL),
    # 6. one repository, 7. undecided, none
    Row(f"<@{BOT}> bump all dependencies", "r-web", "only_one", repos=(WEB,)),
    Row(f"<@{BOT}> bump all dependencies", None, "ambiguous", candidates=tuple(BY_LABEL)),
    Row(f"<@{BOT}> hello", None, "none", repos=()),
    Row(f"<@{BOT}>", "r-web", "only_one", "", repos=(WEB,)),
]


@pytest.mark.parametrize("row", ROWS, ids=[f"{i:02d}-{r.reason}" for i, r in enumerate(ROWS, 1)])
def test_the_chooser_on_realistic_messages(row: Row) -> None:
    choice = choose(row.text, channel_repo_id=row.channel, candidates=row.repos, bot_user_id=row.bot)
    assert (choice.repo_id, choice.reason) == (row.repo_id, row.reason)
    assert tuple(choice.candidates) == row.candidates
    expected_prompt = row.prompt if row.prompt is not None else to_plain(row.text.replace(f"<@{BOT}>", "")).strip()
    assert choice.prompt == expected_prompt
    assert tuple(choice.unknown) == row.unknown


def test_the_table_is_large_enough_and_covers_every_reason() -> None:
    assert len(ROWS) >= 30
    assert {r.reason for r in ROWS} == {"explicit", "alias", "channel", "keyword", "fuzzy", "only_one", "ambiguous",
                                        "none"}


def test_at_most_five_candidates_best_first() -> None:
    many = [Candidate(f"r{i}", f"service-{i}", f"acme/service-{i}", f"https://github.com/acme/service-{i}")
            for i in range(12)]
    choice = choose("make the tests faster", channel_repo_id=None, candidates=many)
    assert choice.reason == "ambiguous" and len(choice.candidates) == MAX_CANDIDATES


def test_a_url_is_matched_to_the_longest_repository_url_it_is_inside() -> None:
    web = Candidate("a", "web", "acme/web", "https://github.com/acme/web")
    webapp = Candidate("b", "webapp", "acme/webapp", "https://github.com/acme/webapp")
    for url, repo_id in (("https://github.com/acme/webapp/pull/3", "b"), ("https://github.com/acme/web/pull/3", "a")):
        assert choose(f"<{url}>", channel_repo_id=None, candidates=[web, webapp]).repo_id == repo_id


def test_slack_markup_becomes_plain_text() -> None:
    assert to_plain("<!subteam^S012|@oncall> <!date^1392734382^{date}|Feb 18> a &lt; b &amp;&amp; c &gt; d") == \
        "@oncall Feb 18 a < b && c > d"
    assert to_plain("<https://example.com/x|https://example.com/x> <#C1234ABCD>") == "https://example.com/x #C1234ABCD"
