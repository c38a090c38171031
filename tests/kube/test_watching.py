"""ListWatch (the stand-in kubelet's list + watch) against a scripted API: resume and 410 Gone."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.kube.rawapi import Json
from tests.support.kube.watching import ListWatch


def pod(name: str, resource_version: str) -> Json:
    return {"metadata": {"name": name, "resourceVersion": resource_version}}


def pod_list(resource_version: str, *names: str) -> Json:
    return {"metadata": {"resourceVersion": resource_version}, "items": [pod(n, resource_version) for n in names]}


class ScriptedApi:
    """Answers each list and each watch request with the next scripted answer; records the queries."""

    def __init__(self, lists: list[Json], watches: list[list[Json] | ApiException]) -> None:
        self._lists = lists
        self._watches = watches
        self.watch_queries: list[dict[str, str]] = []

    def get(self, path: str, query: dict[str, str] | None = None) -> Json:
        return self._lists.pop(0)

    def watch(self, path: str, query: dict[str, str]) -> Iterator[Json]:
        self.watch_queries.append(query)
        answer = self._watches.pop(0)
        if isinstance(answer, ApiException):
            raise answer
        yield from answer


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def on_list(self, items: list[Json]) -> None:
        self.calls.append(("list", [item["metadata"]["name"] for item in items]))

    def on_event(self, kind: str, obj: Json) -> None:
        self.calls.append((kind, [obj["metadata"]["name"]]))


def list_watch(api: ScriptedApi, recorder: Recorder) -> ListWatch:
    return ListWatch(
        api, "/api/v1/pods", {"fieldSelector": "spec.nodeName=n"}, on_list=recorder.on_list, on_event=recorder.on_event
    )


def test_the_watch_starts_at_the_list_and_resumes_at_the_last_event() -> None:
    api = ScriptedApi(
        [pod_list("10", "a")],
        [
            [{"type": "MODIFIED", "object": pod("a", "11")}, {"type": "BOOKMARK", "object": pod("", "15")}],
            [],
        ],
    )
    recorder = Recorder()
    watch = list_watch(api, recorder)
    watch.sync()
    watch.step(threading.Event())
    watch.step(threading.Event())

    assert [q["resourceVersion"] for q in api.watch_queries] == ["10", "15"]
    assert api.watch_queries[0]["fieldSelector"] == "spec.nodeName=n"
    assert recorder.calls == [("list", ["a"]), ("MODIFIED", ["a"])]  # bookmarks only move the version
    assert watch.relists == 0


@pytest.mark.parametrize(
    "gone",
    [
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version: 1 (5)"}}],
        ApiException(status=410, reason="Gone"),
    ],
    ids=["error-event", "http-status"],
)
def test_410_gone_means_list_again_and_watch_from_the_new_list(gone: list[Json] | ApiException) -> None:
    api = ScriptedApi([pod_list("10", "a"), pod_list("20", "a", "b")], [gone, []])
    recorder = Recorder()
    watch = list_watch(api, recorder)
    watch.sync()
    watch.step(threading.Event())
    watch.step(threading.Event())

    assert recorder.calls == [("list", ["a"]), ("list", ["a", "b"])]
    assert [q["resourceVersion"] for q in api.watch_queries] == ["10", "20"]
    assert watch.relists == 1


def test_other_errors_are_raised_by_step_and_retried_by_run() -> None:
    api = ScriptedApi([pod_list("10")], [ApiException(status=500, reason="boom")])
    watch = list_watch(api, Recorder())
    watch.sync()
    with pytest.raises(ApiException):
        watch.step(threading.Event())
    assert watch.resource_version == "10"
