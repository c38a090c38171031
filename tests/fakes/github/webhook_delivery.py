"""Delivering webhooks the way GitHub does: the headers, the signatures, the POST.

Owns the request GitHub's "Hookshot" makes for one delivery: a compact JSON body,
``Content-Type: application/json``, ``User-Agent: GitHub-Hookshot/<hex>``,
``X-GitHub-Event``, ``X-GitHub-Delivery`` (a UUID), ``X-GitHub-Hook-ID``,
``X-GitHub-Hook-Installation-Target-ID`` and ``-Type`` (``integration`` for an
App's webhook), and with a secret ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of
the raw body>`` (and the legacy ``X-Hub-Signature: sha1=…``). Deliveries go only
to loopback addresses; each is recorded as a :class:`Delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

HOOKSHOT_AGENT = "GitHub-Hookshot/5f1b3e4"
TIMEOUT_SECONDS = 10.0  # GitHub gives a receiver 10 seconds


@dataclass(frozen=True)
class Delivery:
    url: str
    event: str
    delivery_id: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None when the request failed


def signature_256(secret: str, body: bytes) -> str:
    """The value of ``X-Hub-Signature-256`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()


def build_request(event: str, body: bytes, *, secret: str | None, delivery: str | None, hook_id: int,
                  target_id: int, target_type: str = "integration") -> dict[str, str]:
    """The headers of one delivery of ``body``."""
    headers = {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "User-Agent": HOOKSHOT_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(target_id),
        "X-GitHub-Hook-Installation-Target-Type": target_type,
    }
    if secret:
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = signature_256(secret, body)
    return headers


def require_loopback(url: str) -> None:
    """Refuse any delivery that would leave this machine."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"webhooks go to loopback addresses only, not {url!r}")


def post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    require_loopback(url)
    with httpx.Client(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
        response = client.post(url, content=body, headers=headers)
        response.read()
        return response


async def apost(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    require_loopback(url)
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
        response = await client.post(url, content=body, headers=headers)
        await response.aread()
        return response
