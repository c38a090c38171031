"""The settings page's secrets section (``state/secrets.py`` holds what it shows).

The value field and the .env box are uncontrolled (no ``value=`` bound to a var) and the forms
reset when sent: a value lives in the page only until it is submitted, and nothing sends it back.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.listing import listing_table
from openinspect_app.state.secrets import ChangeRow, SecretRow, SecretsState
from openinspect_core.secrets import names

ACTION_COLORS = {"set": "green", "import": "blue", "delete": "red"}


def _scope_select() -> rx.Component:
    return rx.hstack(
        rx.text("Scope", size="2", weight="medium"),
        rx.el.select(
            rx.foreach(SecretsState.scopes, lambda c: rx.el.option(c.label, value=c.value)),
            value=SecretsState.scope,
            on_change=SecretsState.choose_scope,
            aria_label="Scope",
            id="secret-scope",
            style={"padding": "0.3em 0.5em", "border": "1px solid var(--gray-a7)",
                   "border_radius": "var(--radius-2)", "background": "var(--color-surface)"},
        ),
        align="center",
        spacing="2",
    )


def _set_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="name", placeholder="NAME (e.g. STRIPE_API_KEY)", required=True,
                     max_length=names.MAX_NAME_CHARS, pattern="[A-Z_][A-Z0-9_]*", auto_complete="off",
                     width="16em", id="secret-name"),
            rx.input(name="value", type="password", placeholder="Value (write-only)", required=True,
                     auto_complete="new-password", flex="1", id="secret-value"),
            rx.button("Save", type="submit", id="save-secret"),
            width="100%",
            spacing="2",
        ),
        on_submit=SecretsState.save_secret,
        reset_on_submit=True,
        width="100%",
        id="secret-form",
    )


def _import_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text_area(name="dotenv", placeholder="Paste a .env file: NAME=value lines", rows="5", width="100%",
                         auto_complete=False, spell_check=False, font_family="var(--code-font-family)",
                         id="secret-dotenv"),
            rx.button("Import all", type="submit", variant="soft", id="import-secrets"),
            width="100%",
            spacing="2",
            align="end",
        ),
        on_submit=SecretsState.import_dotenv,
        reset_on_submit=True,
        width="100%",
        id="secret-import-form",
    )


def _secret_row(secret: rx.Var[SecretRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(secret.name, size="2"), class_name="secret-name"),
        rx.table.cell(rx.text("••••••••", color_scheme="gray", size="2")),
        rx.table.cell(secret.updated_by, class_name="secret-updated-by"),
        rx.table.cell(rx.moment(secret.updated_at, from_now=True, font_size="12px")),
        rx.table.cell(rx.button("Delete", size="1", color_scheme="red", variant="soft",
                                on_click=SecretsState.delete_secret(secret.name), class_name="delete-secret")),
        class_name="secret-row",
        custom_attrs={"data-secret": secret.name},
    )


def _secrets_table() -> rx.Component:
    return listing_table(SecretsState.secrets, _secret_row, ("Name", "Value", "Changed by", "When", ""),
                         table_id="secrets", empty_text="No secrets in this scope.", empty_id="no-secrets")


def _change(change: rx.Var[ChangeRow]) -> rx.Component:
    return rx.hstack(
        rx.moment(change.at, from_now=True, font_size="12px"),
        rx.text(change.by, size="1", weight="medium"),
        rx.match(change.action,
                 *[(action, rx.badge(action, color_scheme=color, size="1")) for action, color in ACTION_COLORS.items()],
                 rx.badge(change.action, size="1")),
        rx.code(change.name, size="1"),
        spacing="2",
        align="center",
        class_name="secret-change",
    )


def secrets_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Secrets", size="4", margin_top="1em"),
        rx.text("Environment variables for sandboxes: setup.sh, start.sh and the agent get them; a repository's "
                "value overrides a global one of the same name. Values are encrypted and write-only — nobody can "
                "read one back here — and are shown as [secret:NAME] wherever a sandbox prints them. A session "
                "gets changes when its next sandbox starts.", size="2", color_scheme="gray"),
        _scope_select(),
        _set_form(),
        _import_form(),
        rx.cond(SecretsState.secret_error != "",
                rx.callout(SecretsState.secret_error, icon="triangle-alert", color_scheme="red", size="1",
                           width="100%", id="secret-error")),
        rx.cond(SecretsState.secret_notice != "",
                rx.callout(SecretsState.secret_notice, icon="check", color_scheme="green", size="1", width="100%",
                           id="secret-notice")),
        _secrets_table(),
        rx.cond(SecretsState.changes.length() > 0,
                rx.vstack(rx.text("Recent changes", size="2", weight="medium"),
                          rx.foreach(SecretsState.changes, _change), spacing="1", id="secret-changes")),
        spacing="3",
        width="100%",
        id="secrets-section",
    )

