"""What every front end (REST, web UI, Slack) and the background jobs need of the running system."""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.services.prompts import Limits
from openinspect_core.settings import Settings
from openinspect_core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    notifier: Notifier

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_prompt_chars, self.settings.max_pending_prompts)

    def work(self) -> UnitOfWork:
        """A transaction that publishes the sessions it changed after it commits."""
        return UnitOfWork(self.db, self.notifier)
