"""Every event leaves the sandbox with its secret values replaced by ``[secret:NAME]``.

:class:`EventScrubber` sits in :meth:`sandbox.bridge.Bridge.emit`, before an event is
numbered and kept, so nothing unscrubbed is ever in the outbox (nor re-sent after a
reconnect). Every string of every event is scrubbed whole, except token deltas: a value
may arrive split across them (the agent streams text in arbitrary pieces), so each
message part's text goes through its own
:class:`~openinspect_protocol.redaction.StreamScrubber`, which holds back a tail that may
still become a value. That held-back text is sent as a delta of its own before any other
event of the same message (so the timeline's order stays right) and at the turn's end.

The values are the runtime's :func:`~openinspect_protocol.redaction.process_redactor`:
the session's secrets, the bridge token, the model-proxy key and each brokered git token
as it arrives (see :func:`register_runtime_values`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import openinspect_protocol as protocol
from openinspect_protocol.redaction import (
    MODEL_PROXY_KEY_NAME,
    SANDBOX_TOKEN_NAME,
    Redactor,
    StreamScrubber,
    scrub_message,
)

# Events that say nothing in a message's timeline: they never force held-back text out
# (a heartbeat between two halves of a value must not let the first half go unscrubbed).
_OUT_OF_BAND = (protocol.Heartbeat, protocol.SandboxLog)


def register_runtime_values(redactor: Redactor, *, secrets: Mapping[str, str], sandbox_token: str,
                            model_proxy_key: str | None) -> None:
    """Teach ``redactor`` every value the runtime holds at start (git tokens come later, one by one)."""
    redactor.update(secrets)
    redactor.add(SANDBOX_TOKEN_NAME, sandbox_token)
    if model_proxy_key:
        redactor.add(MODEL_PROXY_KEY_NAME, model_proxy_key)


class EventScrubber:
    """Turns one event into the scrubbed event(s) to send: held-back delta text first, then the event."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._streams: dict[tuple[str | None, str], StreamScrubber] = {}
        self._lock = threading.RLock()  # emit may come from a log handler (another thread, or re-entered)

    def scrub(self, event: protocol.SandboxEvent) -> list[protocol.SandboxEvent]:
        with self._lock:
            if isinstance(event, protocol.TokenDelta):
                return self._delta(event)
            if isinstance(event, _OUT_OF_BAND):
                return [self._whole(event)]
            return [*self._flush(event.message_id), self._whole(event)]

    def flush_all(self) -> list[protocol.SandboxEvent]:
        """Whatever is held back for any message (the sandbox is going away)."""
        with self._lock:
            return [event for message_id in {key[0] for key in self._streams}
                    for event in self._flush(message_id)]

    def _delta(self, event: protocol.TokenDelta) -> list[protocol.SandboxEvent]:
        if not self._redactor:
            return [event]
        key = (event.message_id, event.part_id)
        # Another part of the same message starts: what the earlier parts hold back comes first.
        out = self._flush(event.message_id, keep=key)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self._redactor.stream()
        text = stream.feed(event.text)
        if text:
            out.append(event.model_copy(update={"text": text}))
        return out

    def _flush(self, message_id: str | None, keep: tuple[str | None, str] | None = None) -> list[protocol.SandboxEvent]:
        out: list[protocol.SandboxEvent] = []
        for key in [key for key in self._streams if key[0] == message_id and key != keep]:
            text = self._streams.pop(key).flush()
            if text:
                out.append(protocol.TokenDelta(message_id=message_id, part_id=key[1], text=text))
        return out

    def _whole(self, event: protocol.SandboxEvent) -> protocol.SandboxEvent:
        return scrub_message(self._redactor, event)
