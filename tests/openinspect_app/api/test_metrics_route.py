"""How the web app's error answers are named in ``openinspect_errors_total`` (the route itself, and
the counting through the whole boundary: tests/integration/test_metrics.py)."""

from __future__ import annotations

from openinspect_app.api.metrics_routes import error_code


def test_error_answers_are_counted_by_their_code() -> None:
    assert error_code(401, b'{"error": {"code": "unauthenticated", "message": "x"}}') == "unauthenticated"
    assert error_code(404, b"<html>not found</html>") == "http_404"
    assert error_code(500, b'{"error": "flat"}') == "http_500"
    assert error_code(400, b'{"error": {"code": 7}}') == "http_400"
