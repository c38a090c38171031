"""What a secret may be called and hold: the limits every way in (REST, page, .env import) shares.

A secret becomes an environment variable of the sandbox's setup.sh, start.sh and agent, so its
name is a portable variable name, and names the sandbox, the shell, git, Python, Node or the
runtime itself rely on are refused: a repository secret called ``PATH`` or ``GIT_DIR`` would
quietly change how the sandbox works rather than hand a credential to the code.
"""

from __future__ import annotations

import re

from openinspect_protocol.redaction import MIN_SCRUB_CHARS

from openinspect_core.services.errors import InvalidInput, LimitReached, TooLarge

NAME_PATTERN = re.compile(r"[A-Z_][A-Z0-9_]*")
MAX_NAME_CHARS = 256
# Why 32 KiB: a PEM key or a service-account JSON fits; environments are limited (ARG_MAX, and
# Linux's 128 KiB per string), and the sandbox's whole environment must stay far below that.
MAX_VALUE_BYTES = 32 * 1024
MIN_VALUE_CHARS = MIN_SCRUB_CHARS  # shorter values could not be scrubbed from output without mangling text
MAX_PER_SCOPE = 100

# Set by the system, the shell or the sandbox for its own use.
RESERVED_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TMPDIR", "TERM", "LANG", "LANGUAGE", "HOSTNAME",
    "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "NODE_OPTIONS", "NODE_PATH",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "_",
})
# Families: locale, git's own settings, this system's, ssh agent, the dynamic loader (code injection),
# Python's and OpenCode's start-up switches, what Kubernetes puts into every pod.
RESERVED_PREFIXES = ("LC_", "GIT_", "OPENINSPECT_", "SSH_", "LD_", "DYLD_", "PYTHON", "OPENCODE_", "BASH_FUNC_",
                     "KUBERNETES_")


def check_name(name: str) -> str:
    """``name`` if a secret may have it; else a service error saying why."""
    if not name or len(name) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise InvalidInput(f"{shown!r} is not a valid secret name: use capital letters, digits and underscores, "
                           f"not starting with a digit (e.g. API_KEY), at most {MAX_NAME_CHARS} characters",
                           code="invalid_secret_name")
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        raise InvalidInput(f"{name} is reserved (the sandbox or its tools set it); choose another name",
                           code="reserved_secret_name")
    return name


def check_value(name: str, value: str) -> str:
    """``value`` if it can be a secret's; the error names the secret, never shows the value."""
    if len(value.encode("utf-8", errors="surrogatepass")) > MAX_VALUE_BYTES:
        raise TooLarge(f"the value of {name} is larger than {MAX_VALUE_BYTES // 1024} KiB", code="secret_too_large")
    if len(value) < MIN_VALUE_CHARS:
        raise InvalidInput(f"the value of {name} is shorter than {MIN_VALUE_CHARS} characters: so short a value "
                           "could not be hidden from the sandbox's output", code="secret_too_short")
    if "\x00" in value:
        raise InvalidInput(f"the value of {name} contains a NUL character, which no environment variable can hold",
                           code="invalid_secret_value")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"the value of {name} is not valid Unicode text", code="invalid_secret_value") from None
    return value


def check_count(count: int) -> None:
    """Refuse a scope that would hold more than :data:`MAX_PER_SCOPE` secrets."""
    if count > MAX_PER_SCOPE:
        raise LimitReached(f"a scope holds at most {MAX_PER_SCOPE} secrets; this would make {count} "
                           "(delete some first)", code="too_many_secrets")
