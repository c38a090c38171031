"""Which repositories a session may use: the one check every ``repo_url`` passes before it is stored.

A repository is either an http(s) URL on an allowed host (``OPENINSPECT_REPO_HOSTS``)
or a local path strictly inside an allowed root (``OPENINSPECT_REPO_ROOTS``);
``file://`` URLs are local paths under the same rules. Nothing else is accepted.

- **Local paths** are expanded (``~``, ``~user``) and resolved (``..``, symlinks)
  *before* they are checked, and the resolved path is what is stored, so a link
  cannot point the sandbox elsewhere later. A path inside the data directory (the
  SQLite file, every workspace, the keys) or one that contains it is refused: a
  sandbox given it would see another session's files.
- **Hosts** must be on the list. Their addresses (the literal one, or every
  address the name resolves to) must be public: link-local and cloud-metadata
  addresses are refused always, loopback and private ones unless
  ``OPENINSPECT_REPO_ALLOW_PRIVATE_NETWORKS``. The resolution is checked once,
  here; the sandbox's network policy (Kubernetes) is what holds at clone time.
- **Credentials** in a URL are refused (they belong in secrets), and the URL is
  then neither stored nor echoed; no refusal message repeats a URL.

With a GitHub App (``OPENINSPECT_GITHUB_APP_ID``) the list comes from GitHub instead:
a session names ``owner/name`` (:func:`github_full_name` checks its shape; the
session service then requires an installation to cover it), and URLs and paths
are refused (:func:`admit`), so nobody reaches a repository the App was not given.

Each refusal is an :class:`~openinspect_core.services.errors.InvalidInput` with
a stable code. Nothing here touches the database; name resolution is the one
side effect, and it is the policy's own function (tests give their own).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from openinspect_core.services.errors import InvalidInput
from openinspect_core.settings import Settings

MAX_REPO_URL_CHARS = 2000  # the repo.url column
RESOLVE_TIMEOUT_SECONDS = 5.0
# GitHub's rules: an owner is 1..39 letters, digits or single hyphens; a repository name 1..100 of
# letters, digits, ".", "_", "-" (and never "." or ".." alone).
_GITHUB_FULL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[Sequence[str]]]

# Never a repository host, whatever the settings say: link-local (cloud metadata lives there),
# the well-known metadata addresses outside it, multicast and broadcast.
_NEVER = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10",          # link-local: 169.254.169.254 is the metadata service of most clouds
    "100.100.100.200/32",                   # Alibaba Cloud's metadata service
    "fd00:ec2::254/128",                    # AWS's IPv6 metadata service
    "224.0.0.0/4", "ff00::/8",              # multicast
    "255.255.255.255/32",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in all but name


async def system_resolver(host: str) -> Sequence[str]:
    """Every address ``host`` resolves to, through the system's resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class RepoPolicy:
    """What ``repo_url`` may name. Build it with :meth:`from_settings`; tests build their own."""

    hosts: tuple[str, ...] = ("github.com",)
    roots: tuple[Path, ...] = ()  # resolved directories; a local path must be strictly inside one
    forbidden: tuple[Path, ...] = ()  # resolved directories no local path may be in or contain
    allow_private_networks: bool = False
    resolve: Resolver = field(default=system_resolver, compare=False, repr=False)
    github_url: str | None = None  # set: repositories are the GitHub App's, named owner/name; no URLs

    @classmethod
    def from_settings(cls, settings: Settings, *, resolve: Resolver = system_resolver) -> RepoPolicy:
        return cls(
            hosts=tuple(h.strip().lower().rstrip(".").strip("[]") for h in settings.repo_hosts if h.strip()),
            roots=tuple(_resolve_dir(root) for root in settings.repo_roots if root.strip()),
            forbidden=(_resolve_dir(str(settings.data_dir)),),
            allow_private_networks=settings.repo_allow_private_networks,
            resolve=resolve,
            github_url=settings.github_url if settings.github_enabled else None,
        )


def _resolve_dir(value: str) -> Path:
    return Path(os.path.expanduser(value.strip())).resolve()


def _refuse(code: str, message: str) -> InvalidInput:
    return InvalidInput(message, code=code)


def github_full_name(value: str) -> str:
    """``owner/name`` as given (trimmed), if it has the shape of a GitHub repository's full name."""
    value = value.strip().removesuffix(".git")
    if not _GITHUB_FULL_NAME.match(value) or value.split("/", 1)[1] in (".", ".."):
        raise _refuse("invalid_repo", "repo must be a GitHub repository as owner/name (e.g. acme/app)")
    return value


async def admit(url: str, policy: RepoPolicy) -> str:
    """The normalised form of ``url`` to store, or :class:`InvalidInput` saying why it is refused."""
    url = url.strip()
    if not url:
        raise _refuse("invalid_repo_url", "repo_url is required")
    if policy.github_url is not None:
        raise _refuse("github_repo_required",
                      "repositories come from the GitHub App here: name one as repo=owner/name, not a URL or a path")
    if len(url) > MAX_REPO_URL_CHARS:
        raise _refuse("repo_url_too_long", f"repo_url is longer than {MAX_REPO_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _refuse("invalid_repo_url", "repo_url must not contain spaces or control characters")
    if url.startswith(("/", "./", "../", "~")) or url in (".", ".."):
        return str(local_path(url, policy))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise _refuse("invalid_repo_url", "repo_url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        return file_url(parts, policy)
    if scheme in ("http", "https"):
        return await web_url(parts, scheme, policy)
    raise _refuse("invalid_repo_url", "repo_url must be a local path, a file:// URL or an http(s) URL")


# ------------------------------------------------------------------ local paths


def local_path(value: str, policy: RepoPolicy) -> Path:
    """``value`` expanded and resolved, if it lies strictly inside a root and away from the data."""
    path = Path(os.path.expanduser(value))  # ~user for an unknown user stays as it was
    if not path.is_absolute():
        if value.startswith("~"):
            raise _refuse("repo_path_not_allowed", "repo_url names the home of an unknown user")
        path = Path.cwd() / path
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise _refuse("repo_path_not_allowed", "repo_url is a path that cannot be resolved") from None
    if not any(root in resolved.parents for root in policy.roots):
        raise _refuse("repo_path_not_allowed",
                      "repo_url is not a path inside an allowed directory (OPENINSPECT_REPO_ROOTS)")
    for forbidden in policy.forbidden:
        if resolved == forbidden or forbidden in resolved.parents:
            raise _refuse("repo_path_forbidden",
                          "repo_url is inside the data directory (sessions' workspaces, the database, keys)")
        if resolved in forbidden.parents:
            raise _refuse("repo_path_forbidden", "repo_url contains the data directory")
    return resolved


def file_url(parts: SplitResult, policy: RepoPolicy) -> str:
    """A ``file://`` URL is a local path under the same rules; stored as the resolved path's URL."""
    if parts.netloc not in ("", "localhost"):
        raise _refuse("invalid_repo_url", "a file:// repo_url must name a path on this machine")
    if parts.query or parts.fragment:
        raise _refuse("invalid_repo_url", "repo_url must not have a query or a fragment")
    path = unquote(parts.path)
    if not path.startswith("/") or "\x00" in path:
        raise _refuse("invalid_repo_url", "a file:// repo_url must name an absolute path")
    return local_path(path, policy).as_uri()


# ------------------------------------------------------------------ http(s)


async def web_url(parts: SplitResult, scheme: str, policy: RepoPolicy) -> str:
    """An http(s) URL on an allowed host whose addresses are allowed; stored without a trailing slash."""
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise _refuse("repo_url_credentials",
                      "repo_url contains credentials; they belong in secrets, never in a URL (it was not stored)")
    if parts.query or parts.fragment:
        raise _refuse("invalid_repo_url", "repo_url must not have a query or a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("invalid_repo_url", "repo_url has no host")
    if host not in policy.hosts:
        raise _refuse("repo_host_not_allowed",
                      f"repositories on {host} are not allowed (OPENINSPECT_REPO_HOSTS)")
    literal = _ip(host)
    addresses = [literal] if literal is not None else await _resolved(host, policy)
    for address in addresses:
        check_address(address, policy, host)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}{parts.path}".rstrip("/")


async def _resolved(host: str, policy: RepoPolicy) -> list[IPAddress]:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await policy.resolve(host)
    except (OSError, TimeoutError, UnicodeError):
        found = []
    addresses = [a for a in (_ip(str(value)) for value in found) if a is not None]
    if not addresses:
        raise _refuse("repo_host_unresolvable", f"the repository host {host} cannot be resolved")
    return addresses


def _ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which is what it reaches."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_class(address: IPAddress) -> str:
    """``never`` (link-local, metadata, multicast), ``private`` (loopback, private, anything not global) or
    ``public``."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return address_class(inner)
    if any(address in network for network in _NEVER if network.version == address.version):
        return "never"
    if address.is_loopback or address.is_private or address.is_unspecified or address in _SHARED:
        return "private"
    return "public" if address.is_global else "private"


def check_address(address: IPAddress, policy: RepoPolicy, host: str) -> None:
    kind = address_class(address)
    if kind == "never":
        raise _refuse("repo_address_forbidden",
                      f"the repository host {host} is a link-local or cloud metadata address, never allowed")
    if kind == "private" and not policy.allow_private_networks:
        raise _refuse("repo_address_private",
                      f"the repository host {host} is a loopback or private address "
                      "(allowed only with OPENINSPECT_REPO_ALLOW_PRIVATE_NETWORKS)")
