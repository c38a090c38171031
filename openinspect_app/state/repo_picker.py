"""The new-session form's repository picker, for a system that has the GitHub App.

A person finds a repository by typing (the page debounces the box, so a burst
of keystrokes is one search), picks one of the installations' repositories, and
gets its branches with the default one chosen. The list comes from our own
tables (``repos.search``: the App's installations, synced from GitHub); only the
branches are asked of GitHub, when a repository is picked.

Without the App (``AppContext.github`` is None) the picker stays off and the
form asks for a path or URL as before. Like every handler here, these check who
is asking first and call one service; the GitHub services are imported when
called, since only a system with the App uses them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import reflex as rx
from openinspect_protocol.logs import EventLog

from openinspect_app import running
from openinspect_app.state.auth import AuthState
from openinspect_core.github.client import GitHubError
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

SEARCH_LIMIT = 20  # enough to scan at a glance; typing narrows the rest
MAX_QUERY_CHARS = 100  # owner/name is at most 140 on GitHub; a longer query matches nothing useful
DESCRIPTION_PREVIEW_CHARS = 160
SEARCH_DEBOUNCE_MS = 250  # the page sends the box's value once typing pauses this long


@dataclass
class RepoOption:
    full_name: str
    description: str
    private: bool


class RepoPicker(AuthState):
    github: bool = False  # this system has the GitHub App: the form shows the picker
    options: list[RepoOption] = []
    chosen: str = ""  # owner/name
    branches: list[str] = []  # of the chosen repository, its default first
    branch: str = ""
    loading_branches: bool = False
    error: str = ""

    async def _open(self) -> None:
        """Called by the sessions page when it loads: the picker, fresh, with the first repositories."""
        self.github = running.get().context.github is not None
        self.chosen, self.branches, self.branch, self.error = "", [], "", ""
        if self.github:
            await self._search("")

    async def _search(self, query: str) -> None:
        from openinspect_core.github import repos

        async with running.get().context.db.session() as db:
            found = await repos.search(db, query.strip()[:MAX_QUERY_CHARS], limit=SEARCH_LIMIT)
        self.options = [RepoOption(full_name=r.full_name or r.name, private=r.private,
                                   description=_preview(r.description or "")) for r in found]

    @rx.event
    async def search(self, query: str) -> None:
        if await self._viewer() is None or not self.github:
            return
        await self._search(query)

    @rx.event
    async def choose(self, full_name: str) -> AsyncIterator[None]:
        """Pick a repository (one the search offered) and load its branches, the default one chosen."""
        if await self._viewer() is None or not self.github:
            return
        self.chosen, self.branches, self.branch, self.error = full_name, [], "", ""
        self.loading_branches = True
        yield
        from openinspect_core.github import repos

        try:
            branches = await repos.branches(running.get().context, full_name)
        except (ServiceError, GitHubError) as error:
            self.error = error.message if isinstance(error, ServiceError) else str(error)
            branches = []
        self.branches, self.branch, self.loading_branches = branches, (branches[0] if branches else ""), False

    @rx.event
    async def set_branch(self, value: str) -> None:
        if await self._viewer() is None:
            return
        self.branch = value if value in self.branches else self.branch

    @rx.event
    async def change(self) -> None:
        """Back to the search, to pick another repository."""
        if await self._viewer() is None:
            return
        self.chosen, self.branches, self.branch, self.error = "", [], "", ""


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_PREVIEW_CHARS else text[:DESCRIPTION_PREVIEW_CHARS - 1] + "…"
