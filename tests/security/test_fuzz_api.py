"""Fuzzing the REST API from its own OpenAPI description (schemathesis), authenticated with an
API token, on PostgreSQL (whose columns refuse what SQLite would silently keep).

At least 2,000 generated requests across the operations, valid and invalid ones: none may
be answered with a 5xx, and every answer must match the description (status codes, content
types, bodies). Generation is derandomized, so a run is repeatable and a failure reproducible.
The event stream is left out (it never ends by design; its own tests cover it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from openinspect_app.api.app import attach, build_api
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.settings import Settings
from tests.support.http import free_port
from tests.support.system import api_token

MIN_CASES = 2000
EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 35}  # per operation: >2,000 in all over ~33
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@contextmanager
def api_in_a_thread(database_url: str, data_dir: Path) -> Iterator[tuple[str, str]]:
    """The API served from its own thread and event loop (schemathesis calls it synchronously);
    yields its base URL and an API token."""
    port = free_port()
    ready = threading.Event()
    found: dict[str, object] = {}

    async def serve() -> None:
        database = Database(database_url)
        database.migrate()
        context = AppContext.of(Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, database_url=database_url,
                                               repo_roots=("/tmp",)), database, Notifier())
        api = build_api()
        attach(api, context)
        found["token"] = await api_token(context)
        server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="off"))
        found["server"] = server
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        ready.set()
        await task
        await database.dispose()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # surfaced by the waiting test
            found["error"] = error
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the API did not start"
    if "error" in found:
        raise found["error"]  # type: ignore[misc]
    try:
        yield f"http://127.0.0.1:{port}", str(found["token"])
    finally:
        server: uvicorn.Server = found["server"]  # type: ignore[assignment]
        server.should_exit = True
        thread.join(30)


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str, http: requests.Session,
         auth: dict[str, str], cases: dict[str, int]) -> None:
    """Up to EXAMPLES[mode] generated requests to one operation, each answer checked."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def call(case: schemathesis.Case) -> None:
        cases[operation.label] = cases.get(operation.label, 0) + 1
        response = case.call(base_url=base_url, session=http, headers=auth, timeout=30)
        case.validate_response(response, checks=CHECKS)

    call()


@pytest.mark.timeout(300)  # about 60-90 s on an idle two-core machine
def test_the_api_survives_generated_requests_and_answers_as_described(postgres_url: str, tmp_path: Path) -> None:
    with api_in_a_thread(postgres_url, tmp_path / "data") as (base_url, token), requests.Session() as http:
        schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json").exclude(path_regex=r"/stream$")
        auth = {"Authorization": f"Bearer {token}"}
        cases: dict[str, int] = {}
        unsatisfiable: list[tuple[str, GenerationMode]] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in EXAMPLES:
                try:
                    fuzz(operation, mode, base_url, http, auth, cases)
                except Unsatisfiable:
                    unsatisfiable.append((operation.label, mode))
    # Nothing invalid can be said to an operation that takes nothing (GET /api/health).
    assert all(mode == GenerationMode.NEGATIVE for _, mode in unsatisfiable), unsatisfiable
    assert sum(cases.values()) >= MIN_CASES, cases
    assert len(cases) >= 15, sorted(cases)  # every operation was tried
