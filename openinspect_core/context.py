"""What every front end (REST, web UI, Slack) and the background jobs need of the running system."""

from __future__ import annotations

from dataclasses import dataclass, field

from openinspect_core.crypto import Cipher
from openinspect_core.db import Database
from openinspect_core.github.client import GitHubApp
from openinspect_core.metrics import Metrics
from openinspect_core.notify.local import Notifier
from openinspect_core.services.prompts import Limits
from openinspect_core.settings import Settings
from openinspect_core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    notifier: Notifier
    cipher: Cipher = field(repr=False)
    github: GitHubApp | None = None  # None: no GitHub App configured (the embedded default)
    # This system's own metrics registry (openinspect_core/metrics.py): web routes and background jobs count into it.
    metrics: Metrics = field(default_factory=Metrics, repr=False, compare=False)

    @classmethod
    def of(cls, settings: Settings, db: Database, notifier: Notifier) -> AppContext:
        """The context the settings describe: the encryption key and the GitHub App (if any) made from them."""
        return cls(settings, db, notifier, Cipher.from_settings(settings), GitHubApp.from_settings(settings),
                   metrics=Metrics(db))

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_prompt_chars, self.settings.max_pending_prompts)

    def work(self) -> UnitOfWork:
        """A transaction that publishes the sessions it changed after it commits."""
        return UnitOfWork(self.db, self.notifier)
