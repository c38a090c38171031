"""git over smart HTTP for the fake's repositories, through ``git http-backend`` (CGI).

Owns ``/{owner}/{repo}[.git]/info/refs?service=…``, ``…/git-upload-pack`` and
``…/git-receive-pack`` and GitHub's rules for them: HTTP Basic auth whose password
is an installation token (user name ``x-access-token``, any is accepted) or a user
token; fetch needs ``contents: read`` on the repository (anonymous fetch of a
public repository works), push needs ``contents: write``. Missing or invalid
credentials: 401 with ``WWW-Authenticate: Basic realm="GitHub"`` (so git asks its
credential helper); a token that may not see the repository: 404 "Repository not
found."; read-only for a push: 403 "Write access to repository not granted.".
Pushes really update the bare repository.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .http_common import Caller, RecordedRequest, Services
from .world import Repo, level_at_least

log = logging.getLogger("tests.fakes.github.git_http")

REALM = 'Basic realm="GitHub"'
BACKEND_TIMEOUT_SECONDS = 120


def _caller(services: Services, authorization: str | None) -> Caller | None:
    """The caller named by Basic credentials; ``Caller(None)`` when there are none; None when invalid."""
    if not authorization:
        return Caller(None)
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    token = services.tokens.valid(password, services.world.now())
    if token is None or token.kind == "refresh":
        return None
    return Caller(f"basic-{token.kind}", app=token.app, token=token)


def _decide(services: Services, repo: Repo | None, caller: Caller | None, write: bool) -> Response | None:
    """None when the request may go on; else GitHub's refusal."""
    if caller is None:
        return PlainTextResponse("Invalid username or token. Password authentication is not supported for Git "
                                 "operations.\n", status_code=401, headers={"WWW-Authenticate": REALM})
    if caller.kind is None:
        if repo is not None and not repo.private and not write:
            return None
        return PlainTextResponse("", status_code=401, headers={"WWW-Authenticate": REALM})
    level = services.world.repo_permission(caller, repo, "contents") if repo is not None else None
    if level is None:
        return PlainTextResponse("Repository not found.\n", status_code=404)
    if write and not level_at_least(level, "write"):
        return PlainTextResponse("Write access to repository not granted.\n", status_code=403)
    return None


def _cgi_response(output: bytes) -> Response:
    head, sep, payload = output.partition(b"\r\n\r\n")
    if not sep:
        head, _, payload = output.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    return Response(payload, status_code=status, headers=headers)


async def serve_git(services: Services, request: Request) -> Response:
    owner, name, rest = request.path_params["owner"], request.path_params["repo"], request.path_params["rest"]
    name = name.removesuffix(".git")
    service = request.query_params.get("service", "") if rest == "info/refs" else rest
    write = service == "git-receive-pack"
    body = await request.body()
    with services.world.lock:
        repo = services.world.repo(f"{owner}/{name}")
        caller = _caller(services, request.headers.get("authorization"))
        refusal = _decide(services, repo, caller, write)
        if refusal is not None or repo is None:
            refused = refusal or PlainTextResponse("Repository not found.\n", status_code=404)
            services.requests.append(RecordedRequest(request.method, request.url.path, refused.status_code,
                                                     caller.kind if caller else None,
                                                     caller.token_id if caller else None, request.url.query))
            return refused
        root, project = repo.path.parent, repo.path.name
    assert caller is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.receivepack",
        "GIT_CONFIG_VALUE_0": "true",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": f"/{project}/{rest}",
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": caller.user.login if caller.user else (f"{caller.app.slug}[bot]" if caller.app else "anonymous"),
        "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if request.headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]
    if request.headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = request.headers["git-protocol"]
    with anyio.fail_after(BACKEND_TIMEOUT_SECONDS):
        result = await anyio.run_process(["git", "http-backend"], input=body, env=env, check=False)
    if result.returncode != 0 and not result.stdout:
        log.warning("git http-backend failed: %s", result.stderr.decode(errors="replace"))
        response: Response = PlainTextResponse("http-backend failed\n", status_code=500)
    else:
        response = _cgi_response(result.stdout)
    with services.world.lock:
        if write and request.method == "POST" and response.status_code == 200:
            repo.pushed_at = services.world.now()
        services.requests.append(RecordedRequest(request.method, request.url.path, response.status_code,
                                                 caller.kind, caller.token_id, request.url.query))
    return response
