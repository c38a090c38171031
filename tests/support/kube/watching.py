"""List, then watch from the list's resourceVersion, forever: :class:`ListWatch`.

The order of things, which is the whole point: a list gives the current objects and a
resourceVersion; a watch from that version gives every change after it, each event carrying
the version to resume from. When the server no longer has history back to that version it
answers 410 Gone (as an HTTP status or as an ``ERROR`` event); the only recovery is a new list,
whose objects are handed over again (the consumer must treat them as a full resync: objects it
knows that are missing from the list were deleted meanwhile). A watch that ends normally
(server timeout) is simply resumed. Other failures are logged and retried after a pause.

It owns no objects: it calls ``on_list`` and ``on_event`` in its own thread and the consumer
decides what they mean.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

from tests.support.kube.rawapi import Json

log = logging.getLogger(__name__)

# The server ends a watch after this long; it is then resumed from the last version seen.
WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = 0.5
HTTP_GONE = 410


class CollectionApi(Protocol):
    """What a :class:`ListWatch` needs of :class:`~tests.support.kube.rawapi.RawApi`."""

    def get(self, path: str, query: dict[str, str] | None = None) -> Json: ...

    def watch(self, path: str, query: dict[str, str]) -> Iterator[Json]: ...


class ListWatch:
    """One collection (``path`` + ``query``, e.g. a field selector), kept in sync through callbacks."""

    def __init__(
        self,
        api: CollectionApi,
        path: str,
        query: dict[str, str],
        *,
        on_list: Callable[[list[Json]], None],
        on_event: Callable[[str, Json], None],
        watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        self._api = api
        self._path = path
        self._query = dict(query)
        self._on_list = on_list
        self._on_event = on_event
        self._watch_timeout_seconds = watch_timeout_seconds
        self.resource_version: str | None = None
        self.relists = 0  # how many lists after the first (410 Gone recoveries)

    def sync(self) -> None:
        """List, hand the objects to ``on_list``, and remember the list's resourceVersion."""
        listed = self._api.get(self._path, self._query)
        self._on_list(listed["items"])
        self.resource_version = listed["metadata"]["resourceVersion"]

    def step(self, stop: threading.Event) -> None:
        """One watch request, until the server ends it or ``stop`` is set; re-lists on 410 Gone."""
        if self.resource_version is None:
            self.sync()
        query = {
            **self._query,
            "resourceVersion": self.resource_version or "",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._watch_timeout_seconds),
        }
        try:
            for event in self._api.watch(self._path, query):
                if stop.is_set():
                    return
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message", "watch error"))
                self.resource_version = obj["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    self._on_event(kind, obj)
        except ApiException as exc:
            if exc.status != HTTP_GONE:
                raise
            log.info("watch.gone path=%s resource_version=%s", self._path, self.resource_version)
            self.relists += 1
            self.resource_version = None  # if this list fails, the next step lists again
            self.sync()

    def run(self, stop: threading.Event) -> None:
        """:meth:`step` until ``stop`` is set; failures are logged and retried (never raised)."""
        while not stop.is_set():
            try:
                self.step(stop)
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if not stop.is_set():
                    log.warning("watch.failed path=%s error=%r", self._path, exc)
                    stop.wait(RETRY_SECONDS)
            except Exception:
                log.exception("watch.crashed path=%s", self._path)
                stop.wait(RETRY_SECONDS)
