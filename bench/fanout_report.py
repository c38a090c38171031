"""The fan-out benchmark's printed report: system against baseline, the burst, the histories."""

from __future__ import annotations

import argparse
from datetime import date

from bench.fanout_measure import machine_description, percentile
from bench.fanout_stream import StreamResult


def _ms(values: list[float], fraction: float) -> str:
    return f"{1000 * percentile(values, fraction):.1f}" if values else "-"


def report(args: argparse.Namespace, database: str, results: list[StreamResult]) -> None:
    system = next((r for r in results if r.label.startswith("system")), None)
    baseline = next((r for r in results if r.label.startswith("baseline")), None)
    histories = [r for r in results if r.history is not None]
    print(f"\nFan-out, {date.today().isoformat()}: {args.sessions} sessions x {args.viewers} viewers, "
          f"{args.rate:g} token events/s per session for {args.seconds:g} s, {database}")
    print(f"machine: {machine_description()}")
    rows: list[tuple[str, str, str, str]] = []

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a is not None and b else "-"

    def core_share(r: StreamResult | None) -> str:
        return f"{100 * r.server_cpu_seconds / r.seconds:.0f}%" if r and r.seconds > 0 else "-"

    if system or baseline:
        pairs = [("events sent", lambda r: f"{r.events:,}", None),
                 ("bridge->viewer latency p50 (ms)", lambda r: _ms(r.latencies, 0.5),
                  lambda r: percentile(r.latencies, 0.5)),
                 ("bridge->viewer latency p99 (ms)", lambda r: _ms(r.latencies, 0.99),
                  lambda r: percentile(r.latencies, 0.99)),
                 ("bytes per event per viewer", lambda r: f"{r.bytes_per_event_per_viewer:,.0f}",
                  lambda r: r.bytes_per_event_per_viewer),
                 ("updates per event per viewer", lambda r: f"{r.updates_per_event_per_viewer:.2f}", None),
                 ("median update size (bytes)", lambda r: f"{r.median_update_bytes:,.0f}", None),
                 ("bridge->stored (ack) p50 / p99 (ms)",
                  lambda r: f"{_ms(r.ack_seconds, 0.5)} / {_ms(r.ack_seconds, 0.99)}" if r.ack_seconds else "-", None),
                 ("events stored per second (offered)",
                  lambda r: f"{r.stored_per_second:,.0f} ({r.offered_per_second:g})"
                  if r.stored_per_second and r.offered_per_second else "-", None),
                 ("server CPU (share of one core)", core_share, None),
                 ("client CPU (this process, one core)", lambda r: f"{100 * r.client_cpu_seconds / r.seconds:.0f}%",
                  None)]
        for name, show, value in pairs:
            rows.append((name, show(system) if system else "-", show(baseline) if baseline else "-",
                         ratio(value(system), value(baseline)) if value and system and baseline else ""))
        width = max(len(r[0]) for r in rows)
        print(f"\n{'':{width}}  {'system':>16}  {'baseline':>16}  {'system/baseline':>15}")
        for name, a, b, c in rows:
            print(f"{name:{width}}  {a:>16}  {b:>16}  {c:>15}")
        if system:
            print(f"\nsystem checks: stored {system.stored} of {system.events} events (REST count); "
                  f"{system.foreign_updates} updates carried another session's data; "
                  f"{system.updates_without_shared} updates carried no session state; "
                  f"{system.missed} viewers missed their session's last event")
    for r in (r for r in results if r.label.startswith("burst")):
        print(f"\nBurst: {r.events:,} events ({r.events // r.sessions} per session) sent back to back: stored "
              f"{r.stored_per_second or 0:,.0f} events/s (REST count {r.stored:,}); bridge->stored p50/p99 "
              f"{_ms(r.ack_seconds, 0.5)} / {_ms(r.ack_seconds, 0.99)} ms; every viewer up to date "
              f"{r.up_to_date_seconds:.2f} s after the first send; per viewer {r.updates_per_event_per_viewer:.2f} "
              f"updates and {r.bytes_per_event_per_viewer:,.0f} bytes per event; server CPU {core_share(r)}, "
              f"client CPU {100 * r.client_cpu_seconds / r.seconds:.0f}% of one core")
    if histories:
        print(f"\nHistory: one session, {args.viewers} viewers, {args.history_events} new events at "
              f"{args.history_rate:g}/s after the history was filled")
        header = (f"{'history (events)':>16}  {'page open B/viewer':>18}  {'B/new event/viewer':>18}  "
                  f"{'median update B':>15}  {'latency p50/p99 ms':>18}  {'server CPU':>10}")
        print(header)
        for r in histories:
            print(f"{r.history:>16,}  {r.join_bytes_per_viewer or 0:>18,.0f}  {r.bytes_per_event_per_viewer:>18,.0f}  "
                  f"{r.median_update_bytes:>15,.0f}  {_ms(r.latencies, 0.5) + ' / ' + _ms(r.latencies, 0.99):>18}  "
                  f"{core_share(r):>10}")
        if len(histories) >= 2:
            first, last = histories[0], histories[-1]
            print(f"bytes per new event, {last.history:,} vs {first.history:,} events of history: "
                  f"{last.bytes_per_event_per_viewer / first.bytes_per_event_per_viewer:.2f}x")
