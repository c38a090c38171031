"""A secret set through the API reaches a real local sandbox's setup.sh and the agent's shell, and
leaves it only as ``[secret:NAME]``; a commit holding it is refused by the hook, with a warning.

Everything is real: the REST API, the store, the local backend (bubblewrap), the runtime, OpenCode
driven by the scripted model, git. The agent prints the value (and the scripted model echoes the
tool's output back as streamed text), so the value would be in the events if anything missed it.
"""

from __future__ import annotations

import hashlib
import json

from tests.support.system import RunningSystem, make_repo

NAME = "DEPLOY_KEY"
VALUE = "dk-live-3f9a7c21e5b04d68"  # only ever in the store, the sandbox's environment and its files
DIGEST = hashlib.sha256((VALUE + "\n").encode()).hexdigest()  # printenv ends the value with a newline
MARK = f"[secret:{NAME}]"


async def test_a_secret_reaches_setup_and_the_agent_and_is_stored_only_as_its_mark(
        running_system: RunningSystem, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = running_system
    response = await s.client.put(f"/api/secrets/{NAME}", json={"value": VALUE})
    assert response.status_code == 200, response.text
    repo = make_repo(tmp_path / "project", {
        "README.md": "# Project\n",
        # The script sees the secret (and prints it: what it prints is scrubbed like everything else).
        ".openinspect/setup.sh": f'#!/bin/bash\nprintf %s "${NAME}" > .setup-saw\necho "setup: ${NAME}"\n',
    })
    session = await s.create_session(repo)
    await s.wait_for_status(session["id"], "ready")
    workdir = s.workspace(session["id"]) / "repo"
    assert (workdir / ".setup-saw").read_text() == VALUE

    shown = await s.prompt(session["id"], f"#script bash command='printenv {NAME} | sha256sum; printenv {NAME}'")
    end = await s.wait_for_prompt_end(session["id"], shown["id"])
    assert end["data"]["status"] == "completed", end
    events = await s.events(session["id"])
    result = next(e for e in events if e["type"] == "tool_result" and e["message_id"] == shown["id"])
    assert DIGEST in result["data"]["output"], result  # the agent's shell had the value
    assert MARK in result["data"]["output"]
    streamed = "".join(e["data"]["text"] for e in events if e["type"] == "token" and e["message_id"] == shown["id"])
    assert MARK in streamed  # the model echoed the output back: scrubbed in the stream too
    script_output = "".join(e["data"]["text"] for e in events if e["type"] == "script_output")
    assert f"setup: {MARK}" in script_output

    # The agent commits the value: the hook refuses, the timeline says so (naming the secret only).
    commit = await s.prompt(session["id"], f"#script bash command='printenv {NAME} > leaked.txt && "
                                           "git add leaked.txt && git commit -m leak'")
    await s.wait_for_prompt_end(session["id"], commit["id"])
    events = await s.events(session["id"])
    warning = next(e for e in events if e["type"] == "warning" and e["data"]["code"] == "secret_in_commit")
    assert NAME in warning["data"]["message"] and "leaked.txt" in warning["data"]["message"]
    refused = next(e for e in events if e["type"] == "tool_result" and e["message_id"] == commit["id"])
    assert "commit refused" in refused["data"]["output"] and NAME in refused["data"]["output"]
    assert not [e for e in events if e["type"] == "artifact" and e["message_id"] == commit["id"]]
    log = await _git_log(workdir)
    assert "leak" not in log

    stored = json.dumps(events)
    assert VALUE not in stored and MARK in stored


async def _git_log(workdir) -> str:  # type: ignore[no-untyped-def]
    import asyncio

    process = await asyncio.create_subprocess_exec("git", "log", "--format=%s", cwd=workdir,
                                                   stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    return out.decode()
