"""The sandbox-start report: system against baseline, the spread, where the time goes, CPU used.

Owns the table rows (which steps are compared, which points each phase runs
between on either side) and the text printed at the end of a benchmark.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.sandbox_start_figures import Summary, format_median_ms, format_ms, render_table, summarize
from bench.sandbox_start_run import (
    CPU_PROMPTS,
    CPU_READY,
    CPU_RUNTIME,
    PROMPT,
    PROMPT_STEPS,
    READY,
    READY_LIKE_HARNESS,
    Sample,
    turn_prefix,
)
from bench.sandbox_start_setup import version_of


@dataclass(frozen=True)
class Phase:
    name: str
    system: tuple[str, str]  # the points it runs between in a system sample
    baseline: tuple[str, str] | None = None  # the matching points of a baseline sample


# (table row, system step, baseline step)
COMPARED = (
    (READY, READY, READY),
    (READY_LIKE_HARNESS, READY, READY_LIKE_HARNESS),
    *((step, step, step) for pair in PROMPT_STEPS for step in pair),
)

READY_PHASES = (
    Phase("REST: POST /api/sessions -> first event row", ("create_post", "session_stored")),
    Phase("commit; dispatcher -> sandbox_spawning row", ("session_stored", "sandbox_spawning")),
    Phase("spawn; Python start; import sandbox.entrypoint", ("sandbox_spawning", "runtime_started")),
    Phase("import harness; bridge WebSocket connect", ("runtime_started", "bridge_connected")),
    Phase("git clone (+ current branch)", ("bridge_connected", "cloned"), ("create_post", "cloned")),
    Phase("setup.sh (+ stage events)", ("cloned", "setup_done"), ("cloned", "setup_done")),
    Phase("opencode serve -> listening -> health", ("setup_done", "agent_health"), ("setup_done", "agent_health")),
    Phase("OpenCode: POST /session + GET /event", ("agent_health", "ready_emitted"), ("agent_health", "agent_ready")),
    Phase("bridge -> ready ingested (row)", ("ready_emitted", "ready_stored")),
    Phase("notifier -> SSE -> client", ("ready_stored", "ready_seen")),
)
PROMPT_PHASES = (
    Phase("REST: POST /prompts -> prompt_queued row", ("prompt_post", "prompt_stored")),
    Phase("commit; dispatcher -> prompt_started row", ("prompt_stored", "prompt_dispatched")),
    Phase("commit; send over the bridge -> sandbox", ("prompt_dispatched", "sandbox_received")),
    Phase("sandbox: git author config + ref tips", ("sandbox_received", "turn_started")),
    Phase("harness: POST prompt_async answered", ("turn_started", "prompt_sent"), ("prompt_post", "prompt_sent")),
    Phase("OpenCode: -> first step starts", ("prompt_sent", "first_emitted"), ("prompt_sent", "first_agent")),
    Phase("bridge -> event ingested (row)", ("first_emitted", "first_stored")),
    Phase("notifier -> SSE -> client", ("first_stored", "first_seen")),
)
FINISH_PHASES = (
    Phase("OpenCode: first step -> turn over", ("first_emitted", "turn_ended"), ("first_agent", "idle")),
    Phase("sandbox: look for new commits, send result", ("turn_ended", "complete_emitted")),
    Phase("bridge -> prompt_finished row", ("complete_emitted", "finished_stored")),
    Phase("notifier -> SSE -> client", ("finished_stored", "finished_seen")),
)


def phase_seconds(samples: list[Sample], points: tuple[str, str] | None, prefix: str = "") -> list[float]:
    if points is None:
        return []
    start, end = prefix + points[0], prefix + points[1]
    found = [(s.points.get(start), s.points.get(end)) for s in samples]
    return [b - a for a, b in found if a is not None and b is not None]


def comparison_table(system: list[Sample], baseline: list[Sample]) -> str:
    rows = []
    for label, system_step, baseline_step in COMPARED:
        ours = statistics.median(s.steps[system_step] for s in system)
        theirs = statistics.median(s.steps[baseline_step] for s in baseline)
        rows.append((label, f"{format_ms(ours)} ms", f"{format_ms(theirs)} ms", f"{ours / theirs:.2f}x",
                     f"{(ours - theirs) * 1000:+,.0f}"))
    return render_table(("step", "system median", "baseline median", "ratio", "overhead ms"), rows)


def spread_table(system: list[Sample], baseline: list[Sample]) -> str:
    with_p90 = len(system) >= 10
    rows = []
    for side, samples in (("system", system), ("baseline", baseline)):
        for step in samples[0].steps:
            s = summarize([sample.steps[step] for sample in samples])
            row = (f"{side}: {step}", format_ms(s.median), format_ms(s.low), format_ms(s.high))
            rows.append((*row, format_ms(s.p90)) if with_p90 else row)
    header = ("ms", "median", "min", "max")
    return render_table((*header, "p90") if with_p90 else header, rows)


def cpu_table(system: list[Sample], baseline: list[Sample]) -> str:
    rows = []
    for what in (CPU_READY, CPU_PROMPTS, CPU_RUNTIME):
        ours = [s.cpu[what] for s in system if not math.isnan(s.cpu.get(what, math.nan))]
        theirs = [s.cpu[what] for s in baseline if what in s.cpu]
        rows.append((what, format_median_ms(ours), format_median_ms(theirs)))
    return render_table(("CPU time (median ms)", "system", "baseline"), rows)


def phase_table(phases: tuple[Phase, ...], system: list[Sample], baseline: list[Sample], prefix: str = "") -> str:
    rows = []
    for phase in phases:
        ours = phase_seconds(system, phase.system, prefix)
        theirs = phase_seconds(baseline, phase.baseline, prefix)
        rows.append((phase.name, format_median_ms(ours), format_median_ms(theirs)))
    return render_table(("phase (median ms)", "system", "baseline"), rows)


def report(args: argparse.Namespace, machine: str, database_description: str,
           python_ref: tuple[Summary, Summary, Summary], system: list[Sample], baseline: list[Sample]) -> str:
    bare, runtime, with_harness = python_ref
    delays = summarize([d for s in system for d in s.event_delays])
    lines = [
        "",
        f"Sandbox start, local backend ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        f"machine:  {machine}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"opencode: {version_of([args.opencode_bin, '--version'])}; {version_of(['git', '--version'])}",
        f"database: {database_description}",
        f"runs:     {args.runs} (+{args.warmup} warm-up, not counted); model: scripted ({PROMPT!r})",
        "",
        comparison_table(system, baseline),
        "",
        spread_table(system, baseline),
        "",
        "Where the time goes: create -> ready",
        phase_table(READY_PHASES, system, baseline),
        "",
        *(line for index, (first_step, done_step) in enumerate(PROMPT_STEPS) for line in (
            f"Where the time goes: {first_step}",
            phase_table(PROMPT_PHASES, system, baseline, turn_prefix(index)),
            "",
            f"Where the time goes: {done_step} (from the first agent event)",
            phase_table(FINISH_PHASES, system, baseline, turn_prefix(index)),
            "",
        )),
        "CPU used (this process is the control plane, the HTTP client and the scripted model's thread)",
        cpu_table(system, baseline),
        "",
        f"every sandbox event, emitted -> stored (bridge + ingestion): median {format_ms(delays.median)} ms, "
        f"max {format_ms(delays.high)} ms over {delays.count} events",
        f"interpreter start, median of {bare.count}: python -c pass {format_ms(bare.median)} ms; "
        f"import sandbox.entrypoint {format_ms(runtime.median)} ms; "
        f"+ sandbox.harness.opencode {format_ms(with_harness.median)} ms",
    ]
    return "\n".join(lines)
