"""Prove bench/reflex_client.py against a throwaway Reflex app with a per-room rx.SharedState.

Rooms x clients tabs open /room/<room> (on_load links the room's Shared state); the server then
changes each room's state at a fixed rate with app.modify_state and every tab records, per
update, server timestamp -> receive time and the bytes on the wire. Three phases:
  set     Shared.seq and Shared.ts change: a small, constant delta
  append  Shared.items gains one item per tick: the delta re-sends the whole list
  local   one tab per room changes a tab-private state (Local.bump): who else hears of it?

The app is not part of the project. In an empty DIR (offline settings: shared toolchain notes):
    reflex init --name probe --template blank --no-agents </dev/null
    python -m bench.reflex_client_probe --write-app DIR     # replaces probe/probe.py, rxconfig.py
    cd DIR && reflex run --env prod                         # pages + backend on port 3917
    python -m bench.reflex_client_probe --base-url http://127.0.0.1:3917
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.reflex_client import BROWSER_HEADERS, ROOT_STATE_NAME, ReflexClient, Update

SHARED_STATE = f"{ROOT_STATE_NAME}.reflex___istate___shared____shared_state_base_internal.probe___probe____shared"
LOCAL_BUMP_EVENT = f"{ROOT_STATE_NAME}.probe___probe____local.bump"
QUIET_SECONDS = 0.5  # no update for this long: the fan-outs of the last step have all landed

PROBE_APP = '''\
"""Throwaway app for bench/reflex_client_probe.py (see there)."""

import asyncio
import random
import time

import reflex as rx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

TICKER = {"mode": "off", "hz": 5.0, "rooms": [], "gen": 0, "ticks": 0}


class Shared(rx.SharedState):
    seq: int = 0
    ts: float = 0.0
    items: list[dict] = []

    @rx.event
    async def join(self):
        if self.room:  # dynamic route arg
            await self._link_to(self.room)


class Local(rx.State):
    n: int = 0

    @rx.event
    def bump(self):
        self.n += 1


def index():
    return rx.text("probe")


def room_page():
    return rx.vstack(
        rx.heading(Shared.seq),
        rx.text(Shared.ts),
        rx.foreach(Shared.items, lambda it: rx.text(it["text"])),
        rx.button(Local.n, on_click=Local.bump),
    )


async def _tick_room(room, gen):
    await asyncio.sleep(random.random() / TICKER["hz"])  # stagger the rooms
    next_at = time.monotonic()
    while TICKER["gen"] == gen:
        async with app.modify_state(rx.BaseStateToken(ident=room, cls=Shared)) as root:
            st = await root.get_state(Shared)
            now = time.time()
            st.seq += 1
            if TICKER["mode"] == "append":
                st.items.append({"seq": st.seq, "ts": now, "text": f"item {st.seq} at {now:.6f}"})
            else:
                st.ts = now
        TICKER["ticks"] += 1
        next_at += 1.0 / TICKER["hz"]
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def ticker():
    seen_gen = -1
    while True:
        if TICKER["gen"] != seen_gen:
            seen_gen = TICKER["gen"]
            if TICKER["mode"] != "off":
                for room in TICKER["rooms"]:
                    asyncio.create_task(_tick_room(room, seen_gen))
        await asyncio.sleep(0.05)


async def probe_config(request):
    q = request.query_params
    TICKER["mode"] = q.get("mode", TICKER["mode"])
    TICKER["hz"] = float(q.get("hz", TICKER["hz"]))
    if "rooms" in q:
        TICKER["rooms"] = [r for r in q["rooms"].split(",") if r]
    TICKER["gen"] += 1
    return JSONResponse(TICKER)


async def probe_reset(request):
    for room in TICKER["rooms"]:
        async with app.modify_state(rx.BaseStateToken(ident=room, cls=Shared)) as root:
            st = await root.get_state(Shared)
            st.items, st.seq, st.ts = [], 0, 0.0
    return JSONResponse({"reset": TICKER["rooms"]})


routes = [Route("/probe/config", probe_config), Route("/probe/reset", probe_reset)]
app = rx.App(api_transformer=Starlette(routes=routes))
app.add_page(index)
app.add_page(room_page, route="/room/[room]", on_load=Shared.join)
app.register_lifespan_task(ticker)
'''

PROBE_RXCONFIG = """\
import reflex as rx

config = rx.Config(
    app_name="probe", frontend_port=3917, backend_port=3917, backend_host="127.0.0.1",
    telemetry_enabled=False, show_built_with_reflex=False,
    plugins=[rx.plugins.SitemapPlugin(), rx.plugins.RadixThemesPlugin()],
)
"""


@dataclass(frozen=True)
class Sample:
    """One update as one tab saw it."""

    phase: str
    room: str
    latency_ms: float | None  # receive time - server timestamp of the change, when it carries one
    wire_bytes: int
    shared_json_bytes: int  # the Shared state's part of the delta, re-serialized compactly
    items: int | None  # length of Shared.items when the update carried it


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a local process (Linux /proc), 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _json_bytes(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Recorder:
    """Turns each received Update into a Sample of the current phase."""

    def __init__(self) -> None:
        self.phase = "join"
        self.samples: list[Sample] = []
        self.rooms: dict[str, str] = {}  # token -> room
        self._last_seq: dict[str, int] = {}  # token -> newest Shared.seq seen

    def __call__(self, client: ReflexClient, update: Update) -> None:
        shared = update.delta.get(SHARED_STATE, {})
        items = shared.get("items_rx_state_")
        latency = None
        seq = shared.get("seq_rx_state_")
        if seq is not None and seq > self._last_seq.get(client.token, 0):  # a new change, not a re-send
            self._last_seq[client.token] = seq
            server_ts = items[-1]["ts"] if items else shared.get("ts_rx_state_")
            latency = (update.received_at - server_ts) * 1000 if server_ts else None
        elif seq == 0:  # the rooms were reset
            self._last_seq[client.token] = 0
        self.samples.append(
            Sample(
                phase=self.phase,
                room=self.rooms[client.token],
                latency_ms=latency,
                wire_bytes=update.wire_bytes,
                shared_json_bytes=_json_bytes(shared) if shared else 0,
                items=len(items) if items is not None else None,
            )
        )

    def of(self, phase: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == phase]

    async def quiesce(self) -> None:
        """Wait until no update has arrived for QUIET_SECONDS."""
        while True:
            count = len(self.samples)
            await asyncio.sleep(QUIET_SECONDS)
            if len(self.samples) == count:
                return


async def _ticker(http: httpx.AsyncClient, **params: object) -> dict:
    response = await http.get("/probe/config", params=params)
    response.raise_for_status()
    return response.json()


async def _run_ticker_phase(
    http: httpx.AsyncClient, recorder: Recorder, phase: str, rooms: list[str], args: argparse.Namespace
) -> int:
    """Run the server ticker in ``phase`` mode; returns the number of server-side changes made."""
    before = (await _ticker(http, mode="off"))["ticks"]
    recorder.phase = phase
    cpu_before, started = _cpu_seconds(args.backend_pid), time.monotonic()
    await _ticker(http, mode=phase, hz=args.hz, rooms=",".join(rooms))
    await asyncio.sleep(args.seconds)
    ticks = (await _ticker(http, mode="off"))["ticks"] - before
    await recorder.quiesce()
    if args.backend_pid:
        cpu, wall = _cpu_seconds(args.backend_pid) - cpu_before, time.monotonic() - started
        print(
            f"\n[{phase}] backend worker CPU {cpu:.2f} s in {wall:.1f} s ({100 * cpu / wall:.0f}% of one core)", end=""
        )
    return ticks


def _report_latency_and_bytes(label: str, samples: list[Sample], ticks: int, clients_per_room: int) -> None:
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    wire = [s.wire_bytes for s in samples]
    expected = ticks * clients_per_room
    print(f"\n[{label}] server changes: {ticks}, updates received: {len(samples)} (expected {expected})")
    if latencies:
        print(
            f"  latency ms  p50 {_percentile(latencies, 0.5):.2f}  p99 {_percentile(latencies, 0.99):.2f}"
            f"  max {max(latencies):.2f}  (n={len(latencies)})"
        )
    if wire:
        shared = [s.shared_json_bytes for s in samples]
        print(
            f"  bytes/update/client on the wire  mean {statistics.mean(wire):.0f}  min {min(wire)}  max {max(wire)}"
            f"   of which Shared's own delta (JSON) mean {statistics.mean(shared):.0f}"
        )


def _report_growth(samples: list[Sample]) -> None:
    by_len: dict[int, list[int]] = defaultdict(list)
    for s in samples:
        if s.items is not None:
            by_len[s.items].append(s.wire_bytes)
    lengths = sorted(by_len)
    if not lengths:
        return
    marks = sorted({lengths[0], *lengths[:: max(1, len(lengths) // 6)], lengths[-1]})
    table = ",  ".join(f"{n}: {statistics.mean(by_len[n]):.0f}" for n in marks)
    print(f"  list length -> bytes/update/client:  {table}")
    if len(lengths) > 1:
        first, last = lengths[0], lengths[-1]
        slope = (statistics.mean(by_len[last]) - statistics.mean(by_len[first])) / (last - first)
        print(f"  growth: {slope:.1f} bytes per list item per update (whole list re-sent each time)")


async def main(args: argparse.Namespace) -> int:
    rooms = [f"r{i}" for i in range(args.rooms)]
    recorder = Recorder()
    clients: list[ReflexClient] = []
    async with httpx.AsyncClient(base_url=args.base_url, timeout=10) as http:
        await _ticker(http, mode="off", rooms=",".join(rooms))
        await http.get("/probe/reset")
        try:
            for room in rooms:
                for _ in range(args.clients_per_room):
                    headers = BROWSER_HEADERS if args.browser_headers else None
                    client = ReflexClient(args.base_url, on_update=recorder, headers=headers)
                    recorder.rooms[client.token] = room
                    await client.connect(f"/room/{room}", {"room": room})
                    await client.wait_hydrated()
                    clients.append(client)
            await recorder.quiesce()
            joins = recorder.of("join")
            print(
                f"{len(clients)} tabs joined {len(rooms)} rooms: {len(joins)} updates during joins"
                f" (first tab of a room {joins[0].wire_bytes} B on hydrate)"
            )

            ticks = await _run_ticker_phase(http, recorder, "set", rooms, args)
            set_samples = recorder.of("set")
            _report_latency_and_bytes(f"set small var @ {args.hz:g} Hz", set_samples, ticks, args.clients_per_room)

            recorder.phase = "reset"
            await http.get("/probe/reset")
            await recorder.quiesce()
            ticks = await _run_ticker_phase(http, recorder, "append", rooms, args)
            appended = recorder.of("append")
            _report_latency_and_bytes(f"append to list @ {args.hz:g} Hz", appended, ticks, args.clients_per_room)
            _report_growth(appended)

            recorder.phase = "local"
            senders = clients[:: args.clients_per_room]  # one tab per room
            for client in senders:
                await client.send_event(LOCAL_BUMP_EVENT)
            await recorder.quiesce()
            local = recorder.of("local")
            own = sum(1 for s in local if s.shared_json_bytes == 0)
            print(
                f"\n[tab-private event] {len(senders)} tabs sent Local.bump: {len(local)} updates received,"
                f" {len(local) - own} of them by other tabs of the same room (carrying Shared)"
            )
        finally:
            await _ticker(http, mode="off")
            for client in clients:
                await client.close()

    handshakes = {c.tcp_bytes_received - c.stats.frame_bytes - c.control_frame_bytes for c in clients}
    print(
        f"\nbyte check: TCP bytes read - data frames - control frames = {sorted(handshakes)} per tab"
        " (the HTTP 101 response; one value means every frame was counted)"
    )
    other = [e for c in clients for e in c.stats.other_events]
    if other:
        print(f"other socket events: {other[:5]}")
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:3917")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients-per-room", type=int, default=3)
    parser.add_argument("--hz", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each ticker phase")
    parser.add_argument("--browser-headers", action="store_true", help="send Chrome-like upgrade headers")
    parser.add_argument("--backend-pid", type=int, help="backend worker pid, to report its CPU per phase")
    parser.add_argument("--write-app", type=Path, metavar="DIR", help="write the probe app into DIR and exit")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _parse(sys.argv[1:])
    if arguments.write_app:
        (arguments.write_app / "probe").mkdir(parents=True, exist_ok=True)
        (arguments.write_app / "probe" / "__init__.py").write_text("")
        (arguments.write_app / "probe" / "probe.py").write_text(PROBE_APP)
        (arguments.write_app / "rxconfig.py").write_text(PROBE_RXCONFIG)
        print(f"wrote {arguments.write_app}/probe/probe.py and rxconfig.py")
        sys.exit(0)
    sys.exit(asyncio.run(main(arguments)))
