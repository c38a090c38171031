"""The agent's screenshot tool: the MCP server alone (as OpenCode runs it), the runtime's desk, and what the
agent is told. (The real OpenCode calling it in a real sandbox: tests/integration/test_screenshots.py.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openinspect_protocol.artifacts import UploadHeader, UploadResult
from openinspect_protocol.previews import PREVIEW_URLS_ENV

from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode_config import SCREENSHOT_TOOL, instructions_text, opencode_config, screenshot_mcp_server
from sandbox.screenshots import ScreenshotDesk, UploadFailed
from sandbox.tools import screenshot_mcp
from tests.support.images import png


async def mcp_call(arguments: dict[str, object], env: dict[str, str]) -> dict:
    """Run the MCP server as OpenCode does (its command and environment, stdio) and call the tool once."""
    messages = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "screenshot", "arguments": arguments}},
    ]
    server = screenshot_mcp_server(env.get(screenshot_mcp.SOCKET_ENV, ""))  # as OpenCode is told to run it
    process = await asyncio.create_subprocess_exec(*server["command"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                   env={**env, **server["environment"]})
    stdout, _ = await asyncio.wait_for(process.communicate("".join(json.dumps(m) + "\n" for m in messages).encode()),
                                       60)
    answers = {a["id"]: a for a in map(json.loads, stdout.decode().splitlines())}
    assert [t["name"] for t in answers[1]["result"]["tools"]] == ["screenshot"]
    return answers[2]["result"]


@pytest.mark.parametrize(("arguments", "env", "error"), [
    ({"url": "http://127.0.0.1:1/"}, {}, "screenshots are not available in this session"),
    ({"url": "file:///etc/passwd"}, {screenshot_mcp.SOCKET_ENV: "/nowhere"}, "only http(s) URLs"),
    ({}, {screenshot_mcp.SOCKET_ENV: "/nowhere"}, "this repository declares no preview"),
    ({"url": "http://127.0.0.1:1/", "device": "tablet"}, {screenshot_mcp.SOCKET_ENV: "/nowhere"},
     "device must be one of desktop, phone"),
])
async def test_the_tool_refuses_what_it_cannot_do(arguments: dict[str, object], env: dict[str, str],
                                                  error: str) -> None:
    result = await mcp_call(arguments, env)
    assert result["isError"] and error in result["content"][0]["text"]


def test_which_page_a_call_means() -> None:
    previews = {PREVIEW_URLS_ENV: json.dumps({"5173": "http://127.0.0.1:5173/app/"})}
    assert screenshot_mcp.PREVIEW_URLS_ENV == PREVIEW_URLS_ENV  # the tool's copy of the protocol's name
    assert screenshot_mcp.target_url({}, previews) == "http://127.0.0.1:5173/app/"
    assert screenshot_mcp.target_url({"port": 5173}, previews) == "http://127.0.0.1:5173/app/"
    assert screenshot_mcp.target_url({"port": 8080}, previews) == "http://127.0.0.1:8080/"
    assert screenshot_mcp.target_url({"url": "https://example.test/x"}, {}) == "https://example.test/x"
    with pytest.raises(screenshot_mcp.ToolError, match="port must be"):
        screenshot_mcp.target_url({"port": 70000}, {})


class Uploads:
    """The desk's uploader, recorded (the real one speaks to a real server in tests/backend_jobs)."""

    def __init__(self, answer: UploadResult | Exception) -> None:
        self.answer = answer
        self.sent: list[tuple[UploadHeader, bytes]] = []

    async def upload(self, header: UploadHeader, data: bytes) -> UploadResult:
        self.sent.append((header, data))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def ask(desk: ScreenshotDesk, request: dict[str, Any], data: bytes) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(desk.socket_path))
    writer.write(json.dumps({**request, "size_bytes": len(data)}).encode() + b"\n" + data)
    await writer.drain()
    answer = json.loads(await reader.readline())
    writer.close()
    return answer  # type: ignore[no-any-return]



async def test_the_desk_uploads_an_image_with_the_running_prompt() -> None:
    uploads = Uploads(UploadResult(ok=True, artifact_id="a" * 32))
    desk = ScreenshotDesk(uploads, lambda: "m1")  # type: ignore[arg-type]
    await desk.start()
    try:
        answer = await ask(desk, {"caption": "after", "page_url": "http://127.0.0.1:3000/", "viewport": "phone"}, png())
        refused = await ask(desk, {"caption": "x"}, b"<html>not an image</html>")
    finally:
        await desk.close()
    assert answer == {"ok": True, "artifact_id": "a" * 32}
    [(header, data)] = uploads.sent  # the HTML never left the sandbox
    assert (header.message_id, header.caption, header.viewport, data) == ("m1", "after", "phone", png())
    assert not refused["ok"] and "not a PNG, JPEG or WebP image" in refused["error"]
    assert not desk.socket_path.exists()


@pytest.mark.parametrize(("answer", "error"), [
    (UploadResult(ok=False, error="the image is 12 bytes; the limit is 10"), "the limit is 10"),
    (UploadFailed("the control plane refused the upload (HTTP 403: nope)"), "HTTP 403: nope"),
])
async def test_the_control_planes_refusal_reaches_the_agent(answer: UploadResult | Exception, error: str) -> None:
    desk = ScreenshotDesk(Uploads(answer), lambda: None)  # type: ignore[arg-type]
    await desk.start()
    try:
        reply = await ask(desk, {}, png())
    finally:
        await desk.close()
    assert not reply["ok"] and error in reply["error"]


def test_every_session_gets_the_tool_and_is_told_about_it(tmp_path: Path) -> None:
    config = AgentConfig(workdir=tmp_path, state_dir=tmp_path / "state", model="openinspect/scripted",
                         binary="opencode", provider=ProviderConfig(base_url="http://127.0.0.1:1/v1"),
                         screenshot_socket="/tmp/s.sock")
    server = opencode_config(config)["mcp"]["openinspect_browser"]
    assert server["command"][-2:] == ["-m", "sandbox.tools.screenshot_mcp"]
    assert server["environment"][screenshot_mcp.SOCKET_ENV] == "/tmp/s.sock"
    assert SCREENSHOT_TOOL == "openinspect_browser_screenshot"
    text = instructions_text(config)
    assert SCREENSHOT_TOOL in text and "http://127.0.0.1:<port>/" in text and PREVIEW_URLS_ENV in text
