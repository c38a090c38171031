"""Errors a service raises on bad input; each carries a stable code and an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class InvalidInput(ServiceError):
    status_code = 422
    code = "invalid_input"


class TooLarge(ServiceError):
    status_code = 413
    code = "too_large"


class LimitReached(ServiceError):
    status_code = 429
    code = "limit_reached"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"
