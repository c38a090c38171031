"""The proxy's side towards the model provider: which calls pass, with which headers, to where.

:class:`Upstream` owns one ``httpx`` client for the configured provider. A call
the sandbox makes to ``<proxy>/v1/<endpoint>`` goes to ``<provider base
URL>/<endpoint>`` (the base URL ends in ``/v1``, as the README's settings say;
Anthropic's public API when none is set for ``anthropic``), with:

* only the model endpoints (:data:`ENDPOINTS`): chat completions, completions,
  responses, Anthropic messages and token counting, embeddings, the model list.
  The real key opens the provider's whole account (files, batches, fine-tunes,
  admin calls); a sandbox gets the part an agent needs. Anything else is 404
  before the provider is asked;
* the caller's own credentials, cookies and hop-by-hop headers dropped, and the
  real key added the way the provider expects it (``Authorization: Bearer`` for
  OpenAI-compatible APIs, ``x-api-key`` for Anthropic); other headers
  (``anthropic-version``, ``content-type``, a session id) pass unchanged;
* ``Accept-Encoding: identity``, so the bytes streamed back are the bytes
  metered; and the answer's framing headers left to the proxy's own server.

Failures before an answer are :class:`UpstreamError` with the status the caller
gets: 502 when the provider cannot be reached, 504 when it did not answer in
time. A provider's own error is an answer like any other and passes through with
its status.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
PROXY_PREFIX = "/v1/"

# (method, endpoint under the base URL); the model list also answers for one model ("models/<id>").
ENDPOINTS = frozenset({
    ("POST", "chat/completions"), ("POST", "completions"), ("POST", "responses"), ("POST", "embeddings"),
    ("POST", "messages"), ("POST", "messages/count_tokens"), ("GET", "models"),
})

# Why these: connecting to a provider takes well under a second; a model may think for minutes
# before its first token (and between two chunks of a stream), so the read limit is long; the request
# body (at most the proxy's limit) goes out quickly.
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=30.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authenticate", "proxy-authorization"})
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "authorization", "x-api-key", "cookie",
                               "accept-encoding", "expect"}
_NOT_RETURNED = HOP_BY_HOP | {"content-length", "content-encoding", "set-cookie"}


class UpstreamError(Exception):
    """No answer from the provider; ``status``/``code``/``message`` are what the caller is told."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def endpoint_of(method: str, target: str) -> str | None:
    """The provider endpoint a proxy request names ("/v1/chat/completions?x" -> "chat/completions"), if allowed."""
    path = target.split("?", 1)[0]
    if not path.startswith(PROXY_PREFIX):
        return None
    endpoint = path[len(PROXY_PREFIX):].rstrip("/")
    if method == "GET" and endpoint.startswith("models/") and "/" not in endpoint[len("models/"):]:
        return endpoint if endpoint[len("models/"):] not in ("", ".", "..") else None
    return endpoint if (method, endpoint) in ENDPOINTS else None


def forwarded_headers(headers: Iterable[tuple[str, str]], *, kind: str, api_key: str | None) -> list[tuple[str, str]]:
    """The caller's headers as the provider gets them: its credentials replaced by the real key."""
    out = [(name, value) for name, value in headers if name.lower() not in _NOT_FORWARDED]
    out.append(("accept-encoding", "identity"))
    if api_key:
        out.append(("x-api-key", api_key) if kind == "anthropic" else ("authorization", f"Bearer {api_key}"))
    return out


def returned_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The provider's answer headers as the caller gets them (framing is the proxy's own)."""
    return [(name, value) for name, value in headers if name.lower() not in _NOT_RETURNED]


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Upstream:
    """The configured model provider, reached through one pooled client."""

    def __init__(self, *, kind: str, base_url: str | None, api_key: str | None) -> None:
        self.kind = kind
        self.base_url = (base_url or (ANTHROPIC_BASE_URL if kind == "anthropic" else "")).rstrip("/")
        self._api_key = api_key
        # Environment proxy settings (HTTPS_PROXY) may be how the control plane reaches a provider,
        # but must never capture a provider on loopback (the demo model).
        self._client = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, follow_redirects=False,
                                         trust_env=not _is_loopback(self.base_url))

    def __repr__(self) -> str:  # never the key
        return f"Upstream(kind={self.kind!r}, base_url={self.shown_url!r})"

    @property
    def shown_url(self) -> str:
        """The base URL as logs may show it: without any user or password it may carry."""
        parts = urlsplit(self.base_url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return parts._replace(netloc=netloc).geturl() if parts.netloc else self.base_url

    async def open(self, method: str, endpoint: str, query: str, headers: Iterable[tuple[str, str]],
                   body: bytes) -> httpx.Response:
        """Send the call; the answer's headers are in, its body still streaming (close it when done)."""
        if not self.base_url:
            raise UpstreamError(502, "provider_not_configured", "no model provider is configured "
                                "(OPENINSPECT_PROVIDER_BASE_URL)")
        url = f"{self.base_url}/{endpoint}" + (f"?{query}" if query else "")
        request = self._client.build_request(
            method, url, content=body if method != "GET" else None,
            headers=forwarded_headers(headers, kind=self.kind, api_key=self._api_key))
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException as error:
            if isinstance(error, httpx.ConnectTimeout):
                raise UpstreamError(502, "provider_unreachable",
                                    "the model provider could not be reached (connection timed out)") from None
            raise UpstreamError(504, "provider_timeout", "the model provider did not answer in time") from None
        except httpx.TransportError as error:
            raise UpstreamError(502, "provider_unreachable",
                                f"the model provider could not be reached ({type(error).__name__})") from None

    async def close(self) -> None:
        await self._client.aclose()
