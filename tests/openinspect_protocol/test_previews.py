"""The declared preview ports: what a declaration may hold, checked where it is read and where it is parsed."""

from __future__ import annotations

import json

import openinspect_protocol as p
import pytest
from openinspect_protocol.previews import (
    MAX_PREVIEW_PORTS,
    PreviewPort,
    declaration_from,
    preview_urls,
    preview_urls_json,
)


def test_a_plain_declaration_is_read_with_its_defaults() -> None:
    declaration = declaration_from({"ports": [{"port": 3000, "label": " Web app "},
                                              {"port": 6006, "label": "Storybook", "path": "/?path=/docs"}]})
    assert declaration.ports == [PreviewPort(port=3000, label="Web app", path="/"),
                                 PreviewPort(port=6006, label="Storybook", path="/?path=/docs")]


@pytest.mark.parametrize(("data", "reason"), [
    ({"ports": [{"port": 80, "label": "x"}]}, "ports.0.port: Input should be greater than or equal to 1024"),
    ({"ports": [{"port": 65536, "label": "x"}]}, "less than or equal to 65535"),
    ({"ports": [{"port": "3000", "label": "x"}]}, "valid integer"),
    ({"ports": [{"port": 3000.0, "label": "x"}]}, "valid integer"),
    ({"ports": [{"port": True, "label": "x"}]}, "valid integer"),
    ({"ports": [{"port": 3000}]}, "ports.0.label: Field required"),
    ({"ports": [{"port": 3000, "label": "   "}]}, "must not be empty"),
    ({"ports": [{"port": 3000, "label": "x" * 61}]}, "at most 60 characters"),
    ({"ports": [{"port": 3000, "label": "a\nb"}]}, "control characters"),
    ({"ports": [{"port": 3000, "label": "x", "path": "app"}]}, "must start with a single '/'"),
    ({"ports": [{"port": 3000, "label": "x", "path": "//evil.example/"}]}, "must start with a single '/'"),
    ({"ports": [{"port": 3000, "label": "x", "path": "/a/../b"}]}, "must not contain '..'"),
    ({"ports": [{"port": 3000, "label": "x", "path": "/a b"}]}, "must not contain spaces"),
    ({"ports": [{"port": 3000, "label": "x", "host": "10.0.0.1"}]}, "Extra inputs are not permitted"),
    ({"ports": [{"port": 3000, "label": "a"}, {"port": 3000, "label": "b"}]}, "port 3000 is declared twice"),
    ({"ports": [{"port": 3000 + i, "label": "x"} for i in range(MAX_PREVIEW_PORTS + 1)]},
     f"at most {MAX_PREVIEW_PORTS} items"),
    ({"port": [{"port": 3000, "label": "x"}]}, "ports: Field required"),
    ([1, 2], "expected a JSON object"),
])
def test_a_wrong_declaration_is_refused_saying_what_is_wrong(data: object, reason: str) -> None:
    with pytest.raises(p.ProtocolError) as refused:
        declaration_from(data)
    assert reason in str(refused.value)
    assert ".openinspect/preview.toml" in str(refused.value)


def test_the_event_holds_the_same_rules_when_the_control_plane_parses_it() -> None:
    good = p.PreviewPorts(seq=1, ports=[PreviewPort(port=3000, label="Web")])
    assert p.parse_sandbox_event(good.to_json()) == good
    frame = json.loads(good.to_json())
    frame["ports"][0]["port"] = 22  # a sandbox that skipped its own check is refused all the same
    with pytest.raises(p.ProtocolError, match="greater than or equal to 1024"):
        p.parse_sandbox_event(json.dumps(frame))


def test_the_agent_gets_the_sandbox_own_urls() -> None:
    ports = [PreviewPort(port=5173, label="Vite", path="/app/"), PreviewPort(port=3000, label="API")]
    assert preview_urls(ports) == {"5173": "http://127.0.0.1:5173/app/", "3000": "http://127.0.0.1:3000/"}
    assert json.loads(preview_urls_json(preview_urls(ports))) == {"3000": "http://127.0.0.1:3000/",
                                                                  "5173": "http://127.0.0.1:5173/app/"}
