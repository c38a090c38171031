"""The session page's Changes panel: the session's changes against its base branch, per viewer.

What the sandbox last read (``services.changes``, kept after it stops), for a person
signed in (who may read the session: the same check as ``GET /api/sessions/{id}/changes``).
Each viewer's own: opened or not, unified or split, which large diffs they unfolded. It
reloads when the session's ``changes_seq`` moves (a newer ``changes_updated``; the panel
mounts a marker keyed by it) and on its Refresh button.

Each file's diff is rendered on the server (``components/diff_html.py``: escaped,
highlighted) for the mode shown, and only for files not folded: binary files and diffs
the sandbox left out (over a size cap) say why; a diff longer than :data:`FOLD_LINES`
lines waits for "Show diff".
"""

from __future__ import annotations

from dataclasses import dataclass

import openinspect_protocol as p
import reflex as rx

from openinspect_app import running
from openinspect_app.components.diff_html import split_html, unified_html
from openinspect_app.routes import session_id_from_path
from openinspect_app.state.auth import AuthState
from openinspect_core.services import changes, sessions
from openinspect_core.services.errors import ServiceError

FOLD_LINES = 400  # a diff longer than this is folded until asked for
UNIFIED, SPLIT = "unified", "split"
STATUS_LETTERS = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R", "copied": "C", "type_changed": "T"}


@dataclass
class FileView:
    path: str
    old_path: str
    status: str  # added, modified, ...
    letter: str  # A, M, D, R, C, T
    additions: int
    deletions: int
    note: str  # why no diff is shown ("" when one is)
    foldable: bool  # a large diff, folded until asked for ("Show diff")
    html: str  # the rendered diff ("" when folded or left out)


def kilobytes(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"


def file_view(changed: p.ChangedFile, mode: str, expanded: bool) -> FileView:
    """How one file is shown: its diff in ``mode``, or why not."""
    note, foldable, html = "", False, ""
    if changed.omitted == "binary":
        note = "Binary file: no diff to show."
    elif changed.omitted == "file_cap":
        note = f"Diff not shown: {kilobytes(changed.patch_bytes)} is over the per-file limit."
    elif changed.omitted == "total_cap":
        note = "Diff not shown: the session's diffs together are over the size limit."
    elif not changed.patch:
        note = "No lines changed (mode or type only)." if changed.status != "renamed" else "Renamed, unchanged."
    else:
        lines = changed.patch.count("\n")
        if lines > FOLD_LINES and not expanded:
            foldable, note = True, f"Large diff ({lines:,} lines): folded."
        else:
            html = (split_html if mode == SPLIT else unified_html)(changed.patch, changed.path)
    return FileView(path=changed.path, old_path=changed.old_path or "", status=changed.status,
                    letter=STATUS_LETTERS.get(changed.status, "M"), additions=changed.additions,
                    deletions=changed.deletions, note=note, foldable=foldable, html=html)


def summary(snapshot: p.ChangesSnapshot) -> str:
    count = len(snapshot.files) + snapshot.files_omitted
    base = f"{snapshot.base_ref}" + (f" ({snapshot.base_sha[:10]})" if snapshot.base_sha else "")
    files = f"{count} file{'' if count == 1 else 's'}"
    text = f"{files} changed, +{snapshot.additions} -{snapshot.deletions} against {base}"
    return text + (", including uncommitted work" if snapshot.uncommitted else "")


def caps_notice(snapshot: p.ChangesSnapshot) -> str:
    """What the size caps cut, said plainly ("" when nothing was cut)."""
    over_file = sum(1 for f in snapshot.files if f.omitted == "file_cap")
    over_total = sum(1 for f in snapshot.files if f.omitted == "total_cap")
    parts = []
    if over_file:
        parts.append(f"{over_file} diff{'' if over_file == 1 else 's'} over the per-file limit of "
                     f"{kilobytes(snapshot.max_file_bytes)}")
    if over_total:
        parts.append(f"{over_total} diff{'' if over_total == 1 else 's'} beyond the total limit of "
                     f"{kilobytes(snapshot.max_total_bytes)}")
    if snapshot.files_omitted:
        parts.append(f"{snapshot.files_omitted} more file{'' if snapshot.files_omitted == 1 else 's'} not listed")
    return ("Cut to fit: " + "; ".join(parts) + ".") if parts else ""


class ChangesPanel(AuthState):
    opened: bool = False
    loading: bool = False
    mode: str = UNIFIED
    files: list[FileView] = []
    summary: str = ""
    notice: str = ""  # what the caps cut
    error: str = ""
    loaded_seq: int = -1  # the changes_seq these files are from
    expanded: list[str] = []  # paths of large diffs this viewer unfolded

    def _session_id(self) -> str:
        return session_id_from_path(self.router.url.path)

    @rx.event
    async def toggle(self, seq: int = 0) -> None:
        """Open the panel (loading the changes as of ``seq``, the session's changes_seq) or close it."""
        if await self._viewer() is None:
            return
        self.opened = not self.opened
        if self.opened:
            await self._load(seq)
        else:
            self.files, self.expanded, self.loaded_seq = [], [], -1

    @rx.event
    async def refresh(self) -> None:
        if await self._viewer() is None or not self.opened:
            return
        await self._load()

    @rx.event
    async def changed(self, seq: int) -> None:
        """The session has newer changes (its ``changes_seq`` moved): reload when open."""
        if await self._viewer() is None or not self.opened or seq == self.loaded_seq:
            return
        await self._load(seq)

    @rx.event
    async def set_mode(self, mode: str | list[str]) -> None:
        if isinstance(mode, list):  # the segmented control's type allows several; it sends one
            mode = mode[0] if mode else UNIFIED
        if await self._viewer() is None or mode not in (UNIFIED, SPLIT) or mode == self.mode:
            return
        self.mode = mode
        if self.opened:
            await self._load(self.loaded_seq)

    @rx.event
    async def expand(self, path: str) -> None:
        if await self._viewer() is None or not self.opened or path in self.expanded:
            return
        self.expanded = [*self.expanded, path]
        await self._load(self.loaded_seq)

    async def _load(self, seq: int | None = None) -> None:
        self.loading = True
        try:
            async with running.get().context.db.session() as db:
                await sessions.get(db, self._session_id())  # a session that is not there says so
                snapshot = await changes.read(db, self._session_id())
        except ServiceError as error:
            self.files, self.summary, self.notice, self.error = [], "", "", error.message
            return
        finally:
            self.loading = False
        if seq is not None:
            self.loaded_seq = seq
        if snapshot is None:
            self.files, self.summary, self.notice = [], "", ""
            self.error = "No changes yet: they are read at the end of each turn."
            return
        self.error = ""
        self.summary, self.notice = summary(snapshot), caps_notice(snapshot)
        self.files = [file_view(f, self.mode, f.path in self.expanded) for f in snapshot.files]
