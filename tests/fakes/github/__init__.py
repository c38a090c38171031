"""A faithful fake GitHub for tests: REST API, OAuth web flow, git over HTTP, webhooks.

One loopback HTTP server (Starlette on uvicorn, in a background thread with its own
event loop), laid out like GitHub Enterprise Server: the web host at
``gh.base_url`` (OAuth pages, git smart HTTP) and REST under ``gh.api_url``
(``/api/v3``). Response shapes follow GitHub's OpenAPI description and webhook
schemas (npm ``@octokit/openapi``, ``@octokit/webhooks-*``); the fidelity tests in
this package check every route against them::

    from tests.fakes.github import serve_fake_github

    with serve_fake_github(tmp_path) as gh:          # 127.0.0.1:<free port>
        app = gh.add_app(slug="openinspect-test", webhook_secret="s3cret")   # RSA key: app.private_key_pem
        ada = gh.add_user("ada", name="Ada Lovelace", email="ada@example.com", orgs=["acme"])
        repo = gh.add_repo("acme", "widgets", files={"README.md": "hi\\n"}, branches=["main", "dev"])
        inst = gh.add_installation(app, account="acme", repos=["acme/widgets"])
        ...  # point the code under test at gh.api_url / gh.base_url / repo.clone_url

Standalone (manual demo; a seeded world, its credentials written to the state file)::

    python -m tests.fakes.github --port 8790 --state-file /tmp/fake-github.json [--seed seed.json]

Test API (:class:`FakeGitHub`; every method is thread-safe):

* world: ``add_app(slug, *, name, client_id, client_secret, webhook_secret, owner, permissions, events,
  callback_urls, key_pair)``, ``add_user(login, *, name, email, orgs, admin_of, private_email)``,
  ``add_org(login, *, admins, members)``, ``add_repo(owner, name, *, default_branch, files, branches,
  private, description, collaborators)`` (an unknown owner becomes an organization; members of an
  organization have write access), ``add_installation(app, *, account, repos=None (all), permissions,
  events)``, ``commit(full_name, branch, files, *, message, author, committer, start) -> sha``;
* reading: ``pulls(owner, repo)`` (as the REST API renders them), ``branches(full_name)``,
  ``branch_commits(full_name, branch)``, ``requests``
  (:class:`RecordedRequest`: method, path, status, auth kind, token id), ``issued_tokens()``,
  ``deliveries``;
* changing: ``merge_pull(full_name, number, *, by)``, ``expire_user_tokens(login)``,
  ``revoke_user_tokens(login)``, ``advance_clock(seconds)``;
* credentials without HTTP: ``issue_installation_token(inst, *, repositories, permissions)``,
  ``issue_user_token(app, login)``, ``app_jwt(app, *, iat, exp, iss)``;
* webhooks: ``pull_request_webhook(full_name, number, action, *, merged, sender, changes)``,
  ``installation_webhook(inst, action, *, sender)``, ``installation_repositories_webhook(inst, added,
  removed, *, sender)`` (each builder first applies the event's state change), ``send_webhook(url, event,
  payload, *, secret, delivery, app)`` / ``asend_webhook(...)``, ``webhook_request(...)`` (headers, body).

Modules: :mod:`.world` (records, access rules, clock), :mod:`.tokens`, :mod:`.app_jwt`,
:mod:`.git_repos`, :mod:`.shapes_accounts`, :mod:`.shapes_repos`, :mod:`.http_common`,
:mod:`.routes_users`, :mod:`.routes_apps`, :mod:`.routes_repos`, :mod:`.pulls`,
:mod:`.routes_oauth`, :mod:`.git_http`, :mod:`.webhook_bodies`, :mod:`.webhook_delivery`,
:mod:`.schemas`, :mod:`.fake`, :mod:`.server`, :mod:`.__main__`.
"""

from .fake import FakeGitHub
from .http_common import RecordedRequest
from .server import serve_fake_github
from .webhook_delivery import Delivery, signature_256

__all__ = ["Delivery", "FakeGitHub", "RecordedRequest", "serve_fake_github", "signature_256"]
