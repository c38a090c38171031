"""A screenshot in the timeline: a thumbnail that opens the full image in a lightbox.

The image comes from ``GET /api/artifacts/{id}`` (the entry's ``url``), which answers
only a signed-in viewer; the page itself is only served to one. The thumbnail's box has
a fixed height whatever the image's shape, so nothing below it moves when it loads; the
lightbox (a Radix dialog: Escape and a click outside close it) shows the image at full
size, scrollable, with the page it was taken of and a link to open it alone.
"""

from __future__ import annotations

import reflex as rx

THUMBNAIL_HEIGHT = "180px"


def _thumbnail(entry: rx.Var) -> rx.Component:
    return rx.el.button(
        rx.image(src=entry.url, alt=entry.title, loading="lazy", class_name="screenshot-thumbnail",
                 height=THUMBNAIL_HEIGHT, max_width="100%", object_fit="contain", object_position="left top",
                 display="block"),
        type="button",
        title="Open the screenshot full size",
        class_name="screenshot-open",
        cursor="zoom-in",
        padding="0",
        border="1px solid var(--gray-a6)",
        border_radius="6px",
        background="var(--gray-a2)",
        overflow="hidden",
        height=THUMBNAIL_HEIGHT,
        max_width="100%",
    )


def _lightbox(entry: rx.Var) -> rx.Component:
    return rx.dialog.content(
        rx.hstack(
            rx.dialog.title(entry.title, size="3", margin="0", class_name="screenshot-title"),
            rx.spacer(),
            rx.link("Open image", href=entry.url, is_external=True, size="2", class_name="screenshot-link"),
            rx.dialog.close(rx.icon_button(rx.icon("x"), variant="ghost", aria_label="Close",
                                           class_name="screenshot-close")),
            align="center",
            width="100%",
        ),
        rx.dialog.description(entry.detail, " · ", entry.meta, size="1", color_scheme="gray",
                              margin_bottom="0.5em"),
        rx.box(
            rx.image(src=entry.url, alt=entry.title, class_name="screenshot-full", max_width="none",
                     display="block"),
            overflow="auto",
            max_height="80vh",
        ),
        max_width="min(96vw, 1400px)",
        class_name="screenshot-lightbox",
    )


def screenshot_entry(entry: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("camera", size=14),
            rx.text(entry.title, size="2", weight="medium", class_name="screenshot-caption"),
            rx.text(entry.meta, size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.dialog.root(rx.dialog.trigger(_thumbnail(entry)), _lightbox(entry)),
        spacing="1",
        width="100%",
        class_name="entry-screenshot",
        custom_attrs={"data-artifact-id": entry.tool},
    )
