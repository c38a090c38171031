"""Fan-out through the web UI: sandbox events to many viewers, against a bare websockets broadcast.

Run from the project root; it prints figures and asserts nothing::

    python -m bench.fanout [--sessions 20 --viewers 3 --rate 5 --seconds 20] [--database-url URL]

**System.** The real system in production mode (``scripts/run``, as the end-to-end tests start it)
with ``OPENINSPECT_SANDBOX_BACKEND=manual``, free ports, a temp data dir, SQLite unless
``--database-url`` names a PostgreSQL server (then a throwaway database is made beside the one it
names and dropped at the end, as ``tests/conftest.py`` does). Sessions are made with the REST API;
for each, a *synthetic bridge* reads the manual sandbox's environment file, connects with the real
handshake (``GET /bridge/<id>``, bearer token, protocol header), sends ``ready`` and then
``token`` events (protocol classes, numbered from 1, acknowledged by the server) at a fixed rate,
each text carrying its send time (``"t=<time_ns> "``). Tokens go to one text part per
``--tokens-per-part`` events, as a turn's streamed text does, so the timeline gains an entry now
and then. Viewers are browserless Reflex tabs (``bench/reflex_client.py``), signed in the way the
sign-in page leaves a browser (the two LocalStorage values go with the hydrate event, as the
compiled frontend sends them), on ``/sessions/<id>``, whose on_load links them to the session's
shared state; each also reports presence every 5 s over HTTP as the page's script does.

**Figures.**

* bridge-to-viewer latency: for each update a viewer receives, its receive time minus the newest
  send time in the text of the ``tail`` entry (updates that bring nothing newer are not samples);
* bridge-to-stored: send time to the acknowledgement (ingestion stores before it acks); events
  stored per second: acknowledged events / (last ack - first send), cross-checked with the
  sessions' ``last_event_sequence`` over the REST API;
* bytes per event per viewer: the wire bytes of the state updates a viewer received during the
  stream, divided by the events its session sent;
* the same per new event on a session whose history was filled first (``timeline.append``
  straight into the database: tool call/result pairs) to 100 and to 10,000 events, before its
  viewers open it: ``--history-events`` new events at ``--history-rate``;
* CPU of the system's process tree and of this process over the stream.

**Baseline.** The same bridges and viewers through a bare ``websockets`` server in its own process
on this machine: a bridge's frames are re-sent as they are to the viewers of its session
(``websockets.broadcast``); no storage, no state. Its latency and bytes per event are what the
transport alone costs. The bridges, viewers and that server are in ``bench/fanout_peers.py``.

All clients run in this one process; its CPU is printed so a saturated client can be told apart
from a slow server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bench.fanout_phases import baseline_phase, system_phases
from bench.fanout_report import report
from bench.fanout_stream import StreamResult
from bench.fanout_system import POSTGRES_PREFIXES, running_system, throwaway_database

# This module owns the command line and the order of the phases; the docstring above is also its --help.
# The parts: fanout_system (the system under test), fanout_phases (the scenarios), fanout_stream (one
# streaming phase and its figures), fanout_measure (CPU, percentiles), fanout_report, fanout_peers.


async def run(args: argparse.Namespace) -> int:
    results: list[StreamResult] = []
    with tempfile.TemporaryDirectory(prefix="oi-fanout-") as tmp:
        root = Path(tmp)
        repo = root / "repo"  # only its path is used: manual sandboxes clone nothing
        repo.mkdir()
        with throwaway_database(args.database_url) as database_url:
            database = "PostgreSQL" if database_url and database_url.startswith(POSTGRES_PREFIXES) else "SQLite"
            if not args.skip_system:
                print(f"starting the system (scripts/run, {database}) ...", flush=True)
                with running_system(root, database_url) as system:
                    results += await system_phases(args, system, repo)
        if not args.skip_baseline:
            print("baseline: bare websockets broadcast ...", flush=True)
            results.append(await baseline_phase(args))
    report(args, database, results)
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=3, help="viewers per session")
    parser.add_argument("--rate", type=float, default=5.0, help="token events per second per session")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the bridges stream")
    parser.add_argument("--tokens-per-part", type=int, default=50,
                        help="token events per text part (a new part is a new timeline entry)")
    parser.add_argument("--history", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 10_000],
                        help="history lengths to measure, comma-separated ('' to skip)")
    parser.add_argument("--burst-events", type=int, default=100,
                        help="then this many per session back to back, for the stored-events rate (0: skip)")
    parser.add_argument("--history-events", type=int, default=50)
    parser.add_argument("--history-rate", type=float, default=4.0)
    parser.add_argument("--database-url", help="PostgreSQL server (a throwaway database is made beside it)")
    parser.add_argument("--no-presence", action="store_true",
                        help="viewers do not report presence (the page's script does, every 5 s)")
    parser.add_argument("--skip-system", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(run(_parse(sys.argv[1:]))))
