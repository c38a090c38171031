"""The statuses both ends and the stored timeline speak of, as enums (never bare strings)."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """Where a session's sandbox is; what every viewer sees in the header."""

    SPAWNING = "spawning"
    SYNCING = "syncing"
    SETUP = "setup"
    STARTING_AGENT = "starting_agent"
    READY = "ready"
    RUNNING = "running"
    IDLE = "idle"
    STOPPED = "stopped"
    FAILED = "failed"


# The start-up steps, in order (shown as progress); a sandbox's ``stage`` events name the middle ones.
STARTUP_STAGES: tuple[SessionStatus, ...] = (
    SessionStatus.SPAWNING, SessionStatus.SYNCING, SessionStatus.SETUP, SessionStatus.STARTING_AGENT,
    SessionStatus.READY,
)


class MessageStatus(StrEnum):
    """A prompt's place in its queue: queued -> running -> a finished status; queued -> cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (MessageStatus.QUEUED, MessageStatus.RUNNING)


UNFINISHED_MESSAGE_STATUSES: tuple[MessageStatus, ...] = (MessageStatus.QUEUED, MessageStatus.RUNNING)
