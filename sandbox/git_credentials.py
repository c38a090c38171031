"""Git credentials from the control plane's broker, handed to the runtime's own git commands only.

When the launch spec says ``git_credentials``, the clone, fetch and push commands of
:class:`~sandbox.git_sync.GitRepo` get their credentials here; nothing else in the
sandbox does (the agent's own ``git push`` finds no helper, no token in the remote
URL, and ``GIT_TERMINAL_PROMPT=0``, so it fails at once).

How the token travels, and where it never is:

1. :class:`CredentialBroker` asks ``GET http(s)://<bridge host>/bridge/{session}/git-credentials``
   with the runtime's bridge token (``Authorization: Bearer``) — once per git
   command, when git asks: the broker narrows and refreshes the token, so nothing
   is cached here.
2. :class:`GitCredentials.channel` makes one ``socketpair`` per git command; git gets
   one end (``pass_fds``), its descriptor number in ``OPENINSPECT_GIT_CREDENTIAL_FD``,
   and ``-c credential.helper= -c credential.helper=<python> -I git_credential_helper.py``
   on its command line (the empty value drops every helper configured elsewhere).
3. git runs the helper, which relays ``get`` over that socket; the runtime answers
   ``username=``/``password=`` — only for the repository's own protocol and host (a
   redirect elsewhere gets nothing).

So the token is never in an environment, a command line, ``.git/config``, a remote
URL, a file, a log line or an event; it lives in the runtime's memory (not
readable by the sandbox's other processes: see :func:`sandbox.entrypoint.protect_memory`)
and, during one clone/fetch/push, in git's. What went wrong getting it (the broker's
refusal, unreachable control plane) is kept as :attr:`ChannelState.problem`, for the
error message of the git command that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import GIT_TOKEN_NAME, process_redactor

from sandbox import git_credential_helper

log = EventLog("sandbox.git_credentials")

HELPER_PATH = Path(git_credential_helper.__file__).resolve()
FD_ENV = git_credential_helper.FD_ENV
# Why: one round trip to the control plane, which may itself ask GitHub for an
# installation token; 30 s means one of them is in trouble, and git fails then.
BROKER_TIMEOUT_SECONDS = 30.0
_MAX_MESSAGE_BYTES = git_credential_helper.MAX_MESSAGE_BYTES


class CredentialError(RuntimeError):
    """The broker gave no credentials; the message says why (never contains a secret)."""


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)


def broker_url(control_plane_url: str, session_id_path: str) -> str:
    """``ws://host/bridge/s`` -> ``http://host/bridge/s/git-credentials`` (``wss`` -> ``https``).

    ``session_id_path`` is the bridge URL's path part for the session (already quoted).
    """
    base = control_plane_url.rstrip("/")
    if base.startswith("wss://"):
        base = "https://" + base.removeprefix("wss://")
    elif base.startswith("ws://"):
        base = "http://" + base.removeprefix("ws://")
    return f"{base}/bridge/{session_id_path}/git-credentials"


class CredentialBroker:
    """Asks the control plane's broker for the session's git credentials (one GET per call)."""

    def __init__(self, url: str, token: str, *, timeout_seconds: float = BROKER_TIMEOUT_SECONDS) -> None:
        self.url = url
        self._token = token
        self._timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"CredentialBroker(url={self.url!r})"

    async def fetch(self) -> Credential:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            # trust_env=False: the control plane is reached directly, never through a proxy setting.
            async with httpx.AsyncClient(timeout=self._timeout_seconds, trust_env=False) as client:
                response = await client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            raise CredentialError(f"the control plane's credential broker could not be reached "
                                  f"({type(exc).__name__})") from None
        if response.status_code != 200:
            raise CredentialError(f"the control plane refused git credentials (HTTP {response.status_code}"
                                  f"{': ' + _reason(response) if _reason(response) else ''})")
        try:
            data = response.json()
            return Credential(username=str(data["username"]), password=str(data["password"]))
        except (ValueError, KeyError, TypeError):
            raise CredentialError("the control plane's credential broker answered something unreadable") from None


def _reason(response: httpx.Response) -> str:
    """The broker's own words for a refusal (its ``detail``), cut short; never the request."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
    detail = data.get("detail") if isinstance(data, dict) else None
    return str(detail)[:200] if detail else ""


def parse_request(raw: bytes) -> dict[str, str]:
    """Git's credential request (``key=value`` lines) as a dict; later keys win."""
    fields: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value
    return fields


def answer_lines(credential: Credential) -> bytes:
    return f"username={credential.username}\npassword={credential.password}\n".encode()


@dataclass
class ChannelState:
    """What happened on one git command's channel (for its error message)."""

    problem: str | None = None
    answered: int = 0


@dataclass(frozen=True)
class GitInvocation:
    """What a credentialed git command is run with (nothing here is secret)."""

    config_args: tuple[str, ...]  # go before the git subcommand
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    state: ChannelState


class GitCredentials:
    """Serves credentials from ``broker`` to git commands on ``repo_url``'s host, one channel each."""

    def __init__(self, broker: CredentialBroker, repo_url: str) -> None:
        self._broker = broker
        parts = urlsplit(repo_url)
        self._protocol = parts.scheme.lower()
        self._host = (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")

    def helper_command(self) -> str:
        # "!" makes git run it with the shell; paths are quoted for that shell.
        return "!" + " ".join(shlex.quote(part) for part in (sys.executable, "-I", str(HELPER_PATH)))

    @contextlib.asynccontextmanager
    async def channel(self) -> AsyncIterator[GitInvocation]:
        """A private line for one git command; yields what to run git with."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        state = ChannelState()
        server = asyncio.create_task(self._serve(ours, state), name="git_credentials.channel")
        try:
            yield GitInvocation(
                config_args=("-c", "credential.helper=", "-c", f"credential.helper={self.helper_command()}"),
                env={FD_ENV: str(theirs.fileno())},
                pass_fds=(theirs.fileno(),),
                state=state,
            )
        finally:
            theirs.close()
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            ours.close()

    def _matches(self, request: dict[str, str]) -> bool:
        host = request.get("host", "").lower()
        return request.get("protocol", "").lower() == self._protocol and host == self._host

    async def _serve(self, sock: socket.socket, state: ChannelState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await loop.sock_recv(sock, _MAX_MESSAGE_BYTES)
            if not message:
                return
            request = parse_request(message)
            answer = b""
            if not self._matches(request):
                state.problem = (f"git asked for credentials for {request.get('protocol', '?')}://"
                                 f"{request.get('host', '?')}, not the repository's host; none given")
                log.warning("git_credentials.other_host", host=request.get("host"),
                            protocol=request.get("protocol"))
            else:
                try:
                    credential = await self._broker.fetch()
                except CredentialError as exc:
                    state.problem = str(exc)
                    log.warning("git_credentials.unavailable", reason=str(exc))
                else:
                    # From now on the token is scrubbed from events and log lines like a secret.
                    process_redactor().add(GIT_TOKEN_NAME, credential.password)
                    answer = answer_lines(credential)
                    state.answered += 1
                    log.info("git_credentials.given", host=self._host)
            # An empty answer is still one message: the helper then prints nothing and git fails.
            await loop.sock_sendall(sock, answer or b"\n")
