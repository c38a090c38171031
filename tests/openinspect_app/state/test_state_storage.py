"""Where Reflex keeps each tab's state: in memory only.

Every tab's state holds its WebSocket's request headers (``router.headers``), the
sign-in cookie among them, and for one render a new API token. Reflex's default
state manager pickles all of it into ``.states/`` in the working directory (files
anyone who can read the checkout can read: a stolen cookie signs its reader in).
In memory it lives only as long as the process; a restarted server loses nothing
a tab cannot rebuild (it hydrates again).
"""

from __future__ import annotations

from reflex_base import constants
from reflex_base.config import get_config


def test_tab_state_is_kept_in_memory_never_written_to_disk() -> None:
    assert get_config().state_manager_mode == constants.StateManagerMode.MEMORY
