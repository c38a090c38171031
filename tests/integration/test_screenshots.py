"""The agent's screenshot tool end to end below the web UI: a repository whose ``start.sh`` serves a small
page inside the sandbox, the real OpenCode driven by the scripted model calling the tool, Playwright's
Chromium (the machine's) capturing it in the local sandbox, the runtime uploading it with the sandbox's
token, and the control plane keeping it in the store and announcing it in the timeline."""

from __future__ import annotations

from pathlib import Path

from openinspect_protocol.images import sniff

from openinspect_core.models import Artifact
from tests.support.http import free_port
from tests.support.images import decode_png
from tests.support.system import RunningSystem, make_repo

PAGE = ("<!doctype html><html><head><title>Tiny app</title><style>body{margin:0;background:#fff}"
        "h1{margin:0;padding:40px;background:rgb(20,90,200);color:#fff;font:48px sans-serif}</style></head>"
        "<body><h1>Hello from the sandbox</h1></body></html>")


def ended_or_created(event: dict) -> bool:
    """The screenshot's event, or the prompt's end without one (so a failure says why at once)."""
    return event["type"] in ("artifact_created", "prompt_finished")


def web_repo(root: Path, port: int) -> Path:
    return make_repo(root, {
        "site/index.html": PAGE,
        # The dev server start.sh leaves running in the sandbox (as a repository's would).
        ".openinspect/start.sh": f"#!/bin/bash\nnohup python3 -m http.server {port} --bind 127.0.0.1 --directory site "
                                 ">server.log 2>&1 &\nfor i in $(seq 100); do python3 -c 'import socket,sys; "
                                 f"socket.create_connection((\"127.0.0.1\", {port}), 1)' 2>/dev/null && exit 0; "
                                 "sleep 0.1; done; cat server.log; exit 1\n",
    })


async def test_the_agent_screenshots_the_page_its_sandbox_serves(running_system: RunningSystem,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    session = await running_system.create_session(web_repo(tmp_path / "web", port))
    message = await running_system.prompt(session["id"], f'#script screenshot port={port} caption="The tiny app"')
    created = await running_system.wait_for(session["id"], ended_or_created, timeout_seconds=60)
    assert created["type"] == "artifact_created", created
    finished = await running_system.wait_for_prompt_end(session["id"], message["id"])
    assert finished["data"]["status"] == "completed", finished

    data = created["data"]
    assert (data["caption"], data["page_title"], data["viewport"]) == ("The tiny app", "Tiny app", "desktop")
    assert data["page_url"] == f"http://127.0.0.1:{port}/" and created["message_id"] == message["id"]
    async with running_system.system.context.db.session() as db:
        row = await db.get(Artifact, data["artifact_id"])
    assert row is not None and row.session_id == session["id"] and row.content_type == "image/png"
    image = await running_system.system.context.artifacts.get(row.storage_key or "")
    info = sniff(image)
    assert (info.width, info.height) == (1280, 800) == (data["width"], data["height"])
    # The heading's blue band is at the top of the image, the white page below it: the page was rendered.
    _, _, rows = decode_png(image)
    assert rows[10][30:33] == bytes((20, 90, 200)) and rows[700][30:33] == bytes((255, 255, 255))

    events = await running_system.events(session["id"])
    [result] = [e for e in events if e["type"] == "tool_result" and e["data"]["tool"].endswith("_screenshot")]
    assert result["data"]["status"] == "completed"
    assert data["artifact_id"] in result["data"]["output"] and "Hello from the sandbox" in result["data"]["output"]
