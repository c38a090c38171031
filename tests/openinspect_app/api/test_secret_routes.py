"""Secrets over REST, on SQLite and PostgreSQL: values go in and never come out (no answer, no log
line), names with who and when come out, a .env is imported all or nothing, every refusal is a clear 4xx."""

from __future__ import annotations

import logging

import pytest

from openinspect_core.secrets import names, store
from tests.support.system import ServedApi, api_token, sign_in_cookie

BOB = {"name": "Bob Builder", "email": "bob@example.com"}
VALUES = ["global-canary-1a2b3c", "repo-canary-4d5e6f", "dotenv-canary-7a8b9c", "quoted canary \"x\" 0d1e"]


async def a_repo(served: ServedApi, token: str) -> str:
    async with served.client(token=token) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/secrets-repo"})).json()
    return str(session["repo"]["id"])


async def test_values_are_write_only_and_names_come_with_who_and_when(
        served: ServedApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = await api_token(served.context)
    repo_id = await a_repo(served, token)
    seen: list[str] = []
    async with served.client(token=token) as http:
        put = await http.put("/api/secrets/API_KEY", json={"value": VALUES[0]})
        assert put.status_code == 200, put.text
        assert put.json()["name"] == "API_KEY" and put.json()["scope"] == "global" and put.json()["repo_id"] is None
        assert put.json()["updated_by"]["name"] == "Ada Lovelace"
        repo_put = await http.put(f"/api/repos/{repo_id}/secrets/API_KEY", json={"value": VALUES[1]})
        assert repo_put.status_code == 200 and repo_put.json()["scope"] == "repository"
        imported = await http.post(f"/api/repos/{repo_id}/secrets/import",
                                   json={"dotenv": f"# pasted\nexport FROM_DOTENV={VALUES[2]}\n"
                                                   f"QUOTED=\"{VALUES[3].replace(chr(34), chr(92) + chr(34))}\"\n"})
        assert imported.status_code == 200, imported.text
        assert [s["name"] for s in imported.json()] == ["FROM_DOTENV", "QUOTED"]
        listed_global = await http.get("/api/secrets")
        listed_repo = await http.get(f"/api/repos/{repo_id}/secrets")
        audit = await http.get("/api/secrets/audit")
        audit_repo = await http.get("/api/secrets/audit", params={"repo_id": repo_id})
        session_list = await http.get("/api/sessions")
        openapi = await http.get("/api/openapi.json")
        for response in (put, repo_put, imported, listed_global, listed_repo, audit, audit_repo, session_list, openapi):
            seen.append(response.text)
    assert [s["name"] for s in listed_global.json()] == ["API_KEY"]
    assert {s["name"] for s in listed_repo.json()} == {"API_KEY", "FROM_DOTENV", "QUOTED"}
    assert set(listed_repo.json()[0]) == {"name", "scope", "repo_id", "updated_by", "updated_at"}
    assert [(c["action"], c["name"], c["scope"]) for c in audit_repo.json()] == [
        ("import", "QUOTED", "repository"), ("import", "FROM_DOTENV", "repository"), ("set", "API_KEY", "repository")]
    assert len(audit.json()) == 4 and audit.json()[-1]["scope"] == "global"
    assert audit.json()[0]["by"]["name"] == "Ada Lovelace"
    # The values did arrive: a session of the repository gets them (the repository's API_KEY wins).
    async with served.client(token=token) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/secrets-repo"})).json()
    assert await store.secrets_for_session(served.context, session["id"]) == {
        "API_KEY": VALUES[1], "FROM_DOTENV": VALUES[2], "QUOTED": VALUES[3]}
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert "secrets.set" in logged or "secrets.import" in logged  # the changes were logged ...
    for value in VALUES:
        assert all(value not in text for text in seen), value  # ... and no answer or log line holds a value
        assert value not in logged, value


async def test_deleting_and_what_a_cookie_sign_in_may_do(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context, BOB)
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        assert (await http.put("/api/secrets/DEPLOY_TOKEN", json={"value": "deploy-value"})).status_code == 200
        deleted = await http.delete("/api/secrets/DEPLOY_TOKEN")
        assert (deleted.status_code, deleted.content) == (204, b"")
        again = await http.delete("/api/secrets/DEPLOY_TOKEN")
        assert (again.status_code, again.json()["error"]["code"]) == (404, "no_such_secret")
        assert (await http.get("/api/secrets")).json() == []
        audit = (await http.get("/api/secrets/audit")).json()
    assert [(c["action"], c["by"]["name"]) for c in audit] == [("delete", "Bob Builder"), ("set", "Bob Builder")]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("PUT", "/api/secrets/api_key", {"value": "abcdefgh"}, 422, "invalid_secret_name"),
    ("PUT", "/api/secrets/PATH", {"value": "abcdefgh"}, 422, "reserved_secret_name"),
    ("PUT", "/api/secrets/GIT_AUTHOR_NAME", {"value": "abcdefgh"}, 422, "reserved_secret_name"),
    ("PUT", "/api/secrets/API_KEY", {"value": "abc"}, 422, "secret_too_short"),
    ("PUT", "/api/secrets/API_KEY", {"value": "x" * (names.MAX_VALUE_BYTES + 1)}, 413, "secret_too_large"),
    ("PUT", "/api/secrets/API_KEY", {"value": "abc\x00defgh"}, 422, "invalid_request"),
    ("PUT", "/api/secrets/API_KEY", {}, 422, "invalid_request"),
    ("PUT", "/api/secrets/API_KEY", {"value": "abcdefgh", "extra": 1}, 422, "invalid_request"),
    ("PUT", "/api/repos/" + "0" * 32 + "/secrets/API_KEY", {"value": "abcdefgh"}, 404, "no_such_repo"),
    ("GET", "/api/repos/" + "0" * 32 + "/secrets", None, 404, "no_such_repo"),
    ("GET", "/api/repos/bad%20id/secrets", None, 422, "invalid_request"),
    ("GET", "/api/secrets/audit?repo_id=" + "0" * 32, None, 404, "no_such_repo"),
    ("DELETE", "/api/secrets/NEVER_SET", None, 404, "no_such_secret"),
    ("POST", "/api/secrets/import", {"dotenv": "OK_KEY=abcdefgh\nnot a line\n"}, 422, "invalid_dotenv"),
    ("POST", "/api/secrets/import", {"dotenv": "# nothing\n"}, 422, "invalid_dotenv"),
    ("POST", "/api/secrets/import", {"dotenv": "LD_PRELOAD=/tmp/x.so\n"}, 422, "reserved_secret_name"),
])
async def test_bad_input_is_a_clear_refusal_and_changes_nothing(served: ServedApi, method: str, path: str,
                                                                body: dict[str, object] | None, status: int,
                                                                code: str) -> None:
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        response = await http.request(method, path, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
        assert (await http.get("/api/secrets")).json() == []
        assert (await http.get("/api/secrets/audit")).json() == []


async def test_too_many_in_one_scope(served: ServedApi) -> None:
    token = await api_token(served.context)
    many = "".join(f"KEY_{i}=value-{i:04d}\n" for i in range(names.MAX_PER_SCOPE))
    async with served.client(token=token) as http:
        assert (await http.post("/api/secrets/import", json={"dotenv": many})).status_code == 200
        refused = await http.put("/api/secrets/ONE_MORE", json={"value": "abcdefgh"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "too_many_secrets")
        assert (await http.put("/api/secrets/KEY_1", json={"value": "replaced"})).status_code == 200
