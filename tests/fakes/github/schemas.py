"""GitHub's own descriptions of its payloads, loaded once: the REST OpenAPI description and
the webhook schemas and examples (npm ``@octokit/openapi``, ``@octokit/webhooks-schemas``,
``@octokit/webhooks-examples`` under the repository's ``node_modules``).

Owns finding them (relative to the repository root, never the working directory),
parsing and caching them (module-level ``lru_cache``: the OpenAPI file is 13 MB),
turning OpenAPI 3.0 schemas into JSON Schema (``nullable: true`` becomes a ``null``
alternative), and validating: :func:`openapi_errors` checks a response body against
the schema of an operation's response, :func:`webhook_errors` a webhook body
against the schema for its event and action. Both check the ``date-time``,
``email`` and ``uri`` formats. Used by the webhook builders at run time and by the
fidelity tests.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[3]
OCTOKIT = REPO_ROOT / "node_modules" / "@octokit"
OPENAPI_FILE = OCTOKIT / "openapi" / "generated" / "api.github.com.json"
WEBHOOK_SCHEMA_FILE = OCTOKIT / "webhooks-schemas" / "schema.json"
WEBHOOK_EXAMPLES_FILE = OCTOKIT / "webhooks-examples" / "api.github.com" / "index.json"
SPEC_URI = "urn:github:openapi"

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(_DATE_TIME.match(value))

    @checker.checks("email")
    def _email(value: object) -> bool:
        return not isinstance(value, str) or ("@" in value and " " not in value)

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and (parts.netloc or parts.scheme == "mailto"))

    return checker


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (a ``null`` type or an ``anyOf`` with null)."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        if isinstance(out.get("type"), str) and not any(k in out for k in ("allOf", "anyOf", "oneOf", "$ref")):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _apply_errata(spec: dict[str, Any]) -> None:
    """Fix the description where it contradicts itself (each fix says why).

    ``GET /app/installations`` describes ``account`` inline as ``allOf: [Simple User, Enterprise]``
    (it would have to be both at once, which no account is); the ``installation`` component it
    mirrors says ``anyOf`` of the same two. Use ``anyOf`` there too.
    """
    items = spec["paths"]["/app/installations"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["items"]
    account = items["properties"]["account"]
    for alternative in account.get("anyOf", [account]):
        titles = [part.get("title") for part in alternative.get("allOf", [])]
        if titles == ["Simple User", "Enterprise"]:
            alternative["anyOf"] = alternative.pop("allOf")


@lru_cache(maxsize=1)
def openapi_spec() -> dict[str, Any]:
    """The OpenAPI description of api.github.com, as JSON Schema throughout (parsed once), with
    :func:`_apply_errata`."""
    spec = _openapi_to_json_schema(json.loads(OPENAPI_FILE.read_text()))
    _apply_errata(spec)
    return spec


@lru_cache(maxsize=1)
def _openapi_registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(openapi_spec(), default_specification=DRAFT202012))


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def response_schema_pointer(path: str, method: str, status: int) -> str | None:
    """JSON pointer to the JSON schema of an operation's response with ``status``; None if it has no body.

    ``path`` is the OpenAPI path template (``/repos/{owner}/{repo}``). An error status the operation
    does not document is checked against ``basic-error``. KeyError if the description has no such
    operation, or does not document that success status.
    """
    spec = openapi_spec()
    responses = spec["paths"][path][method.lower()]["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses and status >= 400:
        return "/components/schemas/basic-error"  # undocumented errors come in GitHub's one error shape
    response = responses[key]
    pointer = f"/paths/{_pointer_escape(path)}/{method.lower()}/responses/{key}"
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = spec["components"]["responses"][pointer.rsplit("/", 1)[1]]
    content = response.get("content", {})
    if "application/json" not in content:
        return None
    return f"{pointer}/content/application~1json/schema"


@lru_cache(maxsize=256)
def _openapi_validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=_openapi_registry(),
                                format_checker=format_checker())


def openapi_errors(path: str, method: str, status: int, body: Any) -> list[str]:
    """Why ``body`` does not match the documented response (empty: it matches)."""
    pointer = response_schema_pointer(path, method, status)
    if pointer is None:
        return [] if body in (None, b"", "") else [f"{method} {path} {status} documents no JSON body"]
    return [_describe(e) for e in _openapi_validator(pointer).iter_errors(body)]


def _describe(error: ValidationError) -> str:
    """Where and why, looking inside oneOf/anyOf for the alternative that came closest."""
    where = "/".join(map(str, error.absolute_path)) or "(root)"
    if error.context:
        inner = best_match(error.context)
        if inner is not None:
            return f"{where}: {error.validator} failed; closest: {'/'.join(map(str, inner.absolute_path))}: " \
                   f"{inner.message[:200]}"
    return f"{where}: {error.message[:300]}"


@lru_cache(maxsize=1)
def webhook_schema() -> dict[str, Any]:
    return json.loads(WEBHOOK_SCHEMA_FILE.read_text())


@lru_cache(maxsize=1)
def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    """Example bodies by event name, as GitHub sent them (from ``@octokit/webhooks-examples``)."""
    return {entry["name"]: entry["examples"] for entry in json.loads(WEBHOOK_EXAMPLES_FILE.read_text())}


def webhook_definition(event: str, action: str | None) -> str:
    return f"{event}${action}" if action else f"{event}$event"


@lru_cache(maxsize=64)
def _webhook_validator(definition: str) -> Draft7Validator:
    schema = webhook_schema()
    if definition not in schema["definitions"]:
        raise KeyError(f"no webhook schema {definition!r}")
    return Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]},
                           format_checker=format_checker())


def webhook_errors(event: str, body: dict[str, Any]) -> list[str]:
    """Why ``body`` is not a valid ``event`` webhook for its ``action`` (empty: it is)."""
    validator = _webhook_validator(webhook_definition(event, body.get("action")))
    return [_describe(e) for e in validator.iter_errors(body)]
