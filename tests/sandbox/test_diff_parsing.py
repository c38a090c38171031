"""Reading git's diff output: counts, statuses, one diff per file, the size caps and the frame limit."""

from __future__ import annotations

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_EVENT_BYTES

from sandbox.diff_parsing import (
    FileCount,
    PatchCollector,
    build_files,
    fit_in_frame,
    parse_name_status,
    parse_numstat,
    snapshot,
)


def patch_of(path: str, body_lines: list[str], *, new: bool = False) -> bytes:
    header = f"diff --git a/{path} b/{path}\n"
    header += "new file mode 100644\nindex 0000000..1111111\n--- /dev/null\n" if new else \
        "index 1111111..2222222 100644\n--- a/" + path + "\n"
    header += f"+++ b/{path}\n"
    return (header + "".join(line + "\n" for line in body_lines)).encode()


def collect(data: bytes, max_file: int = 10_000, max_total: int = 100_000, piece: int = 7) -> PatchCollector:
    collector = PatchCollector(max_file, max_total)
    for start in range(0, len(data), piece):  # fed in small pieces: lines cross reads
        collector.feed(data[start:start + piece])
    collector.close()
    return collector


def test_numstat_with_binaries_renames_and_odd_names() -> None:
    output = "3\t1\tapp.py\0-\t-\tlogo.png\0" + "0\t0\t\0old name.txt\0new\tname.txt\0" + "2\t0\tü/x y.md\0"
    assert parse_numstat(output) == [
        FileCount("app.py", None, 3, 1),
        FileCount("logo.png", None, None, None),
        FileCount("new\tname.txt", "old name.txt", 0, 0),
        FileCount("ü/x y.md", None, 2, 0),
    ]


def test_name_status_skips_the_second_path_of_a_rename() -> None:
    output = "M\0app.py\0A\0logo.png\0R087\0old.txt\0new.txt\0D\0gone\0C100\0a\0b\0T\0link\0"
    assert parse_name_status(output) == ["modified", "added", "renamed", "deleted", "copied", "type_changed"]


def test_each_file_gets_its_own_diff_from_its_first_hunk() -> None:
    data = patch_of("a.py", ["@@ -1 +1,2 @@", " x", "+y"]) + \
        b"diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n" + \
        patch_of("b.txt", ["@@ -0,0 +1 @@", "+new", "\\ No newline at end of file"], new=True)
    collector = collect(data)
    counts = [FileCount("a.py", None, 1, 0), FileCount("logo.png", None, None, None), FileCount("b.txt", None, 1, 0)]
    files = build_files(counts, ["modified", "modified", "added"], collector.chunks)
    assert [f.patch for f in files] == ["@@ -1 +1,2 @@\n x\n+y\n", "",
                                        "@@ -0,0 +1 @@\n+new\n\\ No newline at end of file\n"]
    assert [f.omitted for f in files] == ["", "binary", ""]
    assert files[1].binary and files[1].additions == 0
    assert files[2].status == "added" and files[0].patch_bytes == len(files[0].patch)


def test_a_diff_over_the_file_cap_is_folded_with_its_counts_and_size() -> None:
    big = ["@@ -1,200 +1,200 @@"] + [f"+line {i} " + "x" * 50 for i in range(200)]
    data = patch_of("big.txt", big) + patch_of("small.txt", ["@@ -1 +1 @@", "-a", "+b"])
    collector = collect(data, max_file=1000, piece=4096)
    files = build_files([FileCount("big.txt", None, 200, 0), FileCount("small.txt", None, 1, 1)],
                        ["modified", "modified"], collector.chunks)
    assert files[0].omitted == "file_cap" and files[0].patch == "" and files[0].additions == 200
    assert files[0].patch_bytes == sum(len(line) + 1 for line in big)
    assert files[1].omitted == "" and files[1].patch == "@@ -1 +1 @@\n-a\n+b\n"
    assert all(len(c.kept) <= 1000 for c in collector.chunks)  # memory stays within the caps


def test_diffs_beyond_the_total_cap_are_folded_and_the_first_ones_kept() -> None:
    body = ["@@ -1,5 +1,5 @@"] + ["+" + "y" * 60 for _ in range(5)]  # ~330 bytes each
    data = b"".join(patch_of(f"f{i}.txt", body) for i in range(5))
    collector = collect(data, max_file=1000, max_total=800, piece=100)
    files = build_files([FileCount(f"f{i}.txt", None, 5, 0) for i in range(5)], ["modified"] * 5, collector.chunks)
    assert [f.omitted for f in files] == ["", "", "total_cap", "total_cap", "total_cap"]
    assert sum(len(f.patch) for f in files) <= 800


def test_bytes_that_are_not_text_never_reach_the_event() -> None:
    data = patch_of("weird.txt", ["@@ -1 +1 @@", "-a"]) + b"+caf\xe9 \x00 end\n"
    files = build_files([FileCount("weird.txt", None, 1, 1)], ["modified"], collect(data).chunks)
    assert files[0].patch == "@@ -1 +1 @@\n-a\n+caf\ufffd \ufffd end\n"
    assert "\0" not in files[0].patch


def test_the_snapshot_lists_at_most_the_limit_and_counts_the_rest() -> None:
    limit = protocol.events.MAX_CHANGED_FILES
    files = [protocol.ChangedFile(path=f"f{i}", additions=1, deletions=2) for i in range(limit + 3)]
    event = snapshot(files, base_ref="origin/main", base_sha="a", head_sha="b", uncommitted=False,
                     max_file_bytes=10, max_total_bytes=20)
    assert len(event.files) == limit and event.files_omitted == 3
    assert event.additions == len(files) and event.deletions == 2 * len(files)


def test_an_event_that_would_not_fit_in_a_frame_folds_its_largest_diffs() -> None:
    # Quotes and control characters grow when JSON-escaped: 120 KB of them is far more on the wire.
    heavy = "@@ -1 +1 @@\n" + '+"\x01' * 40_000 + "\n"
    light = "@@ -1 +1 @@\n-a\n+b\n"
    files = [protocol.ChangedFile(path="heavy.txt", additions=1, patch=heavy, patch_bytes=len(heavy)),
             protocol.ChangedFile(path="light.txt", additions=1, deletions=1, patch=light, patch_bytes=len(light))]
    event = snapshot(files, base_ref="origin/main", base_sha=None, head_sha=None, uncommitted=True,
                     max_file_bytes=200_000, max_total_bytes=200_000)
    assert len(event.model_dump_json().encode()) > MAX_EVENT_BYTES
    fitted = fit_in_frame(event)
    assert len(fitted.model_dump_json().encode()) <= MAX_EVENT_BYTES
    assert fitted.files[0].omitted == "total_cap" and fitted.files[0].patch == ""
    assert fitted.files[1].patch == light  # the small one is still shown
    assert protocol.parse_sandbox_event(fitted.model_dump_json()) == fitted
