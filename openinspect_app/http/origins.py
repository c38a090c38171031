"""The app's own origins and host names, from the settings alone (light: rxconfig imports it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from openinspect_core.settings import ConfigError, Settings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def host_of(origin: str) -> str:
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    return f"[{host}]" if ":" in host else host


def app_origin(settings: Settings) -> str:
    """``settings.origin``, with an IPv6 web host in brackets (``http://[::1]:3000``)."""
    if settings.public_url is None and ":" in settings.web_host:
        return f"http://[{settings.web_host}]:{settings.web_port}"
    return settings.origin


def own_origins(settings: Settings) -> tuple[str, ...]:
    """The origins that are this app: the public URL's, and on loopback the other spellings of the
    same address and port (a page opened as localhost:3000 is the same server as 127.0.0.1:3000, and
    nothing but this server can answer on that port)."""
    origin = app_origin(settings)
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"OPENINSPECT_PUBLIC_URL must be an http(s) URL, got {origin!r}")
    own = [f"{parts.scheme}://{parts.netloc.lower()}"]
    if settings.on_loopback and host_of(origin) in LOOPBACK_HOSTS:
        port = parts.port or settings.web_port
        own += [f"{parts.scheme}://{host}:{port}" for host in LOOPBACK_HOSTS]
    return tuple(dict.fromkeys(own))


def accepted_hosts(settings: Settings) -> frozenset[str]:
    """``Host`` header values (without the port) this server answers to."""
    hosts = {host_of(app_origin(settings))}
    if settings.on_loopback:
        hosts.update(LOOPBACK_HOSTS)
    hosts.update(h.strip().lower() for h in settings.allowed_hosts if h.strip())
    return frozenset(hosts)
