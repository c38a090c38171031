"""What the sign-in page says for each refusal code of the sign-in endpoints."""

from __future__ import annotations

from openinspect_app.routes import github_sign_in_url
from openinspect_app.state.sign_in import ERRORS, error_message


def test_an_outsider_is_told_why_and_whom_to_ask() -> None:
    assert error_message("github_not_allowed", "mallory", ("acme", "widgets-inc")) == (
        "mallory is not a member of acme or widgets-inc and not on the allow-list: ask an administrator.")


def test_a_login_that_is_no_github_login_is_not_repeated() -> None:
    for login in ("<img src=x onerror=alert(1)>", "a" * 40, "", None, "-dash"):
        message = error_message("github_not_allowed", login, ("acme",))
        assert message.startswith("Your GitHub account is not a member of acme"), login


def test_every_github_code_has_words_and_an_unknown_one_says_its_code() -> None:
    for code in ("github_state_mismatch", "github_denied", "github_failed"):
        assert error_message(code, None, ()) == ERRORS[code]
    assert error_message("something_new", None, ()) == "Signing in did not work (something_new)."


def test_the_github_link_keeps_only_a_local_next() -> None:
    assert github_sign_in_url("/sessions/abc") == "/api/auth/github/login?next=/sessions/abc"
    assert github_sign_in_url("//evil.example/") == "/api/auth/github/login?next=/"
