"""What one sandbox-start run is: its fixed inputs, how it fails, what it yields and the names of its steps.

Shared by both sides of the comparison (``bench/sandbox_start_system.py``,
``bench/sandbox_start_baseline.py``) and by the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.sandbox_start_streams import Arrival

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Why 120: a start takes ~3 s here; a loaded 2-core machine is slower, but past two minutes it is broken.
WAIT_SECONDS = 120.0
HTTP_TIMEOUT_SECONDS = 30.0
# Why 2: a fresh OpenCode server's first turn is slow (~1.5 s here, its own warm-up);
# the second shows what each later prompt costs.
PROMPTS_PER_RUN = 2
MODEL = "openinspect/scripted"
PROMPT = "#script text text=hello"
REPO_FILES = {
    "README.md": "# Benchmark project\n",
    ".openinspect/setup.sh": "#!/bin/bash\necho 'setup says hello'\n",
}
# Events of a turn that come from the agent (the session title is a side request, not the turn).
TURN_EVENT_TYPES = frozenset({"step_start", "token", "tool_call", "tool_result", "step_finish", "error"})

READY, READY_LIKE_HARNESS = "create -> ready", "create -> ready (baseline like the harness)"
# (-> first agent event, -> finished) for each prompt of a run, in order.
PROMPT_STEPS = (
    ("prompt -> first agent event", "prompt -> finished"),
    ("2nd prompt -> first agent event", "2nd prompt -> finished"),
)
CPU_READY, CPU_PROMPTS = "this process, create -> ready", "this process, the prompts"
CPU_RUNTIME = "sandbox runtime process, whole run (not OpenCode)"


class RunFailed(RuntimeError):
    """A run did not get where it should; the message holds what the system stored."""


@dataclass
class Sample:
    """One run: the compared steps' durations and the named points its phases are cut at (seconds)."""

    steps: dict[str, float]
    points: dict[str, float | None] = field(default_factory=dict)
    event_delays: list[float] = field(default_factory=list)  # sandbox events: emitted -> stored
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used, by what and when


@dataclass(frozen=True)
class Turn:
    """One prompt as the client saw it."""

    posted_perf: float
    posted_wall: float
    first: Arrival  # the turn's first event from the agent
    done: Arrival  # prompt_finished (system), the session going idle (baseline)
    message_id: str = ""
    first_raw: Arrival | None = None  # baseline: the first /event event of the session after the POST
    answered_perf: float | None = None  # baseline: when prompt_async answered


def turn_prefix(index: int) -> str:
    """The prefix of the points of a run's ``index``-th prompt (from 0)."""
    return f"{index + 1}:"


def turn_steps(turns: list[Turn]) -> dict[str, float]:
    steps: dict[str, float] = {}
    for (first_step, done_step), turn in zip(PROMPT_STEPS, turns, strict=True):
        steps[first_step] = turn.first.perf - turn.posted_perf
        steps[done_step] = turn.done.perf - turn.posted_perf
    return steps
