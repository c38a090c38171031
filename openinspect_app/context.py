"""What every front end (REST, web UI, Slack) needs from the running system."""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_app.config import Settings
from openinspect_app.db import Database
from openinspect_app.notifier import Notifier
from openinspect_app.services.prompts import Limits


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    notifier: Notifier

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_prompt_chars, self.settings.max_pending_prompts)
