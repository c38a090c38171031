"""CORS for the app's own origin only, with credentials; a preflight from any other origin is refused.

Starlette's CORS middleware does the work; it is built for the policy in force
(the settings arrive when the server starts, after the app was assembled).
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from openinspect_app.http.policy import Current, HttpPolicy

METHODS = ["GET", "POST", "DELETE"]
HEADERS = ["authorization", "content-type", "last-event-id"]


class Cors:
    def __init__(self, app: ASGIApp, current: Current) -> None:
        self.app = app
        self.current = current
        self._built: tuple[HttpPolicy, CORSMiddleware] | None = None

    def _for(self, policy: HttpPolicy) -> CORSMiddleware:
        if self._built is None or self._built[0] is not policy:
            self._built = (policy, CORSMiddleware(self.app, allow_origins=list(policy.origins), allow_methods=METHODS,
                                                  allow_headers=HEADERS, allow_credentials=True, max_age=600))
        return self._built[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        attached = self.current()
        if scope["type"] != "http" or attached is None:
            await self.app(scope, receive, send)
            return
        await self._for(attached.policy)(scope, receive, send)
