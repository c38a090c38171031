"""List-then-watch of one kind of object, forever, for the Kubernetes backend.

The official client is synchronous, so each watch runs in a thread and hands
every object to a callback. It lists first (every object as ``SYNC``), then
watches from the list's resourceVersion; when the server says that version is
too old (HTTP 410 Gone, or an ERROR event with code 410) it lists again; on
any other failure it waits and starts over. Nothing is missed: whatever
happened while it was not watching shows up in the next list.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from openinspect_protocol.logs import EventLog

log = EventLog(__name__)

WATCH_TIMEOUT_SECONDS = 10  # the server ends a watch after this; the next starts at once (and stop() waits no longer)
RETRY_SECONDS = 1.0

OnEvent = Callable[[str, dict[str, Any]], None]  # (ADDED|MODIFIED|DELETED|SYNC, object)


class Watcher:
    def __init__(self, list_function: Callable[..., Any], *, namespace: str,
                 on_event: OnEvent, label_selector: str | None = None, resource_version: str | None = None,
                 name: str = "watch") -> None:
        self._list = list_function
        self._namespace = namespace
        self._on_event = on_event
        self._selector = label_selector
        self.resource_version = resource_version  # None: start with a list
        self.relists = 0
        self._stopping = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=WATCH_TIMEOUT_SECONDS + 5)

    def _kwargs(self) -> dict[str, Any]:
        return {"label_selector": self._selector} if self._selector else {}

    def _relist(self) -> None:
        listing = self._list(self._namespace, _preload_content=False, **self._kwargs())
        body = json.loads(listing.data)
        for item in body.get("items") or []:
            self._on_event("SYNC", item)
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion")
        self.relists += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                self._watch = watch.Watch()
                for event in self._watch.stream(self._list, self._namespace, resource_version=self.resource_version,
                                                timeout_seconds=WATCH_TIMEOUT_SECONDS,
                                                allow_watch_bookmarks=True, **self._kwargs()):
                    if self._stopping.is_set():
                        return
                    kind, obj = event["type"], event["raw_object"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            self.resource_version = None  # too old: list again
                            break
                        raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                    self.resource_version = (obj.get("metadata") or {}).get("resourceVersion",
                                                                              self.resource_version)
                    if kind != "BOOKMARK":
                        self._on_event(kind, obj)
            except ApiException as error:
                if error.status == 410:
                    self.resource_version = None
                    continue
                log.warning("kubernetes.watch_failed", status=error.status, reason=error.reason)
                self._stopping.wait(RETRY_SECONDS)
            except Exception as error:  # connection reset, server restart…: start over
                if self._stopping.is_set():
                    return
                log.warning("kubernetes.watch_failed", error=repr(error))
                self._stopping.wait(RETRY_SECONDS)
