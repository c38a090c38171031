"""The agent's screenshot tool: a minimal MCP server on stdio that captures a page and hands it on.

OpenCode starts it as a local MCP server (``mcp.openinspect_browser`` in the config the
harness writes: ``<python> -P -s -m sandbox.tools.screenshot_mcp``), so the model sees one tool,
``openinspect_browser_screenshot``. A call opens the URL in Chromium through Playwright
(the sandbox image's own browser, else the machine's ``chromium``), waits for the page
to settle (load, then the network quiet for a moment, fonts, two frames), captures the
viewport or the full page at desktop (1280x800) or phone (390x844) size, and sends the
PNG to the runtime's Unix socket (path in :data:`SOCKET_ENV`): one JSON line (what it
is, how many bytes), then the bytes. The runtime uploads it to the control plane with
the sandbox's token (:mod:`sandbox.screenshots`), which keeps it and shows it in the
session's timeline; its one-line answer becomes the tool's text.

Without a ``url`` (or with only a ``port``) it captures the app the repository declared
as its preview: :data:`PREVIEW_URLS_ENV` (``{"<port>": "<url>"}``, the URLs the sandbox
reaches its own dev servers at), else ``http://127.0.0.1:<port>/``.

Why a server of its own beside :mod:`sandbox.tools.pull_request_mcp` (and not a second
tool there): that one exists only in sessions that push a branch, this one in every
session. Both speak MCP through :mod:`sandbox.tools.mcp_stdio`. Standard library and
Playwright only; it holds no secret: the socket accepts images for this sandbox's own
session, nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any
from urllib.parse import urlsplit

from sandbox.tools import mcp_stdio
from sandbox.tools.mcp_stdio import text_result as _text

SERVER_NAME = "openinspect_browser"
TOOL_NAME = "screenshot"
SOCKET_ENV = "OPENINSPECT_SCREENSHOT_SOCKET"
BROWSER_ENV = "OPENINSPECT_SCREENSHOT_BROWSER"  # a Chromium to use instead of the one found
# openinspect_protocol.previews.PREVIEW_URLS_ENV (a test keeps the two equal): port -> URL in the sandbox.
PREVIEW_URLS_ENV = "OPENINSPECT_PREVIEW_URLS"
LOOPBACK = "127.0.0.1"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
# Why these: a dev server answers in seconds; a page that never goes quiet (a hot-reload socket, a
# poll) is captured after a short wait rather than never.
NAVIGATION_TIMEOUT_MS = 30_000
SETTLE_TIMEOUT_MS = 5_000
ANSWER_TIMEOUT_SECONDS = 120.0
MAX_ANSWER_BYTES = 64 * 1024
BROWSERS = ("chromium", "chromium-browser", "google-chrome")

TOOL = {
    "name": TOOL_NAME,
    "description": (
        "Take a screenshot of a web page in a real browser (Chromium) inside this sandbox and attach it to "
        "the session, where people see it in the timeline. Use it to show the app you changed: start it (or "
        "let .openinspect/start.sh start it), then call this with its URL, e.g. http://127.0.0.1:3000/. "
        "Without a url it captures the repository's declared preview. Returns the saved screenshot's id, "
        "the page's title and its first heading."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "http(s) URL to open, e.g. http://127.0.0.1:3000/"},
            "port": {"type": "integer", "description": "Instead of url: a port of this sandbox (its preview)."},
            "full_page": {"type": "boolean", "default": False,
                          "description": "Capture the whole scrollable page, not only the viewport."},
            "device": {"type": "string", "enum": list(VIEWPORTS), "default": "desktop",
                       "description": "desktop (1280x800) or phone (390x844) width."},
            "caption": {"type": "string", "description": "What the screenshot shows, for the people reading."},
            "wait_for_text": {"type": "string", "description": "Wait until this text is on the page first."},
        },
    },
}


class ToolError(Exception):
    """A call that cannot be done; the text is the tool's answer."""


def target_url(arguments: dict[str, Any], environ: dict[str, str]) -> str:
    """The URL a call means: ``url``, a ``port`` of this sandbox, or the declared preview."""
    url = str(arguments.get("url") or "").strip()
    previews = _preview_urls(environ.get(PREVIEW_URLS_ENV, ""))
    port = arguments.get("port")
    if not url and port is not None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ToolError(f"port must be a number from 1 to 65535, got {port!r}")
        url = previews.get(str(port)) or f"http://{LOOPBACK}:{port}/"
    if not url:
        if not previews:
            raise ToolError("give a url (e.g. http://127.0.0.1:3000/): this repository declares no preview")
        url = next(iter(previews.values()))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"only http(s) URLs can be captured, got {url!r}")
    return url


def _preview_urls(raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


def find_browser(environ: dict[str, str]) -> str | None:
    """The Chromium to launch: the setting, Playwright's own (the sandbox image), else the machine's."""
    if environ.get(BROWSER_ENV):
        return environ[BROWSER_ENV]
    if environ.get("PLAYWRIGHT_BROWSERS_PATH"):
        return None  # the image installed Playwright's Chromium: let Playwright find it
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def capture(url: str, *, device: str, full_page: bool, wait_for_text: str | None,
            environ: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The PNG of ``url`` and what the page says of itself (final URL, title, first heading)."""
    from playwright.sync_api import Error as PlaywrightError  # imported per call: only this tool needs it
    from playwright.sync_api import sync_playwright

    viewport = VIEWPORTS[device]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_browser(environ), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": viewport["width"], "height": viewport["height"]},
                                              is_mobile=device == "phone",
                                              has_touch=device == "phone", device_scale_factor=1)
                page = context.new_page()
                response = page.goto(url, wait_until="load", timeout=NAVIGATION_TIMEOUT_MS)
                if response is not None and response.status >= 400:
                    raise ToolError(f"{url} answered HTTP {response.status}; nothing was captured")
                _settle(page, wait_for_text)
                image = page.screenshot(full_page=full_page, type="png", animations="disabled", caret="hide")
                about = {"url": page.url, "title": page.title(),
                         "heading": page.evaluate("() => (document.querySelector('h1') || {}).innerText || ''")}
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise ToolError(f"the browser could not capture {url}: {str(exc).splitlines()[0]}") from None
    return image, about


def _settle(page: Any, wait_for_text: str | None) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_load_state("networkidle", timeout=SETTLE_TIMEOUT_MS)
    except PlaywrightTimeout:
        pass  # a page that never goes quiet is captured as it is
    if wait_for_text:
        try:
            page.get_by_text(wait_for_text).first.wait_for(timeout=NAVIGATION_TIMEOUT_MS)
        except PlaywrightTimeout:
            raise ToolError(f"the text {wait_for_text!r} did not appear on the page") from None
    page.evaluate("() => document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => "
                  "requestAnimationFrame(r))))")


def send_to_runtime(header: dict[str, Any], image: bytes, socket_path: str) -> dict[str, Any]:
    """One upload through the runtime's socket: the header line, the bytes; its one-line JSON answer."""
    request = json.dumps({**header, "size_bytes": len(image)}).encode() + b"\n" + image
    return mcp_stdio.ask_runtime(socket_path, request, timeout_seconds=ANSWER_TIMEOUT_SECONDS,
                                 max_answer_bytes=MAX_ANSWER_BYTES)


def call_tool(params: dict[str, Any], socket_path: str | None, environ: dict[str, str]) -> dict[str, Any]:
    if params.get("name") != TOOL_NAME:
        return _text(f"unknown tool {params.get('name')!r}", error=True)
    if not socket_path:
        return _text("screenshots are not available in this session", error=True)
    arguments = params.get("arguments") or {}
    device = str(arguments.get("device") or "desktop")
    if device not in VIEWPORTS:
        return _text(f"device must be one of {', '.join(VIEWPORTS)}, got {device!r}", error=True)
    full_page = bool(arguments.get("full_page", False))
    try:
        url = target_url(arguments, environ)
        image, about = capture(url, device=device, full_page=full_page,
                               wait_for_text=str(arguments.get("wait_for_text") or "") or None, environ=environ)
        answer = send_to_runtime({"caption": str(arguments.get("caption") or "")[:500],
                                  "page_url": about["url"][:2000], "page_title": about["title"][:300],
                                  "viewport": device, "full_page": full_page}, image, socket_path)
    except ToolError as exc:
        return _text(str(exc), error=True)
    except (OSError, ValueError) as exc:
        return _text(f"could not reach the sandbox runtime: {exc}", error=True)
    if not answer.get("ok"):
        return _text(f"The screenshot was not saved: {answer.get('error') or 'no reason given'}", error=True)
    heading = f"; its first heading reads {about['heading'].strip()[:200]!r}" if about["heading"].strip() else ""
    return _text(f"Screenshot {answer.get('artifact_id')} saved ({device}, {'full page' if full_page else 'viewport'}, "
                 f"{len(image):,} bytes PNG) of {about['url']}, titled {about['title'][:200]!r}{heading}. "
                 "People see it in the session's timeline.")


def handle(message: dict[str, Any], socket_path: str | None, environ: dict[str, str]) -> dict[str, Any] | None:
    """The JSON-RPC response to ``message``; None for a notification."""
    return mcp_stdio.handle(message, server_name=SERVER_NAME, tools=[TOOL],
                            call_tool=lambda params: call_tool(params, socket_path, environ))


def serve(stdin: Any, stdout: Any, socket_path: str | None, environ: dict[str, str]) -> None:
    """Answer the MCP client on ``stdin``/``stdout`` until it closes."""
    mcp_stdio.serve(stdin, stdout, lambda message: handle(message, socket_path, environ))


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout, os.environ.get(SOCKET_ENV), dict(os.environ))
