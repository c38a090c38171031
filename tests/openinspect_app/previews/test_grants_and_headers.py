"""The preview's credential and what crosses the proxy, as pure functions."""

from __future__ import annotations

import pytest

from openinspect_app.previews import grants
from openinspect_app.previews.headers import SANDBOX_POLICY, browser_response_headers, upstream_request_headers
from openinspect_app.previews.routes import is_preview_websocket

SECRET = b"k" * 32
SESSION = "a" * 32
GRANT = grants.Grant("cookie", "b" * 32, 2_000_000_000)


def test_a_grant_verifies_for_its_own_session_and_port_only() -> None:
    value = grants.issue(SECRET, SESSION, 3000, GRANT)
    assert grants.looks_like_grant(value) and all(c.isalnum() or c in "-_" for c in value)
    assert grants.verify(SECRET, SESSION, 3000, value, now=1_900_000_000) == GRANT
    assert grants.verify(SECRET, "c" * 32, 3000, value, now=1_900_000_000) is None  # another session
    assert grants.verify(SECRET, SESSION, 3001, value, now=1_900_000_000) is None  # another port
    assert grants.verify(b"x" * 32, SESSION, 3000, value, now=1_900_000_000) is None  # another key
    assert grants.verify(SECRET, SESSION, 3000, value, now=2_000_000_000) is None  # expired


def test_a_grant_cannot_be_changed_into_another() -> None:
    value = grants.issue(SECRET, SESSION, 3000, GRANT)
    token_grant = grants.issue(SECRET, SESSION, 3000, grants.Grant("token", "b" * 32, 2_000_000_000))
    later = value.replace(value.split("-")[2], "zzzzzzz", 1)  # a later expiry under the old MAC
    as_token = "t" + value[1:]  # the same id read as an API token's
    for forged in (later, as_token, value[:-1] + ("A" if value[-1] != "A" else "B"), "", "c-x-y-z", value + "x"):
        assert grants.verify(SECRET, SESSION, 3000, forged, now=1_900_000_000) is None, forged
    assert grants.verify(SECRET, SESSION, 3000, token_grant, now=0) == grants.Grant("token", "b" * 32,
                                                                                      2_000_000_000)


def test_many_grants_verify_whatever_their_mac_looks_like() -> None:
    # A MAC may contain "-" (base64url): the grant must still split where it was joined.
    for n in range(200):
        grant = grants.Grant("cookie", f"{n:032x}", 2_000_000_000 + n)
        assert grants.verify(SECRET, SESSION, 3000, grants.issue(SECRET, SESSION, 3000, grant), now=0) == grant


def test_our_credentials_never_reach_the_dev_server() -> None:
    sent = upstream_request_headers(
        [("Cookie", "openinspect_session=secret"), ("Authorization", "Bearer oi_x"), ("Referer", "http://x/grant"),
         ("Host", "openinspect.example"), ("Connection", "keep-alive, X-Private"), ("X-Private", "1"),
         ("Accept", "text/html"), ("X-Forwarded-For", "6.6.6.6"), ("Content-Length", "5")],
        target_host="10.2.0.5", target_port=5173, public_host="openinspect.example", public_scheme="https",
        prefix="/sessions/s/preview/5173/g")
    assert dict(sent) == {"Accept": "text/html", "host": "10.2.0.5:5173", "x-forwarded-host": "openinspect.example",
                          "x-forwarded-proto": "https", "x-forwarded-prefix": "/sessions/s/preview/5173/g"}


def test_the_dev_servers_answer_cannot_touch_this_origin() -> None:
    prefix = "/sessions/s/preview/3000/g"
    out = browser_response_headers(
        [("Content-Type", "text/html"), ("Set-Cookie", "openinspect_session=x; Path=/"), ("Clear-Site-Data", '"*"'),
         ("Strict-Transport-Security", "max-age=1"), ("Service-Worker-Allowed", "/"),
         ("Access-Control-Allow-Origin", "https://evil.example"), ("Access-Control-Allow-Credentials", "true"),
         ("Cache-Control", "public, max-age=99999"), ("Location", "http://127.0.0.1:3000/login?x=1"),
         ("Content-Security-Policy", "default-src 'self'"), ("Transfer-Encoding", "chunked")],
        upstream_origins=("http://127.0.0.1:3000",), prefix=prefix)
    names = [name for name, _ in out]
    for dropped in ("set-cookie", "clear-site-data", "strict-transport-security", "service-worker-allowed",
                    "access-control-allow-credentials", "transfer-encoding"):
        assert dropped not in names
    headers = dict(out)
    assert headers["location"] == prefix + "/login?x=1"
    assert headers["cache-control"] == "no-store" and headers["access-control-allow-origin"] == "*"
    # Its own policy stays (a second CSP only restricts more); ours makes the page an opaque origin.
    assert [v for k, v in out if k == "content-security-policy"] == ["default-src 'self'", SANDBOX_POLICY]
    assert "allow-same-origin" not in SANDBOX_POLICY and "allow-top-navigation" not in SANDBOX_POLICY


@pytest.mark.parametrize(("location", "expected"), [
    ("/next", "/p/next"),
    ("http://localhost:3000", "/p/"),
    ("http://127.0.0.1:3000?a=1", "/p/?a=1"),
    ("relative/path", "relative/path"),
    ("//evil.example/x", "//evil.example/x"),
    ("https://github.com/login", "https://github.com/login"),
    ("http://127.0.0.1:30001/x", "http://127.0.0.1:30001/x"),
])
def test_redirects_to_the_dev_server_stay_in_the_preview(location: str, expected: str) -> None:
    out = dict(browser_response_headers([("Location", location)], prefix="/p",
                                        upstream_origins=("http://127.0.0.1:3000", "http://localhost:3000")))
    assert out["location"] == expected


def test_only_a_previews_websocket_checks_its_own_origin() -> None:
    grant = grants.issue(SECRET, SESSION, 3000, GRANT)
    assert is_preview_websocket(f"/sessions/{SESSION}/preview/3000/{grant}/hmr")
    assert is_preview_websocket(f"/sessions/{SESSION}/preview/3000/{grant}/")
    assert not is_preview_websocket("/_event")
    assert not is_preview_websocket(f"/sessions/{SESSION}/preview/3000/not-a-grant/hmr")
    assert not is_preview_websocket(f"/sessions/{SESSION}/preview/x/{grant}/hmr")
    assert not is_preview_websocket(f"/api/sessions/{SESSION}/preview/3000/{grant}/hmr")
