"""Sandbox start on the local backend: the system against the same work done by hand.

Run from the project root; it prints figures and asserts nothing (what they mean:
docs/performance.md, "Sandbox start")::

    python -m bench.sandbox_start [--runs 5] [--warmup 1] [--database-url URL]

* **system**: the embedded system in this process (REST API over real HTTP,
  bridge server, dispatcher, a local sandbox with the real sandbox runtime and
  OpenCode, the scripted model), measured as a REST client sees it:
  ``POST /api/sessions`` → ``session_status: ready`` on the session's SSE stream;
  then, twice, ``POST /api/sessions/{id}/prompts`` → the turn's first event from
  the agent (not the session title, a side request) → ``prompt_finished``.
* **baseline**: ``git clone``, ``bash .openinspect/setup.sh``, ``opencode serve``
  (the harness's environment, config and state dir) until it says it listens,
  then what the harness does (health, ``POST /session``, ``GET /event``); twice
  ``prompt_async`` → the first ``step-start`` on ``/event`` → the session idle.

Runs alternate between the two; a run's sandbox is stopped before the next. The
system's phases come from timestamps it keeps anyway, on one clock: an event's
``created_at`` (row made, inside its transaction), the ``ts`` of a sandbox event
(made in the sandbox) and the sandbox runtime's JSON log. A PostgreSQL
``--database-url`` names a database used only to create (and at the end drop) a
throwaway one, as ``tests/conftest.py`` does.

This module owns the command line and the run loop (system and baseline
alternating); the parts are ``bench/sandbox_start_*.py``: ``_run`` (fixed inputs,
samples, step names), ``_streams`` (SSE recording), ``_system`` and ``_baseline``
(the two sides), ``_records`` (reading stored events and logs), ``_setup``
(database, references), ``_figures`` and ``_report`` (statistics and tables).
It re-exports the names other benchmarks import from it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

import httpx

from backend_jobs.control_plane import ControlPlane
from bench.sandbox_start_baseline import baseline_run
from bench.sandbox_start_figures import format_ms, render_table, summarize
from bench.sandbox_start_records import first_event, first_logged, log_records, stored_at, timeline_text
from bench.sandbox_start_report import report
from bench.sandbox_start_run import HTTP_TIMEOUT_SECONDS, MODEL, PROJECT_ROOT, REPO_FILES, RunFailed, Sample
from bench.sandbox_start_setup import database, machine_description, python_start_reference, version_of
from bench.sandbox_start_streams import StreamRecorder
from bench.sandbox_start_system import system_run
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import serve_http
from tests.support.system import api_token, make_repo

# The names bench/k8s_spawn.py and bench/k8s_spawn_probe.py import from here.
__all__ = [
    "PROJECT_ROOT",
    "REPO_FILES",
    "RunFailed",
    "StreamRecorder",
    "database",
    "first_event",
    "first_logged",
    "log_records",
    "machine_description",
    "main",
    "render_table",
    "stored_at",
    "summarize",
    "timeline_text",
    "version_of",
]

DEFAULT_RUNS = 5
DEFAULT_WARMUP_RUNS = 1


async def run_all(args: argparse.Namespace, tmp: Path, repo: Path, database_url: str,
                  model: ScriptedModel) -> tuple[list[Sample], list[Sample]]:
    settings = Settings.from_env({}, data_dir=tmp / "data", database_url=database_url, bridge_port=0,
                                 model_proxy_port=0, repo_roots=(str(tmp),), opencode_bin=args.opencode_bin,
                                 provider_base_url=model.base_url, model=MODEL)
    system = ControlPlane(settings)
    system_samples: list[Sample] = []
    baseline_samples: list[Sample] = []
    await system.start()
    try:
        api = build_api()
        attach(api, system.context)
        token = await api_token(system.context, name="bench")  # REST calls authenticate like any script's
        async with serve_http(api) as base_url, httpx.AsyncClient(
                base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS, trust_env=False,
                headers={"Authorization": f"Bearer {token}"}) as client:
            for index in range(args.warmup + args.runs):
                ours = await system_run(client, system, repo)
                theirs = await baseline_run(tmp / f"baseline-{index}", repo, model.base_url, args.opencode_bin)
                counted = index >= args.warmup
                label = f"run {index - args.warmup + 1}/{args.runs}" if counted else "warm-up"
                print(f"{label:>9}: system " + ", ".join(f"{k} {format_ms(v)} ms" for k, v in ours.steps.items())
                      + "\n           baseline " + ", ".join(f"{k} {format_ms(v)} ms" for k, v in theirs.steps.items()),
                      flush=True)
                if counted:
                    system_samples.append(ours)
                    baseline_samples.append(theirs)
    finally:
        await system.stop()
    return system_samples, baseline_samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_start", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="counted runs (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_RUNS,
                        help="runs before those, not counted (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: SQLite in a temp dir); for postgresql://USER@HOST:PORT/DB "
                             "a throwaway database is created beside DB and dropped at the end")
    parser.add_argument("--opencode-bin", default=os.environ.get(
        "OPENINSPECT_OPENCODE_BIN", str(PROJECT_ROOT / "node_modules" / ".bin" / "opencode")))
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="oi-bench-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        machine = machine_description()
        repo = make_repo(tmp / "project", REPO_FILES)
        python_ref = python_start_reference()
        with database(args.database_url, tmp) as (database_url, description), ScriptedModel() as model:
            try:
                system, baseline = asyncio.run(run_all(args, tmp, repo, database_url, model))
            except RunFailed as exc:
                print(f"benchmark run failed: {exc}", file=sys.stderr)
                return 1
    print(report(args, machine, description, python_ref, system, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
