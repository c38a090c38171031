"""The settings page's Slack section (``state/slack.py`` holds what it shows)."""

from __future__ import annotations

import reflex as rx

from openinspect_app.components.listing import listing_table
from openinspect_app.state.slack import ChannelRow, HintRow, LinkRow, SlackSettings

SELECT_STYLE = {"padding": "0.3em 0.5em", "border": "1px solid var(--gray-a7)", "border_radius": "var(--radius-2)",
                "background": "var(--color-surface)"}


def _repo_select(name: str, id: str) -> rx.Component:
    return rx.el.select(
        rx.el.option("Repository…", value="", disabled=True),
        rx.foreach(SlackSettings.repos, lambda r: rx.el.option(r.label, value=r.value)),
        name=name, default_value="", required=True, aria_label="Repository", id=id, style=SELECT_STYLE,
    )


def _channel_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.input(name="channel_id", placeholder="Channel id (C0123ABCD)", required=True, max_length=64,
                     auto_complete="off", width="13em", id="slack-channel-id"),
            rx.input(name="channel_name", placeholder="#name (optional)", max_length=200, width="11em",
                     id="slack-channel-name"),
            _repo_select("repo_id", "slack-channel-repo"),
            rx.button("Set", type="submit", id="slack-set-channel"),
            spacing="2", wrap="wrap", align="center", width="100%",
        ),
        on_submit=SlackSettings.set_channel,
        reset_on_submit=True,
        width="100%",
        id="slack-channel-form",
    )


def _channel_row(row: rx.Var[ChannelRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row.channel_id, size="1"), class_name="slack-channel-id"),
        rx.table.cell(rx.cond(row.channel_name != "", "#" + row.channel_name, "")),
        rx.table.cell(row.repo, class_name="slack-channel-repo"),
        rx.table.cell(rx.button("Remove", size="1", color_scheme="red", variant="soft",
                                on_click=SlackSettings.clear_channel(row.channel_id),
                                class_name="slack-clear-channel")),
        class_name="slack-channel-row",
        custom_attrs={"data-channel": row.channel_id},
    )


def _hint_form() -> rx.Component:
    return rx.form(
        rx.flex(
            _repo_select("repo_id", "slack-hint-repo"),
            rx.el.select(rx.el.option("alias", value="alias"), rx.el.option("keyword", value="keyword"),
                         name="kind", default_value="alias", aria_label="Kind", id="slack-hint-kind",
                         style=SELECT_STYLE),
            rx.input(name="value", placeholder="word (e.g. billing)", required=True, max_length=100,
                     auto_complete="off", width="12em", id="slack-hint-value"),
            rx.button("Add", type="submit", id="slack-add-hint"),
            spacing="2", wrap="wrap", align="center", width="100%",
        ),
        on_submit=SlackSettings.add_hint,
        reset_on_submit=True,
        width="100%",
        id="slack-hint-form",
    )


def _hint_row(row: rx.Var[HintRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.repo),
        rx.table.cell(rx.badge(row.kind, color_scheme=rx.cond(row.kind == "alias", "blue", "gray"), size="1")),
        rx.table.cell(rx.code(row.value, size="1"), class_name="slack-hint-value"),
        rx.table.cell(rx.button("Remove", size="1", color_scheme="red", variant="soft",
                                on_click=SlackSettings.remove_hint(row.id), class_name="slack-remove-hint")),
        class_name="slack-hint-row",
        custom_attrs={"data-hint": row.id},
    )


def _link_row(row: rx.Var[LinkRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row.slack_user_id, size="1"),
                      rx.cond(row.slack_name != "", rx.text(" " + row.slack_name, as_="span", size="1"), ""),
                      class_name="slack-link-user"),
        rx.table.cell(row.person, rx.text(" ", row.email, as_="span", size="1", color_scheme="gray"),
                      class_name="slack-link-person"),
        rx.table.cell(rx.cond(row.method == "email", "confirmed email", "link")),
        rx.table.cell(rx.moment(row.linked_at, from_now=True, font_size="12px")),
        rx.table.cell(rx.button("Unlink", size="1", color_scheme="red", variant="soft",
                                on_click=SlackSettings.unlink(row.slack_user_id), class_name="slack-unlink")),
        class_name="slack-link-row",
        custom_attrs={"data-slack-user": row.slack_user_id},
    )


def slack_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Slack", size="4", margin_top="1em"),
        rx.text("Mention the bot in Slack (or write to it directly) and it starts a session on the right repository "
                "and reports in the thread. ", SlackSettings.bot, size="2", color_scheme="gray", id="slack-bot"),
        rx.cond(SlackSettings.slack_error != "",
                rx.callout(SlackSettings.slack_error, icon="triangle-alert", color_scheme="red", size="1",
                           width="100%", id="slack-error")),
        rx.cond(SlackSettings.slack_notice != "",
                rx.callout(SlackSettings.slack_notice, icon="check", color_scheme="green", size="1", width="100%",
                           id="slack-notice")),
        rx.text("Channels", size="2", weight="medium"),
        rx.text("A mention in one of these channels that names no repository works on the channel's.", size="1",
                color_scheme="gray"),
        _channel_form(),
        listing_table(SlackSettings.channels, _channel_row, ("Channel", "Name", "Repository", ""),
                      table_id="slack-channels", empty_text="No channel has a repository.",
                      empty_id="no-slack-channels"),
        rx.text("Aliases and keywords", size="2", weight="medium"),
        rx.text("An alias names one repository outright (“api: fix the build”); keywords point towards one when a "
                "message names none.", size="1", color_scheme="gray"),
        _hint_form(),
        listing_table(SlackSettings.hint_rows, _hint_row, ("Repository", "Kind", "Word", ""),
                      table_id="slack-hints", empty_text="No aliases or keywords.", empty_id="no-slack-hints"),
        rx.text("People", size="2", weight="medium"),
        rx.text("Slack users and the people they are here: their prompts, commits and pull requests are that "
                "person's. A Slack user is linked by the email Slack confirmed, or by the link the bot gives them.",
                size="1", color_scheme="gray"),
        listing_table(SlackSettings.links, _link_row, ("Slack user", "Person", "How", "Since", ""),
                      table_id="slack-links", empty_text="No Slack user is linked yet.", empty_id="no-slack-links"),
        spacing="3",
        width="100%",
        id="slack-section",
    )
