"""Real git over HTTP for tests: ``git http-backend`` behind a small loopback HTTP server.

    with serve_git_http(root, token="s3cret") as server:
        url = server.repo_url("project.git")             # http://x-access-token:s3cret@127.0.0.1:N/project.git
        anonymous = server.repo_url("project.git", authenticated=False)

``root`` holds bare repositories (``git clone --bare``); every one of them is
served, for clone/fetch (``git-upload-pack``) and push (``git-receive-pack``).
With a ``token``, every request needs HTTP Basic auth whose password is the
token (any user name, like GitHub's ``x-access-token``) or ``Authorization:
Bearer <token>``; without one, everything is open. Requests are recorded in
:attr:`GitHttpServer.requests` as ``(method, path, status)``.

The server runs in a background thread (standard library ``http.server``), so
it serves synchronous and asyncio tests alike.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

log = logging.getLogger("tests.support.git_http")

DEFAULT_USERNAME = "x-access-token"
# Why: a push of a test repository takes well under a second; a minute means git hangs.
BACKEND_TIMEOUT_SECONDS = 60.0


@dataclass
class GitHttpServer:
    base_url: str  # http://127.0.0.1:<port>, no trailing slash
    root: Path
    token: str | None = None
    username: str = DEFAULT_USERNAME
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def repo_url(self, name: str, *, authenticated: bool = True) -> str:
        """The clone URL of ``root/name``; with the token in it when the server has one."""
        if self.token and authenticated:
            host = self.base_url.removeprefix("http://")
            return f"http://{quote(self.username, safe='')}:{quote(self.token, safe='')}@{host}/{name}"
        return f"{self.base_url}/{name}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GitHttpServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        log.debug("git_http: " + format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _authorised(self) -> str | None:
        """The remote user name, or None when the request lacks the token."""
        state = self.server.state
        if state.token is None:
            return "anonymous"
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(value.strip(), state.token):
            return state.username
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except ValueError:
                return None
            if secrets.compare_digest(password, state.token):
                return user or state.username
        return None

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        path = self.path.partition("?")[0]
        self.server.state.requests.append((self.command, path, status))

    def _serve(self) -> None:
        body = self._read_body()
        user = self._authorised()
        if user is None:
            self._reply(401, [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
                        b"authentication required\n")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.state.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.server.state.root),
            # Pushing over HTTP is refused without an authenticated user unless enabled.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                                timeout=BACKEND_TIMEOUT_SECONDS, check=False)
        if result.returncode != 0 and not result.stdout:
            log.warning("git http-backend failed: %s", result.stderr.decode(errors="replace"))
            self._reply(500, [("Content-Type", "text/plain")], result.stderr or b"http-backend failed\n")
            return
        head, sep, payload = result.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, _, payload = result.stdout.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self._reply(status, headers, payload)


@contextmanager
def serve_git_http(root: Path, *, token: str | None = None,
                   username: str = DEFAULT_USERNAME) -> Iterator[GitHttpServer]:
    """Serve the bare repositories under ``root`` over HTTP on loopback until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    state = GitHttpServer(f"http://127.0.0.1:{server.server_address[1]}", root, token, username)
    server.state = state
    # A short poll interval only makes shutdown() at the end of the block quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="git-http", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
