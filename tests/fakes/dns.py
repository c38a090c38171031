"""A name resolver for repository policies in tests: the test machine has no DNS, and the
policy's answer must not depend on what the internet says today."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PUBLIC_ADDRESS = "140.82.112.3"  # one of github.com's


class FakeDns:
    """Resolves the names it was given (others do not exist); every other name is unknown."""

    def __init__(self, names: Mapping[str, Sequence[str]] | None = None) -> None:
        self.names = dict(names or {"github.com": [PUBLIC_ADDRESS]})
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError(f"unknown host {host}")
        return self.names[host]
