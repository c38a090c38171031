"""The TypeScript declaration reader the fidelity tests rely on: it must accept what conforms and
reject what does not (otherwise the fidelity tests could not fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.slack.ts_types import BOLT_ACTIONS, BOLT_EVENTS, EVENTS, RESPONSES, Lit, TsTypes

BASE = """
export interface Base { ok: boolean; meta?: { cursor?: string; }; }
export declare enum Kind { Mrkdwn = "mrkdwn", PlainText = "plain_text" }
"""

SAMPLE = """
import type { Base, Kind as TextKind } from './base';
/** A doc comment with { braces } and 'quotes'. */
export type Answer = Base & {
    ts?: string;
    count?: number;
    items?: Item[];
    tags?: (string | null)[];
    kind?: TextKind;
};
export interface Item extends Named {
    readonly type: 'button' | 'select';
    'quoted-key'?: boolean;
    extra?: Record<string, number>;
    nested?: { a: string; b?: number[]; };
    any_fn?: (x: string) => void;
    method(arg: string): string;
}
interface Named { name: string; }
export interface Open { [key: string]: unknown; fixed: string; }
export type Owner = Item['nested'];
export type Shape = { kind: 'a'; a: string; } | { kind: 'b'; b: number; };
export type Mixed = { id: string; } & ({ left: number; } | { right: number; });
export interface Generic<T = any> { value: T; }
"""

# Generics as @slack/bolt writes them, an import from an npm package, and shapes around them.
GENERICS = """
import type { Label } from '@acme/kit';
export type StringIndexed = Record<string, any>;
export interface Basic<T extends string = string> { type: T; id: string; }
export interface Click extends Basic<'click'> { label: Label; }
export interface Pick extends Basic<'pick'> { picked: string | null; }
export type Known = Click | Pick;
export interface Envelope<A extends Basic = Known> { actions: A[]; team: { id: string; } | null; meta: StringIndexed; }
export interface Wrapped<E = Basic> extends StringIndexed { event: E; time: number; }
export type Pair<A, B = A> = { left: A; right: B; };
export type Cond<T> = { when: (T extends string ? 'yes' : 'no'); flag: boolean; };
"""


@pytest.fixture
def sample(tmp_path: Path) -> tuple[TsTypes, Path]:
    (tmp_path / "base.d.ts").write_text(BASE)
    path = tmp_path / "sample.d.ts"
    path.write_text(SAMPLE)
    return TsTypes(), path


@pytest.fixture
def generics(tmp_path: Path) -> tuple[TsTypes, Path]:
    package = tmp_path / "node_modules" / "@acme" / "kit"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@acme/kit", "types": "dist/index.d.ts"}')
    (package / "dist" / "index.d.ts").write_text("export * from './label';")
    (package / "dist" / "label.d.ts").write_text("export interface Label { text: string; emoji?: boolean; }")
    path = tmp_path / "src" / "generics.d.ts"
    path.parent.mkdir()
    path.write_text(GENERICS)
    return TsTypes(), path


def test_generics_take_their_arguments_or_defaults(generics: tuple[TsTypes, Path]) -> None:
    types, path = generics
    click = {"type": "click", "id": "1", "label": {"text": "Go"}}
    pick = {"type": "pick", "id": "2", "picked": None}
    envelope = {"actions": [click, pick], "team": None, "meta": {"anything": [1, {"x": None}]}}
    assert types.check(envelope, path, "Envelope") == []  # the default: Known, a union
    only_clicks = types.ref(path, "Envelope", types.ref(path, "Click"))
    assert types.check_type({**envelope, "actions": [click]}, only_clicks) == []
    assert types.check_type(envelope, only_clicks)  # a Pick is no Click
    assert types.check_type({"type": "pick", "id": "1"}, types.ref(path, "Click"))  # the argument 'click' applies
    assert types.check({"type": "anything", "id": "1"}, path, "Basic") == []  # the default: string
    wrapped = types.ref(path, "Wrapped", types.ref(path, "Click"))
    assert types.check_type({"event": click, "time": 1, "extra": "indexed"}, wrapped) == []
    assert types.check_type({"event": {**click, "label": {"text": 1}}, "time": 1}, wrapped)
    assert types.check_type({"left": 1, "right": 2}, types.ref(path, "Pair", types.ref(path, "Basic", Lit("x")))) \
        == ["$.left: 1 is not an object", "$.right: 2 is not an object"]  # the second defaults to the first
    assert types.check({"when": 5, "flag": True}, path, "Cond") == []  # a conditional type: anything
    assert types.check({"when": 5, "flag": 1}, path, "Cond")


def test_conforming_values_pass(sample: tuple[TsTypes, Path]) -> None:
    types, path = sample
    value = {"ok": True, "ts": "1.2", "count": 3, "tags": ["x", None], "kind": "mrkdwn", "meta": {"cursor": ""},
             "items": [{"type": "button", "name": "n", "quoted-key": True, "extra": {"a": 1},
                        "nested": {"a": "s", "b": [1, 2.5]}, "any_fn": "whatever"}]}
    assert types.check(value, path, "Answer") == []
    assert types.check({"fixed": "x", "free": [1, {"y": None}]}, path, "Open") == []
    assert types.check({"a": "x"}, path, "Owner") == []
    assert types.check({"kind": "b", "b": 2}, path, "Shape") == []
    assert types.check({"id": "x", "right": 1}, path, "Mixed") == []
    assert types.check({"value": {"whatever": 1}}, path, "Generic") == []


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Answer", {"ts": "1"}, "required property 'ok' is missing"),                    # from the intersected Base
    ("Answer", {"ok": True, "ts": 1.5}, ".ts: 1.5 is not string"),
    ("Answer", {"ok": True, "count": True}, ".count: True is not number"),       # a bool is no number
    ("Answer", {"ok": True, "surprise": 1}, "property 'surprise' is not in the published type"),
    ("Answer", {"ok": True, "kind": "html"}, ".kind: 'html' is not"),            # enum values
    ("Answer", {"ok": True, "tags": [1]}, ".tags[0]"),
    ("Answer", {"ok": True, "meta": {"cursor": 1}}, ".meta.cursor: 1 is not string"),
    ("Answer", {"ok": True, "items": [{"type": "link", "name": "n"}]}, ".items[0].type"),
    ("Answer", {"ok": True, "items": [{"type": "button"}]}, "required property 'name' is missing"),  # extends
    ("Answer", {"ok": True, "items": [{"type": "button", "name": "n", "extra": {"a": "1"}}]}, ".items[0].extra.a"),
    ("Answer", {"ok": True, "items": {}}, "is not an array"),
    ("Open", {"free": 1}, "required property 'fixed' is missing"),
    ("Shape", {"kind": "a", "b": 2}, "required property 'a' is missing"),         # the discriminated member
    ("Mixed", {"id": "x"}, "required property"),
])
def test_non_conforming_values_fail(sample: tuple[TsTypes, Path], name: str, value: object, expected: str) -> None:
    types, path = sample
    errors = types.check(value, path, name)
    assert any(expected in e for e in errors), errors


def test_slacks_published_files_resolve() -> None:
    """Every declaration of the files the fake is checked against parses and resolves."""
    types = TsTypes()
    files = [RESPONSES / f"{name}Response.d.ts" for name in (
        "AuthTest", "ChatPostMessage", "ChatUpdate", "ChatPostEphemeral", "ChatDelete", "ChatGetPermalink",
        "ReactionsAdd", "ReactionsRemove", "UsersInfo", "UsersLookupByEmail", "ConversationsInfo",
        "ConversationsOpen", "ConversationsReplies", "AppsConnectionsOpen")] + sorted(EVENTS.glob("*.d.ts")) + [
        BOLT_ACTIONS, BOLT_EVENTS]
    reached = sum(types.resolve_all(path) for path in files)  # fails loudly on anything not understood
    assert reached > 500
    assert "BlockAction" in types.declared(BOLT_ACTIONS) and "EnvelopedEvent" in types.declared(BOLT_EVENTS)
    assert "AppMentionEvent" in types.declared(EVENTS / "app.d.ts")
    assert "GenericMessageEvent" in types.declared(EVENTS / "message.d.ts")
