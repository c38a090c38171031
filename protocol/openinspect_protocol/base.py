"""What every message of the protocol shares: the frozen base model, the error, the parser.

Parsing happens once, at a boundary (:func:`parse`); a frame that is not a
valid message raises :class:`ProtocolError` with a reason a person can read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class ProtocolError(ValueError):
    """A frame that is not a valid message of this protocol; the text says why."""


def now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """A wire message: immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json()


class Author(Message):
    """The person a prompt belongs to; commits made for it carry this identity."""

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)


class TokenUsage(Message):
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0


def explain(error: ValidationError) -> str:
    """The first few validation problems, as ``where: what`` (for a refusal's reason)."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "frame"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


T = TypeVar("T")


def parse(adapter: TypeAdapter[T], raw: str | bytes, what: str) -> T:
    """Validate ``raw`` JSON with ``adapter``, or raise :class:`ProtocolError` saying why not."""
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        raise ProtocolError(_reason(exc, what)) from None


def parse_object(adapter: TypeAdapter[T], value: Any, what: str) -> T:
    """Like :func:`parse`, for an already decoded JSON value (a stored row's data)."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise ProtocolError(_reason(exc, what)) from None


def _reason(exc: ValidationError, what: str) -> str:
    first = exc.errors()[0]
    match first["type"]:
        case "json_invalid":
            return f"malformed {what}: not valid JSON"
        case "union_tag_invalid":
            return f"unknown {what} type {first.get('ctx', {}).get('tag')!r}"
        case "union_tag_not_found":
            return f"malformed {what}: no 'type' field"
        case "model_attributes_type" | "model_type" | "dict_type":
            return f"malformed {what}: expected a JSON object"
        case _:
            return f"invalid {what}: {explain(exc)}"
