"""The "Open preview" buttons: one per dev server the session's live sandbox declared.

``preview_buttons()`` is self-contained (it reads ``SessionShared.preview_ports``, which the live
projection fills from the sandbox's ``preview_ports`` event and empties when the sandbox exits), so
the page can place it wherever its header wants it. Each button opens the preview in a new tab,
through ``/sessions/<id>/preview/<port>/`` ("Open preview": the server checks the sign-in and sends
the tab on to the preview's own URL; docs/previews.md#live-previews). ``noopener``: the preview
gets no handle on this page.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from openinspect_app.live.timeline_view import PreviewButton
from openinspect_app.state.session import SessionShared


def preview_href(port: rx.Var[int]) -> rx.Var[str]:
    """``/sessions/<id>/preview/<port>/``, as ``openinspect_app.previews.routes.preview_url`` builds it."""
    return "/sessions/" + SessionShared.session_id + "/preview/" + port.to_string() + "/"


def preview_button(item: rx.Var[PreviewButton]) -> rx.Component:
    return rx.link(
        rx.button(rx.icon("app-window", size=14), "Open preview", rx.text(item.label, size="1", color_scheme="gray"),
                  size="1", variant="soft", color_scheme="green"),
        href=preview_href(item.port),
        is_external=True,  # a new tab, rel="noopener noreferrer"
        class_name="open-preview",
        title="Port " + item.port.to_string(),
        custom_attrs={"data-port": item.port.to_string()},
    )


def preview_buttons(**props: Any) -> rx.Component:
    """One "Open preview" button per declared port; nothing while none is declared (or no sandbox runs)."""
    return rx.cond(
        SessionShared.preview_ports.length() > 0,
        rx.hstack(rx.foreach(SessionShared.preview_ports, preview_button), spacing="2", wrap="wrap",
                  id="preview-buttons", **props),
    )
