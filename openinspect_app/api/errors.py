"""The API's one error shape, as an exception routes raise and as the OpenAPI description shows it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ApiRefusal(Exception):
    """Refused at the HTTP level (not by a service): status, stable code, message."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message = status_code, code, message


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors an operation may answer with."""
    reasons = {400: "Bad request (e.g. a wrong Host)", 401: "No valid credentials", 403: "Refused (CSRF, policy)",
               404: "Not found", 409: "Conflict with the current state", 413: "Too large",
               422: "Invalid input", 429: "A limit is reached", 503: "The system is starting"}
    return {status: {"model": ErrorOut, "description": reasons[status]} for status in statuses}


# What every operation may answer, whatever it does: bad host/body, credentials, size, start-up.
COMMON_ERRORS = (400, 401, 403, 413, 422, 503)
