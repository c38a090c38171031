"""The browser side of presence: a tiny script and the endpoint it reports to.

Why not Reflex events: every event from a tab linked to a shared state makes
Reflex send an update to every other tab of that session, so a heartbeat every
few seconds from each viewer would cost viewers² updates. A plain HTTP POST
(with the tab's Reflex token, to tie it to the tab that joined) costs one
request and touches no state; the live projection publishes the outcome once.

Like the API, it answers only a signed-in caller (the boundary, ``http/authn``,
checks the cookie and the request's origin before this runs), and it reads at
most a few KiB of body.
"""

from __future__ import annotations

from contextlib import suppress

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openinspect_app import running
from openinspect_app.live.presence import HEARTBEAT_INTERVAL_SECONDS
from openinspect_core.services import sessions
from openinspect_core.services.errors import ServiceError

PREFIX = "/_ui/"  # the page helpers' own paths, protected like the API
PATH = PREFIX + "presence/{session_id}"
MAX_REPORT_BYTES = 4096  # a report is a few dozen bytes


async def _bounded_body(request: Request) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REPORT_BYTES:
            return None
    return body


class Report(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    input_seconds_ago: float = Field(default=0.0, ge=0)
    typing: bool = False
    has_text: bool = False  # the prompt box is not empty (typing then warms a sandbox)
    leaving: bool = False


async def report_presence(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    body = await _bounded_body(request)
    if body is None:
        return JSONResponse({"error": {"code": "too_large", "message": f"a presence report is at most "
                                       f"{MAX_REPORT_BYTES} bytes"}}, status_code=413)
    try:
        report = Report.model_validate_json(body)
        r = running.get()
    except (ValueError, running.NotRunning) as error:
        return JSONResponse({"error": {"code": "invalid_request", "message": str(error)[:200]}}, status_code=400)
    presence = r.live.presence
    if report.leaving:
        presence.leave(session_id, report.token)
    elif not presence.report(session_id, report.token, input_seconds_ago=report.input_seconds_ago,
                             typing=report.typing):
        return JSONResponse({"joined": False}, status_code=409)  # the page re-joins on its next load
    r.live.presence_changed(session_id)
    if report.typing and report.has_text:
        # An archived or unknown session is not warmed; the heartbeat itself still counts.
        with suppress(ServiceError):
            async with r.context.work() as work:
                if await sessions.request_warm(work.db, session_id):
                    work.changed(session_id)
    return JSONResponse({"joined": True})


# Runs once per tab (guarded); reports only while the page is a session page.
SCRIPT = """
(() => {
  if (window.__openinspectPresence) return;
  window.__openinspectPresence = true;
  let lastInput = Date.now(), lastTyping = 0;
  const touched = () => { lastInput = Date.now(); };
  for (const kind of ["mousemove", "keydown", "scroll", "touchstart", "click"]) {
    window.addEventListener(kind, touched, { passive: true });
  }
  const report = (extra) => {
    const match = location.pathname.match(/^\\/sessions\\/([0-9a-f]+)\\/?$/);
    const token = sessionStorage.getItem("token");
    if (!match || !token) return;
    fetch("/_ui/presence/" + match[1], {
      method: "POST", keepalive: true, headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, input_seconds_ago: (Date.now() - lastInput) / 1000, ...extra }),
    }).catch(() => {});
  };
  setInterval(() => report({}), INTERVAL_MS);
  window.addEventListener("pagehide", () => report({ leaving: true }));
  document.addEventListener("input", (event) => {
    const box = event.target;
    if (!box || box.id !== "prompt") return;
    const now = Date.now();
    if (now - lastTyping < 1000) return;  // at most one report a second while typing
    lastTyping = now;
    report({ typing: true, has_text: box.value.trim().length > 0 });
  });
})();
""".replace("INTERVAL_MS", str(int(HEARTBEAT_INTERVAL_SECONDS * 1000)))
