"""The live view's "Open preview" buttons: the live sandbox's declared ports, gone when it exits."""

from __future__ import annotations

import openinspect_protocol as p
from openinspect_protocol.previews import PreviewPort
from openinspect_protocol.timeline import SandboxExited, SandboxSpawning

from openinspect_app.live.timeline_view import PreviewButton, TimelineView


def test_declared_ports_become_buttons_until_the_sandbox_exits() -> None:
    view = TimelineView()
    view.apply(1, SandboxSpawning(sandbox_id="s1", backend="local"))
    changed = view.apply(2, p.PreviewPorts(ports=[PreviewPort(port=3000, label="Web app"),
                                                  PreviewPort(port=6006, label="Storybook")]))
    assert view.preview_ports == [PreviewButton(3000, "Web app"), PreviewButton(6006, "Storybook")]
    (note,) = [view.entries[i] for i in changed]
    assert note.text == "Live preview: Web app (port 3000), Storybook (port 6006)"
    view.apply(3, SandboxExited(sandbox_id="s1", exit_code=0, reason="stopped"))
    assert view.preview_ports == []
    # The next sandbox declares again; an empty declaration shows no buttons and adds no row.
    assert view.apply(4, p.PreviewPorts(ports=[])) == set() and view.preview_ports == []
