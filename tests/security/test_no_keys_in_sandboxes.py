"""Sandboxes hold no provider key: a canary key is configured, and everything a sandbox can show is
searched for it.

A repository's setup script and the agent's own shell (``#script bash``) run the same probe: their
environment, ``/proc/self/environ``, their ancestors' environments, OpenCode's config files. The
canary must appear in none of what they printed (stored events), in no file of the data directory
(workspaces, the database, logs), in no process's environment or command line on this machine, and
in no log line — while the model provider did get it on every call, from the proxy.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core.models import Event
from tests.backend_jobs.model_proxy.running import system_with_model, usage_of
from tests.fakes.scripted_model import ScriptedModel
from tests.support.system import make_repo

CANARY = f"sk-canary-{secrets.token_hex(16)}"

PROBE = r"""#!/bin/bash
# What a process of the sandbox can see of secrets (printed, so the test can search it).
echo "probe: env"; env
echo "probe: /proc/self/environ"; xargs -0 -n1 < /proc/self/environ
echo "probe: OPENCODE_CONFIG=${OPENCODE_CONFIG:-}"
[ -n "${OPENCODE_CONFIG:-}" ] && cat "$OPENCODE_CONFIG" && echo
echo "probe: config files"
for dir in "${XDG_CONFIG_HOME:-}" "${OPENCODE_CONFIG%/*}" "$HOME"; do
  [ -d "$dir" ] || continue
  find "$dir" -maxdepth 4 -name '*.json' -not -path '*/node_modules/*' 2>/dev/null | while read -r f; do
    echo "== $f"; head -c 4000 "$f"; echo
  done
done
p=$PPID
for level in 1 2 3; do
  [ "$p" -gt 1 ] 2>/dev/null || break
  echo "probe: /proc/$p/environ ($(cat /proc/$p/comm 2>/dev/null))"
  xargs -0 -n1 < /proc/$p/environ 2>/dev/null
  p=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f2)
done
echo "probe: done"
"""


@pytest.fixture
def canary_model() -> Iterator[ScriptedModel]:
    """The provider: it answers only calls that carry the canary key."""
    with ScriptedModel(api_key=CANARY) as model:
        yield model


def files_holding(root: Path, needle: bytes) -> list[Path]:
    found = []
    for directory, _, names in os.walk(root):  # symlinks are not followed
        for name in names:
            path = Path(directory, name)
            try:
                if not path.is_symlink() and needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def processes_holding(needle: bytes) -> list[str]:
    """Every process on this machine whose environment or command line holds ``needle`` (those we may read)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for part in ("environ", "cmdline"):
            try:
                if needle in Path("/proc", entry, part).read_bytes():
                    found.append(f"{entry}/{part}")
            except OSError:
                continue
    return found


async def test_no_sandbox_process_can_find_the_provider_key(
        tmp_path: Path, database_url: str, canary_model: ScriptedModel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    repo = make_repo(tmp_path / "project", {
        "README.md": "# Project\n",
        ".openinspect/probe.sh": PROBE,
        ".openinspect/setup.sh": "#!/bin/bash\nbash .openinspect/probe.sh\n",
    })
    async with system_with_model(tmp_path, database_url, canary_model, CANARY) as running:
        session = await running.create_session(repo)
        message = await running.prompt(session["id"], "#script bash command='bash .openinspect/probe.sh'")
        finished = await running.wait_for_prompt_end(session["id"], message["id"])
        assert finished["data"]["status"] == "completed", finished
        processes = processes_holding(CANARY.encode())  # while the sandbox and its agent still run
        async with running.system.db.session() as db:
            stored = [json.dumps(row.model_dump(mode="json")) for row in (await db.exec(select(Event))).all()]
        rows = await usage_of(running, session["id"])
    events = [json.loads(row) for row in stored]

    # The probe ran in both places and printed what it should have.
    setup_output = "".join(str(e["data"].get("text", "")) for e in events if e["type"] == "script_output")
    agent_output = "".join(str(e["data"].get("output", "")) for e in events if e["type"] == "tool_result")
    for output in (setup_output, agent_output):
        assert "probe: /proc/self/environ" in output and "probe: done" in output, output[-2000:]
    assert "opencode-credentials.json" in agent_output and "apiKey" in agent_output  # the agent's own token
    # The canary is nowhere a sandbox could reach, nor in the control plane's log ...
    assert not [row for row in stored if CANARY in row]
    assert files_holding(tmp_path / "data", CANARY.encode()) == []
    assert processes == []
    assert CANARY not in caplog.text
    # ... while the provider got it on every call, from the proxy, and every call was metered.
    assert canary_model.requests
    for call in canary_model.requests:
        assert {k.lower(): v for k, v in call.headers.items()}["authorization"] == f"Bearer {CANARY}"
    assert len(rows) >= len(canary_model.chat_requests())
