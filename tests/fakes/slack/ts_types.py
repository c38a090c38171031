"""Reads Slack's published TypeScript declarations (``*.d.ts``) and checks JSON values against them.

Slack publishes no JSON Schema for its Web API or events; what it does publish are the npm packages
``@slack/web-api`` (one ``<Method>Response.d.ts`` per method, generated from real responses) and
``@slack/types`` (events, Block Kit). This module parses the part of TypeScript those files use —
interfaces (``extends``), type aliases, object literal types, optional marks, index signatures,
unions, intersections, arrays, literals, ``Record``/``Array``/``Partial``, indexed access
(``X['key']``), generics (``interface BlockAction<A extends Basic = Known>``: arguments, or the
defaults, are substituted for the parameters), ``import type`` between files and from other npm
packages (``from '@slack/types'``, found in node_modules as Node would) — and checks a value
STRICTLY: every required property present, no property the type does not declare (unless it has an
index signature), every primitive of the declared type (``any``/``unknown`` accept anything, ``null``
only ``None``). What it cannot express (function types, mapped/conditional types) counts as
"anything", so the checker never rejects a value wrongly.

Declarations are parsed lazily: a file is tokenized once and a declaration is parsed only when a
check reaches it, so constructs the checker never needs cannot break it.

    types = TsTypes()
    errors = types.check(value, RESPONSES / "ChatPostMessageResponse.d.ts", "ChatPostMessageResponse")
    # a generic, instantiated: BlockAction<ButtonAction>
    errors = types.check_type(value, types.ref(BOLT_ACTIONS, "BlockAction", types.ref(BOLT_ACTIONS, "ButtonAction")))
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
SLACK_NPM = REPO_ROOT / "node_modules" / "@slack"
RESPONSES = SLACK_NPM / "web-api" / "dist" / "types" / "response"
EVENTS = SLACK_NPM / "types" / "dist" / "events"
BOLT_TYPES = SLACK_NPM / "bolt" / "dist" / "types"
BOLT_ACTIONS = BOLT_TYPES / "actions" / "block-action.d.ts"  # BlockAction<…>, ButtonAction, StaticSelectAction
BOLT_EVENTS = BOLT_TYPES / "events" / "index.d.ts"  # EnvelopedEvent<…>

# ---------------------------------------------------------------------------------------------
# Types (what a declaration means, enough to check JSON)


@dataclass(frozen=True)
class Prim:
    name: str  # string number boolean null undefined any


@dataclass(frozen=True)
class Lit:
    value: object


@dataclass
class Union:
    members: list[TsType]


@dataclass
class Inter:
    members: list[TsType]


@dataclass
class Arr:
    element: TsType


@dataclass
class Tuple:
    elements: list[TsType]


@dataclass
class Prop:
    type: TsType
    optional: bool


@dataclass
class Obj:
    props: dict[str, Prop] = field(default_factory=dict)
    index: TsType | None = None


@dataclass
class Ref:
    """A name, resolved in the file it was written in."""

    name: str
    file: Path
    args: list[TsType] = field(default_factory=list)
    member: str | None = None  # X['member']


@dataclass(frozen=True)
class Param:
    """A generic parameter inside its declaration (replaced by the argument when the declaration is used)."""

    name: str


TsType = Prim | Lit | Union | Inter | Arr | Tuple | Obj | Ref | Param
ANY = Prim("any")
PRIMITIVES = {"string", "number", "boolean", "null", "undefined", "any", "unknown", "never", "object", "void",
              "bigint", "symbol"}

# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
  | (?P<template>`(?:\\.|[^`\\])*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>=>|\.\.\.|[{}\[\]()<>:;,|&?=.*!+\-@#])
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(source: str) -> list[Tok]:
    tokens: list[Tok] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise SyntaxError(f"cannot read TypeScript at offset {pos}: {source[pos:pos + 40]!r}")
        kind = match.lastgroup or ""
        if kind not in ("ws", "comment"):
            tokens.append(Tok(kind, match.group(), pos))
        pos = match.end()
    return tokens


_OPEN = {"{": "}", "[": "]", "(": ")"}

# ---------------------------------------------------------------------------------------------
# One file: its declarations (as token ranges) and imports


@dataclass
class Decl:
    kind: str  # "interface" | "type" | "enum"
    tokens: list[Tok]  # interface: from the name to the closing brace; type: the right-hand side
    params: list[tuple[str, list[Tok]]]  # generic parameters: (name, the default's tokens or [])
    extends: list[Tok] = field(default_factory=list)

    @property
    def param_names(self) -> set[str]:
        return {name for name, _ in self.params}


@dataclass
class TsFile:
    path: Path
    decls: dict[str, list[Decl]]  # interfaces can be declared more than once (merged)
    imports: dict[str, tuple[Path | str, str]]  # local name -> (file, exported name); a str: a module not found
    reexports: list[Path | str]  # export * from '...'


def _skip_group(tokens: list[Tok], i: int) -> int:
    """From an opening bracket at i, the index after its matching closing bracket."""
    depth = 0
    while i < len(tokens):
        text = tokens[i].text
        if text in _OPEN:
            depth += 1
        elif text in ("}", "]", ")"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SyntaxError("unbalanced brackets")


def _to_statement_end(tokens: list[Tok], i: int) -> int:
    """The index of the ``;`` ending the statement that goes on at i (brackets balanced)."""
    while i < len(tokens):
        text = tokens[i].text
        if text in _OPEN:
            i = _skip_group(tokens, i)
            continue
        if text == ";":
            return i
        i += 1
    return i


def _generic_params(tokens: list[Tok], i: int) -> tuple[list[tuple[str, list[Tok]]], int]:
    """``<T, U extends X = Y>`` at i → ([("T", []), ("U", <tokens of Y>)], index after ``>``)."""
    if i >= len(tokens) or tokens[i].text != "<":
        return [], i
    params: list[tuple[str, list[Tok]]] = []
    depth = 0
    expect_name = True
    default: list[Tok] | None = None  # collecting the current parameter's default
    while i < len(tokens):
        text = tokens[i].text
        if text in _OPEN:
            end = _skip_group(tokens, i)
            if default is not None:
                default += tokens[i:end]
            i = end
            continue
        if text == "<":
            depth += 1
            expect_name = depth == 1
        elif text == ">":
            depth -= 1
            if depth == 0:
                return params, i + 1
        elif text == "," and depth == 1:
            expect_name = True
            default = None
            i += 1
            continue
        elif expect_name and tokens[i].kind == "name":
            params.append((text, []))
            expect_name = False
            i += 1
            continue
        if text == "=" and depth == 1:
            default = params[-1][1]
        elif default is not None:
            default.append(tokens[i])
        i += 1
    raise SyntaxError("unterminated generic parameters")


def _module_path(here: Path, spec: str) -> Path | str:
    """The declaration file an import names: relative (``./x``, ``../y``) or an npm package (``@slack/types``,
    looked up in the ``node_modules`` folders above, through its package.json ``types``). A module that is not
    there comes back as its name (an error only if a type from it is ever needed)."""
    if spec.startswith("."):
        target = (here.parent / spec).resolve()
    else:
        parts = spec.split("/")
        package = "/".join(parts[:2] if spec.startswith("@") else parts[:1])
        subpath = spec[len(package):].lstrip("/")
        for folder in here.parents:
            root = folder / "node_modules" / package
            if root.is_dir():
                break
        else:
            return spec
        if not subpath:
            manifest = root / "package.json"
            meta = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
            declared = meta.get("types") or meta.get("typings")
            if isinstance(declared, str) and (root / declared).exists():
                return (root / declared).resolve()
        target = (root / subpath).resolve()
    if target.name.endswith(".d.ts") and target.exists():
        return target
    for candidate in (target.with_name(target.name + ".d.ts"), target / "index.d.ts"):
        if candidate.exists():
            return candidate
    if spec.startswith("."):
        raise FileNotFoundError(f"{here}: cannot find module {spec!r}")
    return spec


def parse_file(path: Path) -> TsFile:
    tokens = tokenize(path.read_text(encoding="utf-8"))
    file = TsFile(path, {}, {}, [])
    i = 0
    while i < len(tokens):
        text = tokens[i].text
        if text in ("export", "declare", "default"):
            if text == "export" and i + 1 < len(tokens) and tokens[i + 1].text in ("*", "{"):
                end = _to_statement_end(tokens, i)
                statement = tokens[i:end]
                if statement[1].text == "*" and statement[-1].kind == "string":
                    file.reexports.append(_module_path(path, statement[-1].text[1:-1]))
                elif statement[-1].kind == "string" and any(t.text == "from" for t in statement):
                    source = _module_path(path, statement[-1].text[1:-1])
                    names = statement[2:[t.text for t in statement].index("}")]
                    _record_import_names(file, names, source)
                i = end + 1
                continue
            i += 1
            continue
        if text == "import":
            end = _to_statement_end(tokens, i)
            statement = tokens[i:end]
            if "{" in [t.text for t in statement] and statement[-1].kind == "string":
                source = _module_path(path, statement[-1].text[1:-1])
                texts = [t.text for t in statement]
                names = statement[texts.index("{") + 1:texts.index("}")]
                _record_import_names(file, names, source)
            i = end + 1
            continue
        if text == "interface":
            name = tokens[i + 1].text
            params, j = _generic_params(tokens, i + 2)
            start_extends = j
            while tokens[j].text != "{":
                j = _skip_group(tokens, j) if tokens[j].text in ("(", "[") else j + 1
            extends = tokens[start_extends + 1:j] if j > start_extends and tokens[start_extends].text == "extends" \
                else []
            end = _skip_group(tokens, j)
            file.decls.setdefault(name, []).append(Decl("interface", tokens[j:end], params, extends))
            i = end
            continue
        if text == "type" and i + 1 < len(tokens) and tokens[i + 1].kind == "name":
            name = tokens[i + 1].text
            params, j = _generic_params(tokens, i + 2)
            if j < len(tokens) and tokens[j].text == "=":
                end = _to_statement_end(tokens, j + 1)
                file.decls.setdefault(name, []).append(Decl("type", tokens[j + 1:end], params))
                i = end + 1
                continue
        if text == "enum" and i + 1 < len(tokens) and tokens[i + 1].kind == "name":
            j = i + 2
            end = _skip_group(tokens, j)
            file.decls.setdefault(tokens[i + 1].text, []).append(Decl("enum", tokens[j + 1:end - 1], []))
            i = end
            continue
        if text in ("class", "namespace", "module", "function", "const", "let", "var", "abstract"):
            # Not types we check: skip the statement or its body.
            j = i + 1
            while j < len(tokens) and tokens[j].text not in (";", "{"):
                j = _skip_group(tokens, j) if tokens[j].text in ("(", "[") else j + 1
            if j < len(tokens) and tokens[j].text == "{":
                j = _skip_group(tokens, j)
                i = j + 1 if j < len(tokens) and tokens[j].text == ";" else j
            else:
                i = j + 1
            continue
        i += 1
    return file


def _record_import_names(file: TsFile, names: list[Tok], source: Path | str) -> None:
    parts: list[list[str]] = [[]]
    for tok in names:
        if tok.text == ",":
            parts.append([])
        elif tok.text != "type":
            parts[-1].append(tok.text)
    for part in parts:
        if not part:
            continue
        exported, local = (part[0], part[2]) if len(part) == 3 and part[1] == "as" else (part[0], part[0])
        file.imports[local] = (source, exported)


# ---------------------------------------------------------------------------------------------
# Parsing type expressions


class _Parser:
    def __init__(self, tokens: list[Tok], file: Path, params: set[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.file = file
        self.params = params

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.tokens[j].text if j < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> Tok:
        if self.i >= len(self.tokens):
            raise SyntaxError(f"{self.file.name}: unexpected end, wanted {expected!r}")
        tok = self.tokens[self.i]
        if expected is not None and tok.text != expected:
            raise SyntaxError(f"{self.file.name}: wanted {expected!r} at offset {tok.pos}, found {tok.text!r}")
        self.i += 1
        return tok

    def type(self) -> TsType:
        result = self.union()
        if self.peek() == "extends":
            # A conditional type (``A extends B ? C : D``) is not checkable: read it, mean anything.
            self.take("extends")
            self.union()
            self.take("?")
            self.type()
            self.take(":")
            self.type()
            return ANY
        return result

    def union(self) -> TsType:
        if self.peek() == "|":
            self.take()
        members = [self.intersection()]
        while self.peek() == "|":
            self.take()
            members.append(self.intersection())
        return members[0] if len(members) == 1 else Union(members)

    def intersection(self) -> TsType:
        if self.peek() == "&":
            self.take()
        members = [self.postfix()]
        while self.peek() == "&":
            self.take()
            members.append(self.postfix())
        return members[0] if len(members) == 1 else Inter(members)

    def postfix(self) -> TsType:
        base = self.primary()
        while self.peek() == "[":
            if self.peek(1) == "]":
                self.take("[")
                self.take("]")
                base = Arr(base)
            elif self.tokens[self.i + 1].kind == "string" and self.peek(2) == "]":
                self.take("[")
                member = self.take().text[1:-1]
                self.take("]")
                if isinstance(base, Ref) and base.member is None:
                    base = Ref(base.name, base.file, base.args, member)
                else:
                    base = ANY
            else:
                break
        return base

    def primary(self) -> TsType:
        tok = self.take()
        text = tok.text
        if text == "(":
            start = self.i - 1
            end = _skip_group(self.tokens, start)
            if end < len(self.tokens) and self.tokens[end].text == "=>":
                self.i = end + 1
                self.type()
                return ANY  # a function type
            inner = self.type()
            self.take(")")
            return inner
        if text == "{":
            return self.object_body()
        if text == "[":
            elements: list[TsType] = []
            while self.peek() != "]":
                if self.peek() == "...":
                    self.take()
                if self.tokens[self.i].kind == "name" and self.peek(1) in (":", "?"):
                    self.take()
                    if self.peek() == "?":
                        self.take()
                    self.take(":")
                elements.append(self.type())
                if self.peek() == "?":
                    self.take()
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return Tuple(elements)
        if tok.kind == "string":
            return Lit(text[1:-1])
        if tok.kind == "template":
            return Prim("string")
        if tok.kind == "number":
            return Lit(float(text) if "." in text else int(text))
        if text in ("true", "false"):
            return Lit(text == "true")
        if text in ("typeof", "keyof", "readonly", "unique", "infer"):
            if text == "readonly":
                return self.postfix()
            self.postfix()
            return ANY if text != "keyof" else Prim("string")
        if text == "new":
            self.primary()
            return ANY
        if text == "<":  # generic function type
            self.i -= 1
            _, self.i = _generic_params(self.tokens, self.i)
            return self.primary()
        if tok.kind == "name":
            if text in PRIMITIVES:
                return ANY if text in ("unknown", "any", "object", "void", "never", "bigint", "symbol") \
                    else Prim(text)
            name = text
            while self.peek() == "." and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1].kind == "name":
                self.take(".")
                name += "." + self.take().text
            args: list[TsType] = []
            if self.peek() == "<":
                self.take("<")
                while self.peek() != ">":
                    args.append(self.type())
                    if self.peek() == ",":
                        self.take()
                self.take(">")
            if name in self.params:
                return Param(name)
            if "." in name or name == "this":
                return ANY
            return Ref(name, self.file, args)
        raise SyntaxError(f"{self.file.name}: unexpected {text!r} at offset {tok.pos}")

    def object_body(self) -> TsType:
        """After ``{``: members up to ``}``."""
        obj = Obj()
        mapped = False
        while self.peek() != "}":
            if self.peek() in (";", ","):
                self.take()
                continue
            if self.peek() == "readonly" and self.peek(1) not in (":", "?", "("):
                self.take()
            if self.peek() in ("-", "+") and self.peek(1) == "readonly":
                self.take()
                self.take()
            tok = self.tokens[self.i]
            if tok.text == "[":
                # Index signature ``[key: string]: T`` or mapped type ``[K in X]: T``.
                if self.peek(2) == "in":
                    mapped = True
                    self.i = _skip_group(self.tokens, self.i)
                else:
                    self.i = _skip_group(self.tokens, self.i)
                    if self.peek() == "?":
                        self.take()
                    self.take(":")
                    value = self.type()
                    obj.index = value if obj.index is None else Union([obj.index, value])
                    continue
                while self.peek() in ("?", "-", "+"):
                    self.take()
                self.take(":")
                self.type()
                continue
            if tok.text in ("(", "<", "new"):  # call or construct signature
                self.i = _to_member_end(self.tokens, self.i)
                continue
            name_tok = self.take()
            name = name_tok.text[1:-1] if name_tok.kind == "string" else name_tok.text
            optional = False
            if self.peek() == "?":
                self.take()
                optional = True
            if self.peek() in ("(", "<"):  # method signature
                self.i = _to_member_end(self.tokens, self.i)
                continue
            self.take(":")
            obj.props[name] = Prop(self.type(), optional)
        self.take("}")
        return ANY if mapped else obj


def _to_member_end(tokens: list[Tok], i: int) -> int:
    while i < len(tokens) and tokens[i].text not in (";", ",", "}"):
        i = _skip_group(tokens, i) if tokens[i].text in _OPEN else i + 1
    return i


# ---------------------------------------------------------------------------------------------
# Resolution and checking


@dataclass
class _Declared:
    """What a name declares: its type (with :class:`Param` where its generic parameters are used) and those
    parameters with their defaults."""

    body: TsType
    params: list[tuple[str, TsType | None]] = field(default_factory=list)


_BUILT_INS = ("Record", "Array", "ReadonlyArray", "Partial", "Required", "Readonly", "Omit", "Pick", "Exclude",
              "Extract", "NonNullable", "Promise", "Date", "Map", "Set", "Function", "ReturnType", "Parameters",
              "Awaited", "InstanceType", "RegExp", "Error", "PropertyKey", "PromiseSettledResult",
              "PromiseFulfilledResult", "PromiseRejectedResult", "ArrayBuffer", "Uint8Array", "Buffer")


class TsTypes:
    """Parsed declaration files and a strict checker of JSON values against their types."""

    def __init__(self) -> None:
        self._files: dict[Path, TsFile] = {}
        self._resolved: dict[tuple[Path, str], _Declared] = {}

    def file(self, path: Path) -> TsFile:
        path = path.resolve()
        if path not in self._files:
            self._files[path] = parse_file(path)
        return self._files[path]

    def declared(self, path: Path) -> list[str]:
        return sorted(self.file(path).decls)

    def ref(self, path: Path, name: str, *args: TsType) -> Ref:
        """A use of the type ``name`` declared in ``path``, with generic arguments: ``types.ref(BOLT_EVENTS,
        "EnvelopedEvent", types.ref(EVENTS / "app.d.ts", "AppMentionEvent"))`` for
        ``EnvelopedEvent<AppMentionEvent>``; check values against it with :meth:`check_type`."""
        return Ref(name, path.resolve(), list(args))

    def lookup(self, path: Path, name: str, args: list[TsType] | None = None) -> TsType:
        """The type a name means in a file (followed through imports and re-exports); a generic one with
        ``args`` for its parameters (the declared defaults for those not given, else anything)."""
        declared = self._declared(path, name)
        if not declared.params:
            return declared.body
        bindings: dict[str, TsType] = {}
        for index, (param, default) in enumerate(declared.params):
            if args is not None and index < len(args):
                bindings[param] = args[index]
            else:
                bindings[param] = ANY if default is None else _substitute(default, bindings)
        return _substitute(declared.body, bindings)

    def _declared(self, path: Path, name: str) -> _Declared:
        key = (path.resolve(), name)
        if key in self._resolved:
            return self._resolved[key]
        self._resolved[key] = _Declared(ANY)  # a cycle (a type mentioning itself) checks through the placeholder
        result = self._lookup(path.resolve(), name, set())
        self._resolved[key] = result
        return result

    def _lookup(self, path: Path, name: str, seen: set[tuple[Path, str]]) -> _Declared:
        if (path, name) in seen:
            raise LookupError(f"{name}: circular re-export")
        seen.add((path, name))
        file = self.file(path)
        if name in file.decls:
            return self._declaration(file, file.decls[name])
        if name in file.imports:
            source, exported = file.imports[name]
            if isinstance(source, str):
                raise LookupError(f"{path.name}: {name!r} comes from {source!r}, which is not installed")
            return self._lookup(source, exported, seen)
        missing = []
        for source in file.reexports:
            if isinstance(source, str):
                missing.append(source)
                continue
            try:
                return self._lookup(source, name, seen)
            except LookupError:
                continue
        if name in _BUILT_INS:
            return _Declared(ANY)  # built-ins are handled where they are used (see _resolve_ref)
        raise LookupError(f"{path.name}: no type {name!r}"
                          + (f" (modules not installed: {missing})" if missing else ""))

    def _declaration(self, file: TsFile, decls: list[Decl]) -> _Declared:
        parts: list[TsType] = []
        first = decls[0]
        names = first.param_names
        defaults: list[tuple[str, TsType | None]] = []
        for param, default in first.params:
            defaults.append((param, _Parser(default, file.path, names).type() if default else None))
        for decl in decls:
            params = decl.param_names
            if decl.kind == "enum":
                parts.append(_enum_values(decl.tokens))
                continue
            if decl.kind == "type":
                parser = _Parser(decl.tokens, file.path, params)
                parsed = parser.type()
                parts.append(parsed)
                continue
            parser = _Parser(decl.tokens, file.path, params)
            parser.take("{")
            parts.append(parser.object_body())
            for base in _split_commas(decl.extends):
                parts.append(_Parser(base, file.path, params).type())
        return _Declared(parts[0] if len(parts) == 1 else Inter(parts), defaults)

    def resolve_all(self, path: Path) -> int:
        """Resolve every type a file declares and every type those reach (raising on anything the reader
        does not understand); how many distinct named types that was."""
        seen: set[tuple[Path, str, str | None]] = set()
        stack: list[TsType] = [self.lookup(path, name) for name in self.declared(path)]
        while stack:
            t = stack.pop()
            if isinstance(t, Ref):
                key = (t.file, t.name, t.member)
                if key not in seen:
                    seen.add(key)
                    stack += [*t.args, self._resolve_ref(t)]
            elif isinstance(t, Union | Inter):
                stack += t.members
            elif isinstance(t, Arr):
                stack.append(t.element)
            elif isinstance(t, Tuple):
                stack += t.elements
            elif isinstance(t, Obj):
                stack += [p.type for p in t.props.values()]
                if t.index is not None:
                    stack.append(t.index)
        return len(seen)

    # -- resolving to a structural type

    def resolve(self, t: TsType) -> TsType:
        """Follow references until the type is structural (not a Ref)."""
        for _ in range(50):
            if isinstance(t, Param):
                return ANY  # a parameter nothing was given for
            if not isinstance(t, Ref):
                return t
            t = self._resolve_ref(t)
        raise RecursionError("type aliases too deep")

    def _resolve_ref(self, ref: Ref) -> TsType:
        if ref.name in ("Record",) and len(ref.args) == 2:
            result: TsType = Obj(index=ref.args[1])
        elif ref.name in ("Array", "ReadonlyArray") and len(ref.args) == 1:
            result = Arr(ref.args[0])
        elif ref.name in ("Partial", "Readonly", "Required") and len(ref.args) == 1:
            inner = self.object_of(ref.args[0])
            if inner is None:
                return ANY
            if ref.name == "Partial":
                result = Obj({k: Prop(p.type, True) for k, p in inner.props.items()}, inner.index)
            else:
                result = inner
        elif ref.name in ("Omit", "Pick") and len(ref.args) == 2:
            inner = self.object_of(ref.args[0])
            keys = _literal_strings(self.resolve(ref.args[1]))
            if inner is None or keys is None:
                return ANY
            kept = {k: p for k, p in inner.props.items() if (k in keys) == (ref.name == "Pick")}
            result = Obj(kept, inner.index)
        else:
            result = self.lookup(ref.file, ref.name, ref.args)
        if ref.member is not None:
            obj = self.object_of(result)
            if obj is None or ref.member not in obj.props:
                return ANY
            prop = obj.props[ref.member]
            return Union([prop.type, Prim("undefined")]) if prop.optional else prop.type
        return result

    def object_of(self, t: TsType) -> Obj | None:
        """An object type, with intersections and ``extends`` merged; None when it is not one."""
        t = self.resolve(t)
        if isinstance(t, Obj):
            return t
        if isinstance(t, Inter):
            merged = Obj()
            for member in t.members:
                part = self.object_of(member)
                if part is None:
                    if self.resolve(member) == ANY:
                        merged.index = ANY
                        continue
                    return None
                for key, prop in part.props.items():
                    if key in merged.props:
                        old = merged.props[key]
                        merged.props[key] = Prop(Inter([old.type, prop.type]) if old.type != prop.type
                                                 else old.type, old.optional and prop.optional)
                    else:
                        merged.props[key] = prop
                if part.index is not None:
                    merged.index = part.index if merged.index is None else merged.index
            return merged
        return None

    # -- checking

    def check(self, value: object, path: Path, name: str) -> list[str]:
        """Every way ``value`` breaks the type ``name`` declared in ``path`` (empty: it conforms)."""
        return self.check_type(value, self.lookup(path, name), name)

    def check_type(self, value: object, t: TsType, where: str = "$") -> list[str]:
        t = self.resolve(t)
        if t == ANY:
            return []
        if isinstance(t, Prim):
            return [] if _is_prim(value, t.name) else [f"{where}: {_show(value)} is not {t.name}"]
        if isinstance(t, Lit):
            return [] if value == t.value and type(value) is type(t.value) else \
                [f"{where}: {_show(value)} is not {t.value!r}"]
        if isinstance(t, Union):
            best: list[str] | None = None
            for member in _flatten_union(self, t):
                errors = self.check_type(value, member, where)
                if not errors:
                    return []
                if best is None or _closer(errors, best):
                    best = errors
            return best or [f"{where}: matches no member of the union"]
        if isinstance(t, Arr):
            if not isinstance(value, list):
                return [f"{where}: {_show(value)} is not an array"]
            errors = []
            for index, item in enumerate(value):
                errors += self.check_type(item, t.element, f"{where}[{index}]")
            return errors
        if isinstance(t, Tuple):
            if not isinstance(value, list):
                return [f"{where}: {_show(value)} is not an array"]
            return []
        if isinstance(t, Inter):
            for index, member in enumerate(t.members):
                resolved = self.resolve(member)
                if isinstance(resolved, Union):  # A & (B | C) is (A & B) | (A & C)
                    rest = t.members[:index] + t.members[index + 1:]
                    return self.check_type(value, Union([Inter([*rest, m]) for m in resolved.members]), where)
        obj = self.object_of(t)
        if obj is None:  # an intersection of non-objects ('markdown' & string): every part must hold
            assert isinstance(t, Inter)
            return [e for member in t.members for e in self.check_type(value, member, where)]
        return self._check_object(value, obj, where)

    def _check_object(self, value: object, obj: Obj, where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: {_show(value)} is not an object"]
        errors: list[str] = []
        for key, prop in obj.props.items():
            if key not in value and not prop.optional and not self._accepts_undefined(prop.type):
                errors.append(f"{where}: required property {key!r} is missing")
        for key, item in value.items():
            if key in obj.props:
                errors += self.check_type(item, obj.props[key].type, f"{where}.{key}")
            elif obj.index is not None:
                errors += self.check_type(item, obj.index, f"{where}.{key}")
            else:
                errors.append(f"{where}: property {key!r} is not in the published type")
        return errors

    def _accepts_undefined(self, t: TsType) -> bool:
        t = self.resolve(t)
        if t == ANY or t == Prim("undefined"):
            return True
        return isinstance(t, Union) and any(self._accepts_undefined(m) for m in t.members)


def _substitute(t: TsType, bindings: dict[str, TsType]) -> TsType:
    """``t`` with generic parameters replaced by what they are bound to."""
    if not bindings:
        return t
    if isinstance(t, Param):
        return bindings.get(t.name, t)
    if isinstance(t, Union):
        return Union([_substitute(m, bindings) for m in t.members])
    if isinstance(t, Inter):
        return Inter([_substitute(m, bindings) for m in t.members])
    if isinstance(t, Arr):
        return Arr(_substitute(t.element, bindings))
    if isinstance(t, Tuple):
        return Tuple([_substitute(e, bindings) for e in t.elements])
    if isinstance(t, Obj):
        return Obj({k: Prop(_substitute(p.type, bindings), p.optional) for k, p in t.props.items()},
                   None if t.index is None else _substitute(t.index, bindings))
    if isinstance(t, Ref) and t.args:
        return Ref(t.name, t.file, [_substitute(a, bindings) for a in t.args], t.member)
    return t


def _flatten_union(types: TsTypes, t: Union) -> list[TsType]:
    out: list[TsType] = []
    for member in t.members:
        resolved = types.resolve(member)
        if isinstance(resolved, Union):
            out += _flatten_union(types, resolved)
        else:
            out.append(resolved)
    return out


def _closer(errors: list[str], best: list[str]) -> bool:
    """Prefer the union member whose literal discriminator (``type``) matched: fewer errors, and none
    saying a literal differs."""
    def literal_misses(errs: list[str]) -> int:
        return sum(1 for e in errs if " is not '" in e)
    return (literal_misses(errors), len(errors)) < (literal_misses(best), len(best))


def _enum_values(tokens: list[Tok]) -> TsType:
    """``A = "a", B = "b"`` → the union of the values (members without one count from 0)."""
    values: list[TsType] = []
    for member in _split_commas(tokens):
        if len(member) >= 3 and member[1].text == "=":
            value = member[2]
            values.append(Lit(value.text[1:-1]) if value.kind == "string" else Lit(int(value.text)))
        else:
            values.append(Lit(len(values)))
    return Union(values) if values else ANY


def _split_commas(tokens: list[Tok]) -> list[list[Tok]]:
    parts: list[list[Tok]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.text in ("<", "(", "[", "{"):
            depth += 1
        elif tok.text in (">", ")", "]", "}"):
            depth -= 1
        if tok.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def _literal_strings(t: TsType) -> set[str] | None:
    if isinstance(t, Lit) and isinstance(t.value, str):
        return {t.value}
    if isinstance(t, Union):
        out: set[str] = set()
        for member in t.members:
            got = _literal_strings(member)
            if got is None:
                return None
            out |= got
        return out
    return None


def _is_prim(value: object, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "undefined":
        return False  # JSON has no undefined: a property of that type must be absent
    return True


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
