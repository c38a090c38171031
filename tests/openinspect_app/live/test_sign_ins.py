"""The per-tab cache of verified sign-ins, with a hand-driven clock."""

from __future__ import annotations

from openinspect_app.live.sign_ins import CACHE_SECONDS, SignInCache, Viewer

ADA = Viewer("u1", "Ada Lovelace", "ada@example.com", sign_in="secret")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_believed_for_a_few_seconds_then_looked_up_again() -> None:
    clock = Clock()
    cache = SignInCache(clock=clock)
    cache.put("tab", "cookie-a", ADA)
    assert cache.get("tab", "cookie-a") == ADA
    clock.now += CACHE_SECONDS - 0.1
    assert cache.get("tab", "cookie-a") == ADA
    clock.now += 0.2  # older than the cache lasts: a revoked sign-in stops working here
    assert cache.get("tab", "cookie-a") is None


def test_an_answer_holds_only_for_the_cookie_and_the_tab_it_came_with() -> None:
    cache = SignInCache(clock=Clock())
    cache.put("tab", "cookie-a", ADA)
    assert cache.get("tab", "cookie-b") is None  # another cookie on the same tab: looked up
    assert cache.get("other-tab", "cookie-a") is None
    cache.forget("tab")
    assert cache.get("tab", "cookie-a") is None


def test_the_cache_stays_bounded() -> None:
    clock = Clock()
    cache = SignInCache(clock=clock, max_tabs=3)
    for i in range(10):
        cache.put(f"tab{i}", "c", ADA)
        clock.now += 1
    assert len(cache._entries) <= 3
    assert cache.get("tab9", "c") == ADA


def test_the_sign_in_token_never_shows_in_a_repr() -> None:
    assert "secret" not in repr(ADA)
