"""What a secret may be called and hold, and reading a pasted .env: each refusal says why (and where)."""

from __future__ import annotations

import pytest

from openinspect_core.secrets import dotenv, names
from openinspect_core.services.errors import ServiceError


@pytest.mark.parametrize("name", ["API_KEY", "_PRIVATE", "A", "STRIPE_KEY_2", "X" * 256])
def test_portable_variable_names_are_accepted(name: str) -> None:
    assert names.check_name(name) == name


@pytest.mark.parametrize(("name", "code"), [
    ("api_key", "invalid_secret_name"), ("1PASSWORD", "invalid_secret_name"), ("A-B", "invalid_secret_name"),
    ("", "invalid_secret_name"), ("X" * 257, "invalid_secret_name"), ("A B", "invalid_secret_name"),
    ("PATH", "reserved_secret_name"), ("HOME", "reserved_secret_name"), ("GIT_DIR", "reserved_secret_name"),
    ("OPENINSPECT_BRIDGE_TOKEN", "reserved_secret_name"), ("LD_PRELOAD", "reserved_secret_name"),
    ("LC_ALL", "reserved_secret_name"), ("PYTHONPATH", "reserved_secret_name"),
    ("SSH_AUTH_SOCK", "reserved_secret_name"),
    ("HTTPS_PROXY", "reserved_secret_name"), ("NODE_OPTIONS", "reserved_secret_name"),
    ("OPENCODE_CONFIG", "reserved_secret_name"),
])
def test_other_names_are_refused_with_a_code(name: str, code: str) -> None:
    with pytest.raises(ServiceError) as caught:
        names.check_name(name)
    assert caught.value.code == code


def test_values_are_bounded_and_errors_never_show_them() -> None:
    assert names.check_value("K", "x" * names.MAX_VALUE_BYTES)
    for value, code in [("x" * (names.MAX_VALUE_BYTES + 1), "secret_too_large"), ("q7z!", "secret_too_short"),
                        ("é" * (names.MAX_VALUE_BYTES // 2 + 1), "secret_too_large"),
                        ("abc\x00defgh", "invalid_secret_value")]:
        with pytest.raises(ServiceError) as caught:
            names.check_value("K", value)
        assert caught.value.code == code
        assert value[:6] not in caught.value.message
    with pytest.raises(ServiceError) as too_many:
        names.check_count(names.MAX_PER_SCOPE + 1)
    assert too_many.value.code == "too_many_secrets"
    names.check_count(names.MAX_PER_SCOPE)


def test_a_dotenv_as_tools_write_it() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value-one\n"
        "export EXPORTED = spaced-value   # trailing comment\n"
        "HASH=abc#def-not-a-comment\n"
        "SINGLE='literal $HOME \\n kept'\n"
        'DOUBLE="line1\\nline2 \\"quoted\\""  # after\n'
        "PEM=\"-----BEGIN KEY-----\n"
        "abcdef\n"
        "-----END KEY-----\"\n"
        "\r\n"
        "EMPTYISH='      '\n"
    )
    assert dotenv.parse(text) == {
        "PLAIN": "value-one",
        "EXPORTED": "spaced-value",
        "HASH": "abc#def-not-a-comment",
        "SINGLE": "literal $HOME \\n kept",
        "DOUBLE": 'line1\nline2 "quoted"',
        "PEM": "-----BEGIN KEY-----\nabcdef\n-----END KEY-----",
        "EMPTYISH": "      ",
    }


@pytest.mark.parametrize(("text", "code", "message"), [
    ("GOOD=abcdefgh\nno equals sign here\n", "invalid_dotenv", "line 2: expected NAME=value; found no '='"),
    ("GOOD=abcdefgh\nTWO WORDS=abcdefgh\n", "invalid_dotenv", "line 2: expected NAME=value; the name"),
    ("\n\nlower=abcdefgh\n", "invalid_secret_name", "line 3: 'lower' is not a valid secret name"),
    ("PATH=/usr/bin:/bin\n", "reserved_secret_name", "line 1: PATH is reserved"),
    ("A_KEY=abc\n", "secret_too_short", "line 1: the value of A_KEY is shorter"),
    ("A_KEY='abcdefgh\nstill open\n", "invalid_dotenv", "line 1: the ' quote opened here is never closed"),
    ("A_KEY=\"abcdefgh\" trailing\n", "invalid_dotenv", "line 1: unexpected text after the closing quote"),
    ("A_KEY=abcdefgh\nB_KEY=abcdefgh\nA_KEY=ijklmnop\n", "invalid_dotenv", "line 3: A_KEY is already set on line 1"),
])
def test_a_bad_line_is_named_and_nothing_is_taken(text: str, code: str, message: str) -> None:
    with pytest.raises(ServiceError) as caught:
        dotenv.parse(text)
    assert caught.value.code == code
    assert caught.value.message.startswith(message), caught.value.message
