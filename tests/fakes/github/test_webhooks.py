"""Webhook bodies built from GitHub's examples with the fake's values, and their signed delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.fakes.github import schemas
from tests.fakes.github.conftest import Seeded


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    received: list[tuple[dict[str, str], bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(({k: v for k, v in self.headers.items()}, body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def open_pull(seeded: Seeded) -> int:
    token = seeded.gh.issue_user_token(seeded.app, "ada")["access_token"]
    with httpx.Client(base_url=seeded.gh.api_url, trust_env=False) as api:
        answer = api.post("/repos/acme/widgets/pulls", headers={"Authorization": f"token {token}"},
                          json={"title": "Add feature", "head": "feature", "base": "main", "body": "Why"})
    assert answer.status_code == 201
    return int(answer.json()["number"])


def test_pull_request_bodies_carry_real_values_and_pass_the_schemas(seeded: Seeded) -> None:
    gh = seeded.gh
    number = open_pull(seeded)
    opened = gh.pull_request_webhook("acme/widgets", number, "opened")
    assert schemas.webhook_errors("pull_request", opened) == []
    pr = opened["pull_request"]
    assert (opened["action"], opened["number"], pr["title"], pr["head"]["sha"], pr["user"]["login"]) == (
        "opened", number, "Add feature", seeded.feature_sha, "ada")
    assert opened["repository"]["full_name"] == "acme/widgets" and opened["repository"]["private"] is True
    assert opened["installation"]["id"] == seeded.inst.id and opened["organization"]["login"] == "acme"
    assert opened["sender"]["login"] == "ada"
    assert "Codertocat" not in json.dumps(opened)

    with httpx.Client(base_url=gh.api_url, trust_env=False) as api:
        token = gh.issue_user_token(seeded.app, "ada")["access_token"]
        api.patch(f"/repos/acme/widgets/pulls/{number}", headers={"Authorization": f"token {token}"},
                  json={"title": "Add the feature"})
    edited = gh.pull_request_webhook("acme/widgets", number, "edited")
    assert edited["changes"] == {"title": {"from": "Add feature"}}
    assert edited["pull_request"]["title"] == "Add the feature"

    closed = gh.pull_request_webhook("acme/widgets", number, "closed")
    assert (closed["pull_request"]["state"], closed["pull_request"]["merged"]) == ("closed", False)
    reopened = gh.pull_request_webhook("acme/widgets", number, "reopened")
    assert reopened["pull_request"]["state"] == "open" and reopened["pull_request"]["closed_at"] is None
    gh.merge_pull("acme/widgets", number)
    merged = gh.pull_request_webhook("acme/widgets", number, "closed", merged=True)
    assert merged["pull_request"]["merged"] is True and merged["pull_request"]["merged_by"]["login"] == "ada"
    assert gh.pulls("acme", "widgets")[0]["merged"] is True
    for body in (edited, closed, reopened, merged):
        assert schemas.webhook_errors("pull_request", body) == []


def test_installation_bodies_change_the_installation(seeded: Seeded) -> None:
    gh, inst = seeded.gh, seeded.inst
    created = gh.installation_webhook(inst, "created", sender="ada")
    assert schemas.webhook_errors("installation", created) == []
    assert created["installation"]["id"] == inst.id and created["installation"]["account"]["login"] == "acme"
    assert sorted(r["full_name"] for r in created["repositories"]) == ["acme/gadgets", "acme/widgets"]
    assert created["sender"]["login"] == "ada"

    token = gh.issue_installation_token(inst)
    removed = gh.installation_repositories_webhook(inst, removed=["acme/gadgets"])
    assert schemas.webhook_errors("installation_repositories", removed) == []
    assert [r["full_name"] for r in removed["repositories_removed"]] == ["acme/gadgets"]
    with httpx.Client(base_url=gh.api_url, trust_env=False) as api:
        listed = api.get("/installation/repositories", headers={"Authorization": f"token {token}"}).json()
        assert [r["full_name"] for r in listed["repositories"]] == ["acme/widgets"]
        gh.add_repo("acme", "sprockets")
        added = gh.installation_repositories_webhook(inst, added=["acme/sprockets"])
        assert schemas.webhook_errors("installation_repositories", added) == []
        assert added["repository_selection"] == "selected" and added["action"] == "added"

        deleted = gh.installation_webhook(inst, "deleted")
        assert schemas.webhook_errors("installation", deleted) == []
        assert api.get("/installation/repositories", headers={"Authorization": f"token {token}"}).status_code == 401


def test_send_webhook_signs_like_github(seeded: Seeded, receiver: _Receiver) -> None:
    gh = seeded.gh
    number = open_pull(seeded)
    body = gh.pull_request_webhook("acme/widgets", number, "opened")
    url = f"http://127.0.0.1:{receiver.server_address[1]}/api/github/webhook"
    answer = gh.send_webhook(url, "pull_request", body)
    assert answer.status_code == 202
    headers, raw = receiver.received[0]
    assert json.loads(raw) == body
    expected = "sha256=" + hmac.new(b"shh-hook", raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
    assert headers["X-GitHub-Event"] == "pull_request" and uuid.UUID(headers["X-GitHub-Delivery"])
    assert headers["X-GitHub-Hook-ID"] == str(seeded.app.hook_id)
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(seeded.app.id)
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"

    gh.send_webhook(url, "pull_request", body, secret="other", delivery="d-1")
    headers, raw = receiver.received[1]
    assert headers["X-GitHub-Delivery"] == "d-1"
    assert headers["X-Hub-Signature-256"] != expected
    assert [d.status for d in gh.deliveries] == [202, 202]
    with pytest.raises(ValueError, match="loopback"):
        gh.send_webhook("http://192.0.2.1/hook", "pull_request", body)


async def test_async_delivery(seeded: Seeded, receiver: _Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    body = seeded.gh.installation_webhook(seeded.inst, "created")
    answer = await seeded.gh.asend_webhook(url, "installation", body)
    assert answer.status_code == 202 and receiver.received[0][0]["X-GitHub-Event"] == "installation"
