"""The fake driven by githubkit, whose typed models must parse every answer.

githubkit signs its own App JWT (``iss`` as a string, ``iat`` backdated a minute),
asks for installation tokens and parses responses into pydantic models generated
from GitHub's OpenAPI description: a missing or mistyped field fails here.
"""

from __future__ import annotations

from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy

from tests.fakes.github.conftest import Seeded


async def test_app_installation_and_user_flows_parse_in_githubkit(seeded: Seeded) -> None:
    gh, app, inst = seeded.gh, seeded.app, seeded.inst
    as_app = AppAuthStrategy(app.id, app.private_key_pem, app.client_id, app.client_secret)
    async with GitHub(as_app, base_url=gh.api_url, trust_env=False, http_cache=False, auto_retry=False) as github:
        authenticated = (await github.rest.apps.async_get_authenticated()).parsed_data
        assert authenticated is not None and authenticated.slug == "openinspect-test"
        installation = (await github.rest.apps.async_get_installation(inst.id)).parsed_data
        assert installation.account is not None and installation.app_slug == "openinspect-test"
        listed = (await github.rest.apps.async_list_installations()).parsed_data
        assert [i.id for i in listed] == [inst.id]
        created = (await github.rest.apps.async_create_installation_access_token(
            inst.id, repositories=["widgets"], permissions={"contents": "write", "pull_requests": "write"})).parsed_data
        assert created.token.startswith("ghs_") and created.repository_selection == "selected"
        assert [r.full_name for r in created.repositories or []] == ["acme/widgets"]

        # The App acting as its installation: githubkit fetches and caches the token itself.
        as_installation = github.with_auth(github.auth.as_installation(inst.id))
        repos = (await as_installation.rest.apps.async_list_repos_accessible_to_installation()).parsed_data
        assert sorted(r.full_name for r in repos.repositories) == ["acme/gadgets", "acme/widgets"]
        branch = (await as_installation.rest.repos.async_get_branch("acme", "widgets", "feature")).parsed_data
        assert branch.commit.sha == seeded.feature_sha

    async with GitHub(TokenAuthStrategy(created.token), base_url=gh.api_url, trust_env=False, http_cache=False,
                      auto_retry=False) as narrowed:
        visible = (await narrowed.rest.apps.async_list_repos_accessible_to_installation()).parsed_data
        assert [r.full_name for r in visible.repositories] == ["acme/widgets"]

    user_token = gh.issue_user_token(app, "ada")["access_token"]
    async with GitHub(TokenAuthStrategy(user_token), base_url=gh.api_url, trust_env=False, http_cache=False,
                      auto_retry=False) as as_ada:
        me = (await as_ada.rest.users.async_get_authenticated()).parsed_data
        assert (me.login, me.email) == ("ada", "ada@example.com")
        emails = (await as_ada.rest.users.async_list_emails_for_authenticated_user()).parsed_data
        assert emails[0].primary and emails[0].email == "ada@example.com"
        membership = (await as_ada.rest.orgs.async_get_membership_for_authenticated_user("acme")).parsed_data
        assert membership.state == "active"
        repo = (await as_ada.rest.repos.async_get("acme", "widgets")).parsed_data
        assert repo.private and repo.default_branch == "main"
        pr = (await as_ada.rest.pulls.async_create("acme", "widgets", title="Add feature", head="feature",
                                                   base="main", body="Please")).parsed_data
        assert (pr.number, pr.user.login, pr.head.sha, pr.merged) == (1, "ada", seeded.feature_sha, False)
        found = (await as_ada.rest.pulls.async_list("acme", "widgets", head="acme:feature", state="open")).parsed_data
        assert [p.number for p in found] == [1]
        updated = (await as_ada.rest.pulls.async_update("acme", "widgets", 1, state="closed")).parsed_data
        assert updated.state == "closed"
        installations = (await as_ada.rest.apps.async_list_installations_for_authenticated_user()).parsed_data
        assert installations.total_count == 1


def test_githubkit_sync_client_sees_422_as_request_failed(seeded: Seeded) -> None:
    from githubkit.exception import RequestFailed

    token = seeded.gh.issue_installation_token(seeded.inst)
    with GitHub(TokenAuthStrategy(token), base_url=seeded.gh.api_url, trust_env=False, http_cache=False,
                auto_retry=False) as github:
        try:
            github.rest.pulls.create("acme", "widgets", title="x", head="dev", base="main")
        except RequestFailed as exc:
            assert exc.response.status_code == 422
            assert exc.response.json()["errors"][0]["message"] == "No commits between main and dev"
        else:
            raise AssertionError("a pull request without commits was accepted")
