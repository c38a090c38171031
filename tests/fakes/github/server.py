"""The fake's one HTTP server: a Starlette app served by uvicorn on loopback.

Owns the URL map — ``/api/v3/...`` (REST), ``/login/oauth/...`` (OAuth web flow),
``/{owner}/{repo}[.git]/...`` (git smart HTTP) — and the server's life:
:func:`serve_fake_github` binds ``127.0.0.1:<free port>`` (or the given one), runs
uvicorn with its own event loop in a daemon thread (so synchronous tests, asyncio
tests and other processes can all call it), yields the :class:`.fake.FakeGitHub`,
and stops the server when the block ends. REST routes run their logic in worker
threads under the world's lock; git's ``http-backend`` runs as a subprocess without it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import routes_apps, routes_oauth, routes_repos, routes_users
from .fake import FakeGitHub
from .git_http import serve_git
from .http_common import Reply, RestContext, Services, not_found, run_rest, to_response

REST_MODULES = (routes_users, routes_apps, routes_repos)
GIT_SUFFIXES = ("info/refs", "git-upload-pack", "git-receive-pack")
START_TIMEOUT_SECONDS = 10.0


def _rest_endpoint(services: Services, handler: Callable[[RestContext], Reply]) -> Callable[
        [Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        ctx = RestContext(services, request.method, request.url.path, str(request.url.replace(query="")),
                          request.query_params, request.headers, body, dict(request.path_params))  # type: ignore[arg-type]
        client = request.client.host if request.client else ""
        reply = await anyio.to_thread.run_sync(run_rest, services, ctx, handler, client)
        return to_response(reply)

    return endpoint


def _unknown_route(ctx: RestContext) -> Reply:
    raise not_found()


async def _oauth_params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        if isinstance(data, dict):
            params.update({str(k): str(v) for k, v in data.items() if v is not None})
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def build_app(services: Services) -> Starlette:
    routes: list[Route] = []
    for module in REST_MODULES:
        for method, path, handler in module.ROUTES:
            routes.append(Route("/api/v3" + path, _rest_endpoint(services, handler), methods=[method]))
    routes.append(Route("/api/v3/{rest:path}", _rest_endpoint(services, _unknown_route),
                        methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))

    async def oauth(request: Request) -> Response:
        params = await _oauth_params(request)
        return await anyio.to_thread.run_sync(routes_oauth.handle, services, request.method, request.url.path,
                                              params, request.headers.get("accept", ""))

    routes.append(Route("/login/oauth/authorize", oauth, methods=["GET", "POST"]))
    routes.append(Route("/login/oauth/access_token", oauth, methods=["POST"]))
    for suffix in GIT_SUFFIXES:
        async def git(request: Request, suffix: str = suffix) -> Response:
            request.path_params["rest"] = suffix
            return await serve_git(services, request)

        routes.append(Route(f"/{{owner}}/{{repo}}/{suffix}", git, methods=["GET", "POST"]))
    return Starlette(routes=routes)


class BackgroundServer:
    """uvicorn serving an ASGI app on an already bound socket, in a thread with its own event loop."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        config = uvicorn.Config(app, log_level="warning", log_config=None, access_log=False, lifespan="off",
                                loop="asyncio", ws="none", timeout_graceful_shutdown=2, server_header=False)
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="fake-github",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextmanager
def serve_fake_github(data_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[FakeGitHub]:
    """Serve a new, empty fake GitHub on ``host:port`` (a free port by default) until the block ends.

    ``data_dir`` holds the bare repositories (under ``repos/``).
    """
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    fake = FakeGitHub(f"http://{host}:{actual_port}", Path(data_dir))
    server = BackgroundServer(build_app(fake.services), sock)
    try:
        server.start()
    except BaseException:
        sock.close()
        raise
    try:
        yield fake
    finally:
        server.stop()
