"""JSON in, JSON out, over a ``kubernetes.client.ApiClient``'s host, TLS and token.

The stand-in kubelet reads and writes Pods as the wire shows them (camelCase dicts) rather than
through the typed models: it patches only what a kubelet patches, and has no use for a model
round trip. Errors are the client's own :class:`kubernetes.client.exceptions.ApiException`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

REQUEST_TIMEOUT_SECONDS = 30.0
WATCH_CONNECT_TIMEOUT_SECONDS = 10.0
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"

Json = dict[str, Any]


class RawApi:
    """A few REST verbs on top of an ApiClient; thread-safe (urllib3's pool is)."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._client = api_client
        self._watches: set[Any] = set()
        self._closed = False
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Json | None = None,
        content_type: str = "application/json",
    ) -> Json:
        """One request; the decoded body, or :class:`ApiException` on a non-2xx answer."""
        response = self._send(method, path, query, body, content_type, REQUEST_TIMEOUT_SECONDS)
        data = response.read()
        text = data.decode("utf-8", errors="replace") if data else ""
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        return json.loads(text) if text else {}

    def get(self, path: str, query: dict[str, str] | None = None) -> Json:
        return self.request("GET", path, query=query)

    def create(self, path: str, body: Json) -> Json:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Json, content_type: str = STRATEGIC_MERGE_PATCH) -> Json:
        return self.request("PATCH", path, body=body, content_type=content_type)

    def delete(self, path: str, body: Json | None = None) -> Json:
        return self.request("DELETE", path, body=body)

    def watch(self, path: str, query: dict[str, str]) -> Iterator[Json]:
        """Watch events (``{"type": ..., "object": ...}``) until the server ends the stream,
        :meth:`close_watches` is called, or the generator is closed."""
        response = self._send("GET", path, {**query, "watch": "true"}, None, "application/json", None)
        raw = response.response  # urllib3's response, not read yet
        if response.status != 200:
            text = raw.read().decode("utf-8", errors="replace")
            raise ApiException(status=response.status, reason=response.reason, body=text)
        with self._lock:
            self._watches.add(raw)
            if self._closed:
                raw.shutdown()
        try:
            for line in iter_resp_lines(raw):
                if line:
                    yield json.loads(line)
        finally:
            with self._lock:
                self._watches.discard(raw)
            raw.release_conn()

    def close_watches(self) -> None:
        """End every open watch, from any thread (its generator ends); watches opened later end at once."""
        with self._lock:
            self._closed = True
            watches = list(self._watches)
        for raw in watches:
            try:
                raw.shutdown()
            except OSError:
                pass

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: Json | None,
        content_type: str,
        read_timeout: float | None,
    ) -> Any:
        method, url, headers, serialized, _ = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        timeout = (WATCH_CONNECT_TIMEOUT_SECONDS, read_timeout) if read_timeout is None else read_timeout
        return self._client.call_api(method, url, header_params=headers, body=serialized, _request_timeout=timeout)
