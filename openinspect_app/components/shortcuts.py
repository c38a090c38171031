"""Keyboard shortcuts of the session page, and the "?" dialog that lists them.

One list (``SHORTCUTS``) feeds the dialog and the README's table (a test compares them). The keys
are handled by a small page script (``SCRIPT``) that only clicks or focuses what the page already
shows — the Send and Stop buttons, the sidebar's links, the search box — so every action goes
through the same Reflex events (and the same identity gate) as a click would. Keys typed into a
text field stay there, except the chords that mean to leave it (Ctrl/⌘+Enter, Esc, Alt+↑/↓).
"""

from __future__ import annotations

import reflex as rx

# (keys as shown, what they do)
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Enter / ⌘+Enter", "Send the prompt (Enter alone sends too; Shift+Enter starts a new line)"),
    ("Esc", "Stop the agent while it works (closes the sessions drawer first, when it is open)"),
    ("Alt+↓ or ]", "Next session in the sidebar"),
    ("Alt+↑ or [", "Previous session in the sidebar"),
    ("/", "Search the sessions"),
    ("?", "Show these shortcuts"),
)

SCRIPT = """
(() => {
  if (window.__openinspectShortcuts) return;
  window.__openinspectShortcuts = true;
  const editable = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const click = (selector) => {
    const el = document.querySelector(selector);
    if (el) el.click();
    return Boolean(el);
  };
  const move = (step) => {
    const links = Array.from(document.querySelectorAll("a.sidebar-session"));
    if (!links.length) return false;
    // Where the browser is, not which link is highlighted yet (that follows the server's answer).
    const at = links.findIndex((a) => a.getAttribute("href") === location.pathname.replace(/\\/$/, ""));
    const next = at < 0 ? (step > 0 ? 0 : links.length - 1) : at + step;
    if (next < 0 || next >= links.length || next === at) return false;
    links[next].click();
    return true;
  };
  document.addEventListener("keydown", (event) => {
    // Handled already (the prompt box's own Enter, a dialog's Esc), or not on a session page.
    if (event.defaultPrevented || event.isComposing || !/^\\/sessions\\/[0-9a-f]+\\/?$/.test(location.pathname)) return;
    const typing = editable(event.target);
    const dialogOpen = document.querySelector("[role=dialog], [role=alertdialog]");
    let done = false;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      done = event.target && event.target.id === "prompt" ? click("#send") : false;
    } else if (event.key === "Escape" && !dialogOpen) {
      const drawer = document.querySelector("#session-sidebar.open");
      done = drawer ? click("#sidebar-close") : click("#stop");
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && ["ArrowDown", "ArrowUp"].includes(event.key)) {
      done = !dialogOpen && move(event.key === "ArrowDown" ? 1 : -1);
    } else if (!typing && !dialogOpen && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (event.key === "]" || event.key === "[") done = move(event.key === "]" ? 1 : -1);
      else if (event.key === "?") done = click("#shortcuts-button");
      else if (event.key === "/") {
        const search = document.querySelector("#sidebar-search");
        if (search && search.offsetParent !== null) { search.focus(); done = true; }
      }
    }
    if (done) event.preventDefault();
  });
})();
"""


def shortcuts_help() -> rx.Component:
    """The "?" button in the session header and the dialog it opens (no server round trip)."""
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(rx.icon("keyboard", size=16), variant="ghost", size="2", color_scheme="gray",
                           aria_label="Keyboard shortcuts (?)", title="Keyboard shortcuts (?)",
                           id="shortcuts-button"),
        ),
        rx.dialog.content(
            rx.dialog.title("Keyboard shortcuts"),
            rx.table.root(
                rx.table.body(
                    *[rx.table.row(rx.table.cell(rx.code(keys, white_space="nowrap")), rx.table.cell(what),
                                   class_name="shortcut")
                      for keys, what in SHORTCUTS],
                ),
                size="1",
                width="100%",
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft", id="shortcuts-close")), justify="end",
                    margin_top="1em"),
            max_width="32em",
            id="shortcuts-dialog",
        ),
    )


def shortcuts_script() -> rx.Component:
    return rx.script(SCRIPT)
