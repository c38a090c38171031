"""Every keyboard shortcut the session page handles is in its "?" dialog and in the README."""

from __future__ import annotations

from openinspect_app.components.shortcuts import SCRIPT, SHORTCUTS
from tests.conftest import REPO_ROOT


def test_the_readme_lists_every_shortcut_the_dialog_shows() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## The session page"):]
    for keys, _ in SHORTCUTS:
        assert f"`{keys}`" in section, keys


def test_the_script_handles_the_keys_it_documents() -> None:
    for key in ('"Enter"', '"Escape"', '"ArrowDown"', '"ArrowUp"', '"]"', '"["', '"?"', '"/"'):
        assert key in SCRIPT, key
