"""What the GitHub services need of the running system: the parts of ``AppContext`` they use.

Why a protocol and not ``AppContext`` itself: ``openinspect_core.context`` builds the
:class:`~openinspect_core.github.client.GitHubApp`, so a GitHub module importing the
context would close an import cycle (the layers contract forbids cycles between a
package's modules). Every ``AppContext`` is a :class:`Running`; callers pass theirs.
"""

from __future__ import annotations

from typing import Protocol

from openinspect_core.crypto import Cipher
from openinspect_core.db import Database
from openinspect_core.github.client import GitHubApp
from openinspect_core.settings import Settings
from openinspect_core.unit_of_work import UnitOfWork


class Running(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def cipher(self) -> Cipher: ...

    @property
    def github(self) -> GitHubApp | None: ...

    def work(self) -> UnitOfWork:
        """A transaction that publishes the sessions it changed after it commits."""
        ...
