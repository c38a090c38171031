"""The Changes panel's rendering: a hostile repository's text only ever escaped, highlighting, unified and split
rows, folding of binary, capped and large diffs, and what the caps cut said plainly."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import openinspect_protocol as p

from openinspect_app.components.diff_html import STYLESHEET, parse_patch, split_html, unified_html
from openinspect_app.pages.session import session_page
from openinspect_app.state.changes import FOLD_LINES, SPLIT, UNIFIED, ChangesPanel, caps_notice, file_view, summary

HOSTILE = ('@@ -1,2 +1,3 @@\n'
           ' const a = 1;\n'
           '-document.title = "<script>alert(1)</script>";\n'
           '+document.title = "</td></tr></table><img src=x onerror=alert(2)>";\n'
           "+// ' onmouseover='alert(3)\n"
           ' export default a;\n')


class Tags(HTMLParser):
    """Every tag and attribute the markup really has (what a browser would build)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(markup: str) -> Tags:
    tags = Tags()
    tags.feed(markup)
    return tags


def test_a_hostile_diff_is_only_text_in_the_page() -> None:
    for markup in (unified_html(HOSTILE, "evil.js"), split_html(HOSTILE, "evil.js")):
        tags = parsed(markup)
        assert set(tags.tags) <= {"table", "tbody", "tr", "td", "span"}
        assert {name for name, _ in tags.attributes} <= {"class", "colspan"}
        assert all(re.fullmatch(r"[a-z0-9 -]*", value or "") for _, value in tags.attributes)
        text = "".join(tags.text)
        assert '"<script>alert(1)</script>"' in text and "<img src=x onerror=alert(2)>" in text


def test_code_is_highlighted_by_its_file_name() -> None:
    markup = unified_html("@@ -0,0 +1,2 @@\n+def f():\n+    return 'x'\n", "app.py")
    assert '<span class="k">def</span>' in markup and '<span class="nf">f</span>' in markup
    assert '<span class="s1">&#x27;</span><span class="s1">x</span>' in markup
    plain = unified_html("@@ -0,0 +1 @@\n+def f():\n", "notes.unknownext")
    assert "<span" not in plain and "def f():" in plain
    assert ".oi-diff .k {" in STYLESHEET and ".dark .oi-diff .k {" in STYLESHEET


def test_a_string_across_lines_is_coloured_on_each() -> None:
    markup = unified_html('@@ -0,0 +1,3 @@\n+s = """one\n+two\n+three"""\n', "a.py")
    rows = markup.split("<tr")[2:]  # after the hunk's header
    assert len(rows) == 3 and all('class="s2"' in row for row in rows)


def test_line_numbers_follow_each_side() -> None:
    lines = parse_patch("@@ -10,3 +20,3 @@ def g():\n a\n-b\n+c\n d\n\\ No newline at end of file")
    assert [(line.kind, line.old, line.new) for line in lines] == [
        ("hunk", None, None), ("context", 10, 20), ("del", 11, None), ("add", None, 21), ("context", 12, 22),
        ("note", None, None)]
    assert lines[-1].text == "No newline at end of file"


def test_split_puts_a_change_s_removed_and_added_lines_face_to_face() -> None:
    markup = split_html("@@ -1,3 +1,2 @@\n-a\n-b\n+c\n x\n", "t.txt")
    rows = markup.split("<tr")[1:]
    assert 'class="code del">a</td><td class="ln">1</td><td class="code add">c</td>' in rows[1]
    assert 'class="code del">b</td><td class="ln"></td><td class="code empty"></td>' in rows[2]
    assert rows[3].count(">x</td>") == 2  # context on both sides
    assert "unified" not in markup and 'class="oi-diff split"' in markup


def changed(**values: object) -> p.ChangedFile:
    return p.ChangedFile.model_validate({"path": "app.py", **values})


def test_folding_says_why_and_large_diffs_wait_for_show() -> None:
    binary = file_view(changed(path="logo.png", binary=True, omitted="binary"), UNIFIED, False)
    assert (binary.html, binary.note, binary.foldable) == ("", "Binary file: no diff to show.", False)
    capped = file_view(changed(omitted="file_cap", patch_bytes=900_000, additions=9000), UNIFIED, False)
    assert "879 KB is over the per-file limit" in capped.note and capped.additions == 9000
    total = file_view(changed(omitted="total_cap", patch_bytes=10), SPLIT, False)
    assert "over the size limit" in total.note and total.html == ""
    long_patch = "@@ -0,0 +1,500 @@\n" + "".join(f"+line {i}\n" for i in range(FOLD_LINES + 100))
    folded = file_view(changed(patch=long_patch, additions=500), UNIFIED, False)
    assert folded.foldable and folded.html == "" and "Large diff" in folded.note
    shown = file_view(changed(patch=long_patch, additions=500), SPLIT, True)
    assert not shown.foldable and 'class="oi-diff split"' in shown.html
    renamed = file_view(changed(path="b.txt", old_path="a.txt", status="renamed"), UNIFIED, False)
    assert (renamed.letter, renamed.old_path, renamed.note) == ("R", "a.txt", "Renamed, unchanged.")


def test_what_the_caps_cut_is_said_and_nothing_when_nothing_was() -> None:
    base = {"base_ref": "origin/main", "base_sha": "a" * 40, "max_file_bytes": 65536, "max_total_bytes": 196608}
    whole = p.ChangesSnapshot(files=[changed(patch="@@ -1 +1 @@\n-a\n+b\n", additions=1, deletions=1)],
                              additions=1, deletions=1, **base)
    assert caps_notice(whole) == ""
    assert summary(whole) == "1 file changed, +1 -1 against origin/main (aaaaaaaaaa)"
    cut = p.ChangesSnapshot(files=[changed(omitted="file_cap"), changed(path="b", omitted="total_cap"),
                                   changed(path="c", omitted="total_cap"), changed(path="d.png", omitted="binary")],
                            files_omitted=7, uncommitted=True, **base)
    assert caps_notice(cut) == ("Cut to fit: 1 diff over the per-file limit of 64 KB; 2 diffs beyond the total "
                                "limit of 192 KB; 7 more files not listed.")
    assert summary(cut).startswith("11 files changed") and summary(cut).endswith("including uncommitted work")


def test_the_session_page_has_the_panel_and_the_badge() -> None:
    page = str(session_page())
    for element in ("changes-toggle", "changes-mode", "changes-refresh", "changes-files", "verify-badge"):
        assert element in page
    assert set(ChangesPanel.event_handlers) >= {"toggle", "refresh", "changed", "set_mode", "expand"}
