"""The one log style: correlation ids bound for a block reach every line, in both forms, scrubbed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from openinspect_protocol import logs
from openinspect_protocol.redaction import process_redactor


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Every record of the ``h3test`` logger, as JSON lines and as text lines."""
    json_out, text_out = io.StringIO(), io.StringIO()
    logger = logging.getLogger("h3test")
    handlers = [logging.StreamHandler(json_out), logging.StreamHandler(text_out)]
    handlers[0].setFormatter(logs.JsonFormatter())
    handlers[1].setFormatter(logs.TextFormatter())
    logger.handlers[:] = handlers
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield json_out, text_out
    logger.handlers[:] = []


def json_lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_bound_ids_are_on_every_line_of_the_block_and_gone_after(captured: tuple[io.StringIO, io.StringIO]) -> None:
    json_out, text_out = captured
    log = logs.EventLog("h3test")
    with logs.bind(session_id="s1", request_id="r1"):
        log.info("outer.step", n=1)
        with logs.bind(message_id="m1", session_id=None):  # None leaves the session id as it is
            assert logs.bound() == {"session_id": "s1", "request_id": "r1", "message_id": "m1"}
            log.warning("inner.step")
        log.info("outer.again")
    log.info("unbound.step")
    assert logs.bound() == {}
    lines = json_lines(json_out)
    assert [(line["event"], line.get("session_id"), line.get("request_id"), line.get("message_id"))
            for line in lines] == [("outer.step", "s1", "r1", None), ("inner.step", "s1", "r1", "m1"),
                                   ("outer.again", "s1", "r1", None), ("unbound.step", None, None, None)]
    assert lines[0]["n"] == 1 and lines[1]["level"] == "warning" and lines[0]["logger"] == "h3test"
    text = text_out.getvalue().splitlines()
    assert "inner.step request_id='r1' session_id='s1' message_id='m1'" in text[1]
    assert text[3].endswith("unbound.step")


def test_an_explicit_field_wins_over_a_bound_id(captured: tuple[io.StringIO, io.StringIO]) -> None:
    json_out, _ = captured
    with logs.bind(sandbox_id="sb-bound"):
        logs.EventLog("h3test").info("x", sandbox_id="sb-explicit")
    assert json_lines(json_out)[0]["sandbox_id"] == "sb-explicit"


def test_an_unknown_id_name_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown correlation id"), logs.bind(sesion_id="typo"):
        pass


async def test_tasks_started_inside_a_block_keep_its_ids_and_do_not_leak_theirs(
        captured: tuple[io.StringIO, io.StringIO]) -> None:
    json_out, _ = captured
    log = logs.EventLog("h3test")

    async def work(message_id: str) -> None:
        with logs.bind(message_id=message_id):
            await asyncio.sleep(0)
            log.info("task.step")

    with logs.bind(session_id="s1"):
        await asyncio.gather(asyncio.create_task(work("m1")), asyncio.create_task(work("m2")))
    assert logs.bound() == {}
    assert sorted((line["session_id"], line["message_id"]) for line in json_lines(json_out)) == [
        ("s1", "m1"), ("s1", "m2")]


def test_both_forms_scrub_secret_values_from_the_whole_line(captured: tuple[io.StringIO, io.StringIO]) -> None:
    json_out, text_out = captured
    value = "h3-canary-value-9c1f"
    process_redactor().add("H3_TEST_SECRET", value)
    try:
        raise RuntimeError(f"failed with {value}")
    except RuntimeError:
        logs.EventLog("h3test").exception("oops", detail=f"the value {value}", quoted=f'"{value}"')
    assert value not in json_out.getvalue() and value not in text_out.getvalue()
    line = json_lines(json_out)[0]
    assert line["detail"] == "the value [secret:H3_TEST_SECRET]"
    assert "[secret:H3_TEST_SECRET]" in line["traceback"]
    assert "[secret:H3_TEST_SECRET]" in text_out.getvalue()


def test_a_record_of_another_library_carries_the_ids_bound_where_it_is_formatted(
        captured: tuple[io.StringIO, io.StringIO]) -> None:
    json_out, _ = captured
    with logs.bind(delivery_id="d-1"):
        logging.getLogger("h3test").info("plain %s", "message")
    line = json_lines(json_out)[0]
    assert (line["event"], line["delivery_id"]) == ("plain message", "d-1")


@pytest.mark.parametrize(("given", "usable"), [("abc-DEF_123", True), ("x" * 64, True), ("x" * 65, False),
                                               ("", False), ("a b", False), ("a\nb", False), ("abc\n", False),
                                               ('a"b', False)])
def test_only_plain_ids_are_taken_from_outside(given: str, usable: bool) -> None:
    assert bool(logs.VALID_ID.match(given)) is usable
    assert logs.VALID_ID.match(logs.new_request_id())
