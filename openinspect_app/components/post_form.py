"""A plain HTML form that the browser itself posts (``rx.form`` sends a Reflex event instead).

Signing in and out must be real HTTP requests: only an HTTP response can set or
clear the HttpOnly sign-in cookie, and the browser adds the page's ``Origin``,
which the server's CSRF check reads.
"""

from __future__ import annotations

from reflex_base.vars.base import Var
from reflex_components_core.el.elements.base import BaseHTML


class PostForm(BaseHTML):
    """``<form method="post" action=...>`` with no Reflex submit handler."""

    tag = "form"

    action: Var[str]
    method: Var[str]


def post_form(*children: object, action: str, **props: object) -> PostForm:
    return PostForm.create(*children, action=action, method="post", **props)
