"""The git credential helper the runtime's own git commands run: a relay, holding no secret itself.

Git runs it as ``credential.helper`` (``<python> -I <this file> get|store|erase``) for
the clone, fetch and push commands of :class:`~sandbox.git_sync.GitRepo`, and only for
those (the ``-c`` options are on that git command line, never in a config file). It
owns nothing but the relay: for ``get`` it forwards git's request (``protocol=``,
``host=`` ... lines) over the socket whose descriptor number is in
:data:`FD_ENV`, and prints the runtime's answer (``username=``/``password=`` lines,
or nothing) for git to read. ``store`` and ``erase`` do nothing: the runtime fetches
a fresh token from the control plane for every operation, and nothing is ever kept.

The socket is one end of a ``socketpair`` the runtime made for this one git command
and passed to it (``pass_fds``); it has no name, so no other process of the sandbox
(the agent, its shell) can connect to it. The token is never in this process's
arguments or environment, only in its memory between the two reads and the write.

Standard library only: it runs as a file with ``-I`` (isolated mode), whatever
directory git starts it in.
"""

from __future__ import annotations

import os
import socket
import sys

FD_ENV = "OPENINSPECT_GIT_CREDENTIAL_FD"
# Why: the request is a few short lines and the answer two; git's own limit per line is far less.
MAX_MESSAGE_BYTES = 64 * 1024
# Why: the runtime asks the control plane for a token (one HTTP round trip, which may ask
# GitHub for an installation token); past a minute the clone or push fails anyway.
ANSWER_TIMEOUT_SECONDS = 60.0


def relay(request: bytes, fd: int) -> bytes:
    """Send ``request`` on the socket ``fd`` and return the one message that answers it."""
    with socket.socket(fileno=os.dup(fd)) as channel:
        channel.settimeout(ANSWER_TIMEOUT_SECONDS)
        channel.send(request)
        return channel.recv(MAX_MESSAGE_BYTES)


def main(argv: list[str]) -> int:
    operation = argv[1] if len(argv) > 1 else ""
    request = sys.stdin.buffer.read(MAX_MESSAGE_BYTES)
    if operation != "get":
        return 0  # store/erase: nothing is kept, so nothing to store or forget
    fd_text = os.environ.get(FD_ENV, "")
    if not fd_text.isdigit():
        return 0  # not started by the runtime: answer nothing, git then fails without a prompt
    try:
        answer = relay(request, int(fd_text))
    except OSError as exc:
        print(f"openinspect credential helper: {exc}", file=sys.stderr)
        return 0
    sys.stdout.buffer.write(answer)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
