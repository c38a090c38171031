"""Redactor and StreamScrubber: values become [secret:NAME], also when split across chunks."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from openinspect_protocol.redaction import MIN_SCRUB_CHARS, Redactor, mark, process_redactor


def test_scrub_replaces_every_occurrence_with_the_name() -> None:
    redactor = Redactor({"API_KEY": "sk-live-123456"})
    assert redactor.scrub("a sk-live-123456 b sk-live-123456") == "a [secret:API_KEY] b [secret:API_KEY]"
    assert mark("X") == "[secret:X]"


def test_the_longest_value_wins_at_one_position() -> None:
    redactor = Redactor({"SHORT": "abcdef", "LONG": "abcdefghij"})
    assert redactor.scrub("xabcdefghijx abcdefg") == "x[secret:LONG]x [secret:SHORT]g"


def test_json_escaped_forms_are_scrubbed() -> None:
    value = 'pa"ss\nwörd-1'
    redactor = Redactor({"PASSWORD": value})
    assert redactor.scrub(json.dumps({"v": value})) == '{"v": "[secret:PASSWORD]"}'
    assert redactor.scrub(json.dumps({"v": value}, ensure_ascii=False)) == '{"v": "[secret:PASSWORD]"}'


def test_short_values_are_ignored_and_an_empty_redactor_is_false() -> None:
    redactor = Redactor({"TINY": "a" * (MIN_SCRUB_CHARS - 1)})
    assert not redactor
    assert redactor.scrub("aaaaa") == "aaaaa"
    redactor.add("OK", "b" * MIN_SCRUB_CHARS)
    assert redactor


def test_scrub_data_reaches_nested_strings() -> None:
    redactor = Redactor({"TOKEN": "tok-secret-1"})
    data = {"a": ["x tok-secret-1", ("tok-secret-1", 3)], "tok-secret-1": {"n": None}}
    assert redactor.scrub_data(data) == {
        "a": ["x [secret:TOKEN]", ("[secret:TOKEN]", 3)],
        "[secret:TOKEN]": {"n": None},
    }


def test_contains_secret_names_the_value_found() -> None:
    redactor = Redactor({"TOKEN": "tok-secret-1"})
    assert redactor.contains_secret("+ x = 'tok-secret-1'") == "TOKEN"
    assert redactor.contains_secret("nothing here") is None


def test_stream_holds_back_a_possible_start_and_flushes_it() -> None:
    stream = Redactor({"KEY": "secret-value"}).stream()
    assert stream.feed("hello secr") == "hello "
    assert stream.feed("et-va") == ""
    assert stream.feed("lue and secret") == "[secret:KEY] and "
    assert stream.flush() == "secret"


def test_stream_without_values_passes_text_through() -> None:
    stream = Redactor().stream()
    assert stream.feed("abc") == "abc"
    assert stream.flush() == ""


def test_process_redactor_is_one_per_process() -> None:
    assert process_redactor() is process_redactor()


# Small alphabet so values overlap, share prefixes and occur inside the text often.
_alphabet = st.sampled_from('ab"\\\nc')
_values = st.dictionaries(
    st.sampled_from(["A", "B", "C", "D"]),
    st.text(_alphabet, min_size=MIN_SCRUB_CHARS, max_size=10),
    max_size=4,
)


@st.composite
def _stream_case(draw: st.DrawFn) -> tuple[dict[str, str], list[str]]:
    values = draw(_values)
    pieces = draw(st.lists(st.one_of(st.text(_alphabet, max_size=8), st.sampled_from(list(values.values()) or [""]))))
    text = "".join(pieces)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return values, [text[start:end] for start, end in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(_stream_case())
def test_streamed_output_equals_scrub_of_the_whole(case: tuple[dict[str, str], list[str]]) -> None:
    values, chunks = case
    redactor = Redactor(values)
    stream = redactor.stream()
    output = "".join(stream.feed(chunk) for chunk in chunks) + stream.flush()
    assert output == redactor.scrub("".join(chunks))


# A value made of the mark's own characters could reappear in the output by construction.
_not_in_mark = st.characters(blacklist_characters="[secret:SECRET]")


@settings(max_examples=300, deadline=None)
@given(st.text(_not_in_mark, min_size=MIN_SCRUB_CHARS, max_size=40), st.text(max_size=30), st.data())
def test_streamed_output_never_contains_the_value(value: str, around: str, data: st.DataObject) -> None:
    text = around + value + around + value
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=20)))
    bounds = [0, *cuts, len(text)]
    stream = Redactor({"SECRET": value}).stream()
    output = "".join(stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + stream.flush()
    assert value not in output
    assert output.count("[secret:SECRET]") >= 2
