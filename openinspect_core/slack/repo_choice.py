"""Which repository a Slack message is about: a pure decision, tested without Slack or a database.

The rules, first match wins (:func:`choose`):

1. **explicit** — the text names a repository as ``owner/repo`` or by its URL (Slack wraps URLs as
   ``<url>`` or ``<url|label>``; a link into the repository, e.g. an issue, names it too);
2. **alias** — a word that is one of a repository's aliases (configured in the settings);
3. **channel** — the channel's associated repository;
4. **keyword** — the repository with the most configured keywords in the text, if it has more than
   any other;
5. **fuzzy** — names and descriptions matched against the text's words (typos forgiven), only when
   one repository is clearly ahead of the next;
6. **only_one** — exactly one repository is available;
7. **ambiguous** — several and nothing decided: the best candidates, best first (at most
   :data:`MAX_CANDIDATES`); **none** — no repository is available at all.

When rule 1 or 2 names two repositories, the one the message starts with wins ("in acme/api: …");
else the choice is ambiguous between them. A message that starts by naming a repository nobody has
("in acme/ghost: …") is never sent to another one: the choice is then ambiguous, with the name in
:attr:`Choice.unknown` so the bot can say so.

:attr:`Choice.prompt` is what the agent gets: the text without the bot's mention, without the
repository reference it started with, Slack's markup turned back into plain text.

This module owns the text rules; the rows the candidates come from are :func:`load_candidates`'s,
and what to do with an undecided choice (buttons, the model) is the bot's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Repo, RepoHint

Reason = Literal["explicit", "alias", "channel", "keyword", "fuzzy", "only_one", "ambiguous", "none"]
MAX_CANDIDATES = 5  # Why: Slack shows a handful of buttons well; the select lists every repository anyway
FUZZY_MIN_SCORE = 1.0  # a whole name part found, or a near-typo of one plus a description word
FUZZY_LEAD = 1.0  # how far ahead of the next repository the best one must be to be chosen
FUZZY_SIMILARITY = 0.84  # difflib ratio from which a word counts as a typo of a name part ("bilable")
KINDS = ("alias", "keyword")

# Forges whose URLs name a repository as host/owner/repo: a link there that matches no repository is
# reported as unknown (a link elsewhere is just a link).
_FORGES = ("github.com", "gitlab.com", "bitbucket.org")
_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_OWNER_REPO = re.compile(r"(?<![\w.@/:-])([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]*[A-Za-z0-9_])(?![\w/-])")
_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
# A reference at the start: an optional preposition, the reference, then a separator.
_PREFIX = re.compile(
    r"^\s*(?P<prep>(?:in|on|for|repo|repository|at)\s+)?[\[(`*_]?(?P<ref><[^<>]+>|\S+?)[\])`*_]?"
    r"(?P<sep>\s*[:,;\u2014\u2013]\s*|\s+-\s+|\s+|$)",
    re.IGNORECASE,
)
_STOPWORDS = frozenset("""
a an the and or but if then else of to in on at for from by with without into onto about as is are was were be
been being it its this that these those there here i me my we our you your he she they them their can could
would should will shall may might must do does did done please pls thanks thank hey hi hello ok okay also just
some any all each every not no yes what which who whom why how when where repo repository project code fix
fixes fixed bug bugs issue issues make add update change remove run test tests new old one two get set use
using via like need needs want see look check help so up out over under after before again now than too very
""".split())


@dataclass(frozen=True)
class Candidate:
    """A repository a Slack request may use, with what helps find it."""

    repo_id: str
    name: str
    full_name: str | None
    url: str
    description: str | None = None
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def slug(self) -> str | None:
        """``owner/repo`` in lower case: the full name, or the last two parts of a forge URL."""
        if self.full_name:
            return self.full_name.lower()
        url = _normal_url(self.url)
        parts = url.split("/")
        return "/".join(parts[-2:]) if "://" not in url and len(parts) >= 3 and "." in parts[0] else None

    @property
    def label(self) -> str:
        return self.full_name or self.name


@dataclass(frozen=True)
class Choice:
    repo_id: str | None
    reason: Reason
    candidates: list[str] = field(default_factory=list)  # repo ids, best first, when undecided
    prompt: str = ""
    unknown: list[str] = field(default_factory=list)  # repositories named explicitly that nobody has


def choose(text: str, *, channel_repo_id: str | None, candidates: Sequence[Candidate],
           bot_user_id: str | None = None) -> Choice:
    """The repository ``text`` (a Slack message, with Slack's markup) is about; see the module docstring.

    ``bot_user_id``: the bot's own user id, whose mentions are removed wherever they are; without it
    only mentions at the very start are (that is where an app mention puts them).
    """
    raw = _without_bot_mention(text, bot_user_id)
    plain = to_plain(raw)
    lowered = plain.lower()
    by_id = {c.repo_id: c for c in candidates}

    prefix = _prefix_reference(raw, candidates)
    explicit, unknown = _explicit(plain, candidates)
    if prefix is not None and prefix.repo_id is None and prefix.unknown:
        unknown = [prefix.unknown, *[u for u in unknown if u != prefix.unknown]]

    def decided(repo_id: str, reason: Reason) -> Choice:
        prompt = prefix.rest if prefix is not None and prefix.repo_id == repo_id else plain.strip()
        return Choice(repo_id, reason, [], prompt, unknown)

    rules: tuple[tuple[Reason, list[str]], ...] = (("explicit", explicit), ("alias", _aliases(lowered, candidates)))
    for reason, named in rules:
        if len(named) == 1:
            return decided(named[0], reason)
        if named:
            if prefix is not None and prefix.repo_id is not None and prefix.repo_id in named:
                return decided(prefix.repo_id, reason)
            return Choice(None, "ambiguous", named[:MAX_CANDIDATES], plain.strip(), unknown)
    if not candidates:
        return Choice(None, "none", [], plain.strip(), unknown)
    ranked = _ranked(lowered, candidates)
    if prefix is not None and prefix.repo_id is None and prefix.unknown:
        # "in acme/ghost: …" — never guess another repository for a request that named its own.
        return Choice(None, "ambiguous", [c.repo_id for c, _, _ in ranked][:MAX_CANDIDATES], plain.strip(), unknown)
    if channel_repo_id is not None and channel_repo_id in by_id:
        return decided(channel_repo_id, "channel")
    keyword_hits = sorted((hits for _, hits, _ in ranked), reverse=True)
    if keyword_hits[0] > 0 and (len(keyword_hits) == 1 or keyword_hits[0] > keyword_hits[1]):
        return decided(ranked[0][0].repo_id, "keyword")
    scores = sorted((score for _, _, score in ranked), reverse=True)
    second = scores[1] if len(scores) > 1 else 0.0
    if scores[0] >= FUZZY_MIN_SCORE and scores[0] - second >= FUZZY_LEAD:
        best = max(ranked, key=lambda r: r[2])
        return decided(best[0].repo_id, "fuzzy")
    if len(candidates) == 1:
        return decided(candidates[0].repo_id, "only_one")
    return Choice(None, "ambiguous", [c.repo_id for c, _, _ in ranked][:MAX_CANDIDATES], plain.strip(), unknown)


# -- Slack's markup -------------------------------------------------------------------------------

def _without_bot_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        without = re.sub(rf"[ \t]*<@{re.escape(bot_user_id)}(?:\|[^<>]*)?>", "", text)
    else:
        without = re.sub(r"^(?:\s*<@[UW][A-Z0-9]+(?:\|[^<>]*)?>)+", "", text)
    return re.sub(r"^[\s,:;]+", "", without).strip()  # "<@bot>: fix it" -> "fix it"


def to_plain(text: str) -> str:
    """Slack's message markup as plain text: links, mentions and channels spelled out, ``&lt;`` etc. undone."""
    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            if label:
                return label
            return "@" + target[1:].split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        return _link_text(target, label)
    # Slack escapes exactly these three in message text (and nothing else may be undone).
    return _SLACK_TOKEN.sub(token, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_text(url: str, label: str) -> str:
    label = label.strip()
    if not label or _normal_url(label) == _normal_url(url) or _normal_url(url).endswith(_normal_url(label)):
        return url
    return f"{label} ({url})"


def _normal_url(url: str) -> str:
    """A URL as compared: no scheme, ``www.``, ``.git``, trailing slash or case."""
    url = url.strip().lower()
    url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url)
    url = url.removeprefix("www.").split("#", 1)[0].split("?", 1)[0].rstrip("/")
    return url.removesuffix(".git")


def _repo_of_url(url: str, candidates: Sequence[Candidate]) -> Candidate | None:
    wanted = _normal_url(url.rstrip(_TRAILING_PUNCTUATION))
    best: Candidate | None = None
    for candidate in candidates:
        own = _normal_url(candidate.url)
        if wanted == own or wanted.startswith(own + "/"):
            if best is None or len(own) > len(_normal_url(best.url)):
                best = candidate
    return best


def _forge_slug(url: str) -> str | None:
    parts = _normal_url(url.rstrip(_TRAILING_PUNCTUATION)).split("/")
    if len(parts) >= 3 and parts[0] in _FORGES and parts[1] and parts[2]:
        return f"{parts[1]}/{parts[2]}"
    return None


# -- the rules --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Prefix:
    repo_id: str | None  # the repository the message starts by naming, if it names one
    rest: str  # the prompt without that reference (plain text)
    unknown: str | None = None  # an owner/repo it names that nobody has


def _prefix_reference(raw: str, candidates: Sequence[Candidate]) -> _Prefix | None:
    """The repository named at the very start of the message, and the message without it."""
    match = _PREFIX.match(raw)
    if match is None:
        return None
    ref, prep, sep = match.group("ref"), match.group("prep"), match.group("sep")
    rest = to_plain(raw[match.end():]).strip()
    if ref.startswith("<"):
        target = ref[1:-1].split("|", 1)[0]
        if not target.lower().startswith(("http://", "https://")):
            return None
        found = _repo_of_url(target, candidates)
        if found is not None and _normal_url(target) == _normal_url(found.url):
            return _Prefix(found.repo_id, rest)
        if found is None and _forge_slug(target) and _normal_url(target).count("/") == 2:
            return _Prefix(None, "", _forge_slug(target))
        return None
    ref = ref.rstrip(_TRAILING_PUNCTUATION) if not sep.strip() else ref
    lowered = ref.lower()
    if _URL.fullmatch(ref):
        found = _repo_of_url(ref, candidates)
        return _Prefix(found.repo_id, rest) if found and _normal_url(ref) == _normal_url(found.url) else None
    if _OWNER_REPO.fullmatch(ref):
        for candidate in candidates:
            if candidate.slug == lowered.removesuffix(".git"):
                return _Prefix(candidate.repo_id, rest)
        # A path ("src/app.py: …") is no repository: only "in owner/repo" counts as naming one.
        return _Prefix(None, "", ref) if prep else None
    # An alias only when it is clearly a reference ("in api: …", "api: …"), not the prompt's first word.
    if prep or sep.strip():
        for candidate in candidates:
            if lowered in candidate.aliases:
                return _Prefix(candidate.repo_id, rest)
    return None


def _explicit(plain: str, candidates: Sequence[Candidate]) -> tuple[list[str], list[str]]:
    """Repositories named as a URL or ``owner/repo`` (in order of appearance), and forge URLs matching none."""
    named: list[str] = []
    unknown: list[str] = []
    for url in _URL.findall(plain):
        found = _repo_of_url(url, candidates)
        if found is not None:
            named.append(found.repo_id)
        elif (slug := _forge_slug(url)) is not None:
            unknown.append(slug)
    by_slug = {c.slug: c for c in candidates if c.slug}
    without_urls = _URL.sub(" ", plain)
    for token in _OWNER_REPO.findall(without_urls):
        found_slug = by_slug.get(token.lower().removesuffix(".git"))
        if found_slug is not None:
            named.append(found_slug.repo_id)
    return _unique(named), _unique(unknown)


def _aliases(lowered: str, candidates: Sequence[Candidate]) -> list[str]:
    words = set(_words(lowered))
    return _unique([c.repo_id for c in candidates if any(alias in words for alias in c.aliases)])


def _ranked(lowered: str, candidates: Sequence[Candidate]) -> list[tuple[Candidate, int, float]]:
    """Every candidate with its keyword hits and fuzzy score, best first (then by name)."""
    words = _words(lowered)
    content = [w for w in words if w not in _STOPWORDS and len(w) >= 3]
    rows = [(c, _keyword_hits(words, c), _fuzzy_score(lowered, content, c)) for c in candidates]
    return sorted(rows, key=lambda r: (-r[1], -r[2], r[0].label.lower()))


def _keyword_hits(words: list[str], candidate: Candidate) -> int:
    present = set(words) | {w.removesuffix("es") for w in words} | {w.removesuffix("s") for w in words}
    return sum(1 for keyword in candidate.keywords if keyword in present)


def _fuzzy_score(lowered: str, content: list[str], candidate: Candidate) -> float:
    """How much the text looks like it is about this repository, from its name and description."""
    name = candidate.name.lower().removesuffix(".git")
    parts = [p for p in re.split(r"[-_.\s]+", _split_camel(candidate.name)) if len(p) >= 3 and p not in _STOPWORDS]
    score = 0.0
    if len(name) >= 3 and (re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lowered)
                           or (len(parts) > 1 and " ".join(parts) in lowered)):
        score += 2.0  # the whole name ("billing-service", "billing service")
    for part in parts:
        if part in content:
            score += 1.0
        elif any(_similar(word, part) for word in content):
            score += 0.75
    description = {w for w in _words((candidate.description or "").lower()) if len(w) >= 3 and w not in _STOPWORDS}
    overlap = sum(1 for w in set(content) if w in description or w.removesuffix("s") in description)
    return score + min(overlap * 0.5, 1.5)


def _similar(word: str, part: str) -> bool:
    return (len(word) >= 4 and len(part) >= 4 and abs(len(word) - len(part)) <= 2
            and difflib.SequenceMatcher(None, word, part).ratio() >= FUZZY_SIMILARITY)


def _split_camel(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def _words(lowered: str) -> list[str]:
    return _WORD.findall(lowered)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- the candidates ---------------------------------------------------------------------------------

async def load_candidates(db: AsyncSession, *, github_only: bool | None = None) -> list[Candidate]:
    """The repositories a new session may use, with their aliases and keywords.

    ``github_only`` (pass ``settings.github_enabled``): only repositories a GitHub App installation
    covers now. None: the same whenever any repository has an installation.
    """
    query = select(Repo)
    if github_only is None:
        github_only = (await db.exec(select(Repo.id).where(col(Repo.installation_id).is_not(None)).limit(1))).first() \
            is not None
    if github_only:
        query = query.where(col(Repo.installation_id).is_not(None))
    repos = list((await db.exec(query.order_by(col(Repo.full_name), col(Repo.name), col(Repo.id)))).all())
    hints: dict[tuple[str, str], list[str]] = {}
    for hint in (await db.exec(select(RepoHint).order_by(col(RepoHint.value)))).all():
        hints.setdefault((hint.repo_id, hint.kind), []).append(hint.value)
    return [Candidate(repo_id=r.id, name=r.name, full_name=r.full_name, url=r.url, description=r.description,
                      aliases=tuple(hints.get((r.id, "alias"), ())), keywords=tuple(hints.get((r.id, "keyword"), ())))
            for r in repos]
