"""Reading git's diff output into a session's changes, within size caps. Pure: no git, no I/O.

:mod:`sandbox.changes` runs git three times with the same options — ``--numstat -z``
(counts, ``-`` for binary), ``--name-status -z`` (what happened to each file) and the
patch itself, streamed — and hands the output here. The three list files in the same
order, so they are paired by position (paths come from the ``-z`` forms, never parsed
out of a patch header, where git quotes and escapes them).

The caps: a file's diff larger than ``max_file_bytes`` is folded (``file_cap``); once the
diffs kept add up to ``max_total_bytes``, later ones are folded (``total_cap``); binary
files have none (``binary``). A folded file keeps its counts. :class:`PatchCollector`
applies the caps while the patch streams in, so memory stays near the caps however
large the diff; :func:`fit_in_frame` then folds the largest diffs left until the whole
event fits in one bridge frame (JSON escaping can make text grow).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_CHANGED_FILES, MAX_CHANGED_PATH_CHARS, MAX_EVENT_BYTES

FILE_HEADER = b"diff --git "
HUNK_START = b"@@"
# Why: the event's envelope (seq, ts, message_id) and what the outbox adds; the rest is for the files.
FRAME_MARGIN_BYTES = 4096

_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type_changed"}


@dataclass(frozen=True)
class FileCount:
    path: str
    old_path: str | None
    additions: int | None  # None: binary (git prints "-")
    deletions: int | None


def parse_numstat(output: str) -> list[FileCount]:
    """``git diff --numstat -z``: ``A\\tD\\tpath\\0``, or ``A\\tD\\t\\0old\\0new\\0`` for a rename or copy."""
    fields = output.split("\0")
    counts: list[FileCount] = []
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if not record:
            continue
        added, deleted, path = [*record.split("\t", 2), "", ""][:3]
        old_path = None
        if path == "" and i + 1 < len(fields):  # a rename: the two paths follow as fields of their own
            old_path, path = fields[i], fields[i + 1]
            i += 2
        counts.append(FileCount(path, old_path, _count(added), _count(deleted)))
    return counts


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_name_status(output: str) -> list[str]:
    """``git diff --name-status -z``: each file's status (added, modified, ...), in order."""
    fields = output.split("\0")
    statuses: list[str] = []
    i = 0
    while i < len(fields):
        code = fields[i]
        i += 1
        if not code:
            continue
        letter = code[0]
        statuses.append(_STATUS.get(letter, "modified"))
        i += 2 if letter in "RC" else 1  # a rename or copy names two paths
    return statuses


@dataclass
class _Chunk:
    kept: bytearray = field(default_factory=bytearray)  # from the first hunk, while within the caps
    size: int = 0  # bytes of the file's diff from its first hunk, kept or not
    in_hunks: bool = False
    binary: bool = False
    over_file_cap: bool = False
    over_total_cap: bool = False


class PatchCollector:
    """Splits a streamed ``git diff`` into one diff per file, keeping only what the caps allow."""

    def __init__(self, max_file_bytes: int, max_total_bytes: int) -> None:
        self._max_file = max_file_bytes
        self._max_total = max_total_bytes
        self._kept_total = 0
        self.chunks: list[_Chunk] = []
        self._partial = b""

    def feed(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line + b"\n")

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        self._settle_last()

    def _line(self, line: bytes) -> None:
        if line.startswith(FILE_HEADER):
            self._settle_last()
            self.chunks.append(_Chunk())
            return
        if not self.chunks:
            return  # nothing before the first header belongs to a file
        chunk = self.chunks[-1]
        if not chunk.in_hunks:
            if line.startswith(HUNK_START):
                chunk.in_hunks = True
            else:
                chunk.binary = chunk.binary or line.startswith((b"Binary files ", b"GIT binary patch"))
                return  # the header: mode, index, ---/+++ lines
        chunk.size += len(line)
        if chunk.over_file_cap or chunk.over_total_cap:
            return
        if chunk.size > self._max_file:
            chunk.over_file_cap, chunk.kept = True, bytearray()
        elif self._kept_total + chunk.size > self._max_total:
            chunk.over_total_cap, chunk.kept = True, bytearray()
        else:
            chunk.kept += line

    def _settle_last(self) -> None:
        if self.chunks:
            self._kept_total += len(self.chunks[-1].kept)


def build_files(counts: list[FileCount], statuses: list[str], chunks: list[_Chunk]) -> list[protocol.ChangedFile]:
    """One :class:`~openinspect_protocol.ChangedFile` per changed file, the three outputs paired by position."""
    files = []
    for index, count in enumerate(counts):
        chunk = chunks[index] if index < len(chunks) else _Chunk()
        binary = chunk.binary or count.additions is None
        if binary:
            omitted = "binary"
        elif chunk.over_file_cap:
            omitted = "file_cap"
        elif chunk.over_total_cap:
            omitted = "total_cap"
        else:
            omitted = ""
        files.append(protocol.ChangedFile(
            path=_path(count.path), old_path=_path(count.old_path) if count.old_path else None,
            status=statuses[index] if index < len(statuses) else "modified",
            additions=count.additions or 0, deletions=count.deletions or 0, binary=binary,
            patch="" if omitted else _text(bytes(chunk.kept)), patch_bytes=chunk.size, omitted=omitted,
        ))
    return files


def _path(path: str) -> str:
    return _text(path.encode("utf-8", "surrogateescape"))[:MAX_CHANGED_PATH_CHARS] or "?"


def _text(data: bytes) -> str:
    # A diff is shown, never applied: bytes that are not UTF-8 become U+FFFD, and NUL (which no
    # database column of text may hold) too.
    return data.decode("utf-8", "replace").replace("\0", "\ufffd")


def snapshot(files: list[protocol.ChangedFile], *, base_ref: str, base_sha: str | None, head_sha: str | None,
             uncommitted: bool, max_file_bytes: int, max_total_bytes: int) -> protocol.ChangesSnapshot:
    """The ``changes`` event: the first :data:`MAX_CHANGED_FILES` files listed, the rest counted."""
    listed = files[:MAX_CHANGED_FILES]
    return protocol.ChangesSnapshot(
        base_ref=base_ref[:300], base_sha=base_sha, head_sha=head_sha, files=listed,
        files_omitted=len(files) - len(listed),
        additions=sum(f.additions for f in files), deletions=sum(f.deletions for f in files),
        uncommitted=uncommitted, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes,
    )


def fit_in_frame(event: protocol.ChangesSnapshot,
                 max_bytes: int = MAX_EVENT_BYTES - FRAME_MARGIN_BYTES) -> protocol.ChangesSnapshot:
    """``event`` with its largest diffs folded (``total_cap``) until its JSON fits in ``max_bytes``."""
    files = list(event.files)
    while len(event.model_dump_json().encode()) > max_bytes:
        shown = [i for i, f in enumerate(files) if f.patch]
        if not shown:
            # Only names and counts left and still too big (very many, very long paths): list fewer.
            keep = max(len(files) // 2, 0)
            event = event.model_copy(update={"files": files[:keep],
                                             "files_omitted": event.files_omitted + len(files) - keep})
            files = list(event.files)
            if not files:
                return event
            continue
        largest = max(shown, key=lambda i: len(files[i].patch))
        files[largest] = files[largest].model_copy(update={"patch": "", "omitted": "total_cap"})
        event = event.model_copy(update={"files": files})
    return event
