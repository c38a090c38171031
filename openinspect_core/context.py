"""What every front end (REST, web UI, Slack) and the background jobs need of the running system."""

from __future__ import annotations

from dataclasses import dataclass, field

from openinspect_core.artifact_store import ArtifactStore
from openinspect_core.artifact_stores import store_for
from openinspect_core.crypto import Cipher
from openinspect_core.db import Database
from openinspect_core.github.client import GitHubApp
from openinspect_core.metrics import Metrics
from openinspect_core.notify.local import Notifier
from openinspect_core.services.previews import SandboxAddresses
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
    # Where a sandbox's declared dev-server port is (live previews); None: no previews in this process.
    sandbox_addresses: SandboxAddresses | None = field(default=None, repr=False, compare=False)
    # Where artifacts' bytes are kept (screenshots); None: files under the data dir (built on first use).
    artifact_store: ArtifactStore | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, settings: Settings, db: Database, notifier: Notifier) -> AppContext:
        """The context the settings describe: the encryption key and the GitHub App (if any) made from them."""
        return cls(settings, db, notifier, Cipher.from_settings(settings), GitHubApp.from_settings(settings),
                   metrics=Metrics(db), artifact_store=store_for(settings))

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_prompt_chars, self.settings.max_pending_prompts)

    @property
    def artifacts(self) -> ArtifactStore:
        return self.artifact_store or store_for(self.settings)

    def work(self) -> UnitOfWork:
        """A transaction that publishes the sessions it changed after it commits."""
        return UnitOfWork(self.db, self.notifier)
