"""The API's own route table, as data: what the authorization matrix (tests/security) walks.

Generated from the built app, so a new route is covered the moment it exists. The
Reflex event handlers have their own list beside this one (the web UI's side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from openinspect_app.api.app import PUBLIC_PATHS, SIGNED_PATHS
from openinspect_app.previews.routes import GRANTED_PATH

_PARAM = re.compile(r"{([^}:]+)(:[^}]+)?}")


@dataclass(frozen=True)
class HttpRoute:
    path: str  # as declared, e.g. /api/sessions/{session_id}
    method: str
    public: bool  # listed in PUBLIC_PATHS: answers without sign-in credentials
    signed: bool = False  # listed in SIGNED_PATHS: its sender's signature over the body is its credential
    granted: bool = False  # a live preview's: the grant in its path is its credential, never the cookie

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(m.group(1) for m in _PARAM.finditer(self.path))

    def url(self, **values: str) -> str:
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)


def http_routes(api: FastAPI) -> list[HttpRoute]:
    """Every (path, method) the API app answers, HEAD and OPTIONS aside (they follow GET and CORS)."""
    found: list[HttpRoute] = []
    for route in iter_route_contexts(api.routes):  # included routers flattened, with their prefixes
        if route.path is None or not route.methods:
            continue  # a mount, or a WebSocket (a live preview's: tests/integration/test_previews.py)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append(HttpRoute(route.path, method, route.path in PUBLIC_PATHS, route.path in SIGNED_PATHS,
                                   route.path == GRANTED_PATH))
    return found
