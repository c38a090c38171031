"""Settings: the person's personal API tokens (for scripts and the CLI), the sandboxes' secrets, and Slack."""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.layout import page
from openinspect_app.components.listing import listing_table
from openinspect_app.components.secrets import secrets_section
from openinspect_app.components.slack import slack_section
from openinspect_app.state.settings import SettingsState, TokenRow


def new_token_box() -> rx.Component:
    return rx.cond(
        SettingsState.new_token != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("key-round")),
            rx.vstack(
                rx.text("Your new token ", rx.text.strong(SettingsState.new_token_name),
                        ": copy it now — it is shown only this once.", size="2"),
                rx.hstack(
                    rx.code(SettingsState.new_token, id="new-token", size="2", word_break="break-all"),
                    rx.icon_button(rx.icon("copy", size=14), size="1", variant="soft", aria_label="Copy",
                                   on_click=rx.set_clipboard(SettingsState.new_token), id="copy-token"),
                    align="center",
                    spacing="2",
                ),
                rx.text("Use it as 'Authorization: Bearer <token>' with the REST API.", size="1",
                        color_scheme="gray"),
                spacing="2",
            ),
            color_scheme="green",
            width="100%",
            id="new-token-box",
        ),
    )


def create_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="name", placeholder="Token name (e.g. laptop CLI)", required=True, max_length=100,
                     flex="1", id="token-name"),
            rx.button("Create token", type="submit", id="create-token"),
            width="100%",
            spacing="2",
        ),
        on_submit=SettingsState.create_token,
        reset_on_submit=True,
        width="100%",
    )


def token_row(token: rx.Var[TokenRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(token.name, class_name="token-name"),
        rx.table.cell(rx.code(token.prefix + "…", size="1"), class_name="token-prefix"),
        rx.table.cell(rx.moment(token.created, from_now=True, font_size="12px")),
        rx.table.cell(rx.cond(token.last_used != "", rx.moment(token.last_used, from_now=True, font_size="12px"),
                              rx.text("never", size="1", color_scheme="gray"))),
        rx.table.cell(rx.button("Revoke", size="1", color_scheme="red", variant="soft",
                                on_click=SettingsState.revoke_token(token.id), class_name="revoke-token")),
        class_name="token-row",
        custom_attrs={"data-token": token.id},
    )


def tokens_table() -> rx.Component:
    return listing_table(SettingsState.tokens, token_row, ("Name", "Token", "Created", "Last used", ""),
                         table_id="tokens", empty_text="You have no API tokens.", empty_id="no-tokens")


def settings_page() -> rx.Component:
    return page(
        rx.vstack(
            rx.heading("Settings", size="5"),
            rx.text("Signed in as ", rx.text.strong(SettingsState.user_name), " (", SettingsState.user_email, ")",
                    size="2"),
            rx.heading("API tokens", size="4", margin_top="1em"),
            rx.text("Personal tokens let scripts and the CLI act as you through the REST API. Each is shown once "
                    "when created and kept only as a hash; revoke one to stop it at once.", size="2",
                    color_scheme="gray"),
            new_token_box(),
            create_form(),
            rx.cond(SettingsState.form_error != "",
                    rx.callout(SettingsState.form_error, icon="triangle-alert", color_scheme="red", size="1",
                               width="100%", id="token-error")),
            tokens_table(),
            secrets_section(),
            slack_section(),
            spacing="3",
            width="100%",
        ),
        max_width="860px",
    )
