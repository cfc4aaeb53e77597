"""A tokenizer and a recursive-descent parser for the TypeScript that orval writes.

Type expressions become a small JSON grammar (every node is a dict with a `kind`):

    {"kind": "string" | "number" | "boolean" | "unknown" | "null"}
    {"kind": "literal", "value": "Active" | true | false}
    {"kind": "ref", "name": "Member"}
    {"kind": "array", "of": <node>}
    {"kind": "union", "of": [<node>, ...]}
    {"kind": "intersection", "of": [<node>, ...]}
    {"kind": "object", "fields": {name: {"type": <node>, "optional": bool, "nullable": bool}},
     "index": <node> | null}        # index: the value type of `[key: string]: T`, if any
    {"kind": "valueof", "const": "X"}   # `(typeof X)[keyof typeof X]`, until resolved

A field's `| null` is lifted into `nullable`; elsewhere `null` stays a union member. Anything
outside this grammar (generics, `any`, function types in a data type, ...) raises ParseError,
so a change in what the generator writes is noticed rather than half read.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<template>`(?:[^`\\]|\\.)*`)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_$][\w$]*)
  | (?P<punct>=>|\.\.\.|===|!==|\?\?|\?\.|\|\||&&|[{}()\[\]<>;:,?|&=.!*+\-/%])
    """,
    re.S | re.X,
)
PRIMITIVES = {"string", "number", "boolean", "unknown"}
OPENERS = {"(": ")", "[": "]", "{": "}", "<": ">"}


class ParseError(ValueError):
    """The text holds a construct this parser does not understand."""


class Token(NamedTuple):
    kind: str  # ident, string, template, number, punct, end
    text: str
    line: int

    @property
    def value(self) -> str:
        """A string token's value (quotes removed, escapes read)."""
        return ast.literal_eval(self.text)


def tokenize(text: str) -> list[Token]:
    """Tokens of text without spaces and comments, ending with an `end` token."""
    tokens, pos, line = [], 0, 1
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match:
            raise ParseError(f"line {line}: unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), line))
        line += match.group().count("\n")
        pos = match.end()
    tokens.append(Token("end", "", line))
    return tokens


def statements(tokens: list[Token]) -> list[list[Token]]:
    """Top-level statements: up to a `;` outside brackets, or an interface's closing `}`."""
    found, current, depth = [], [], 0
    for token in tokens:
        if token.kind == "end":
            break
        current.append(token)
        if token.kind == "punct" and token.text in OPENERS:
            depth += 1
        elif token.kind == "punct" and token.text in OPENERS.values():
            depth -= 1
            if depth < 0:
                raise ParseError(f"line {token.line}: unbalanced {token.text!r}")
        if depth == 0 and (
            token.text == ";" or (token.text == "}" and current[0].text == "interface")
        ):
            found.append(current)
            current = []
    if current or depth:
        raise ParseError(f"line {current[0].line}: statement not closed")
    return found


class Parser:
    """Recursive descent over one statement's tokens."""

    def __init__(self, tokens: list[Token]):
        last = tokens[-1].line if tokens else 0
        self.tokens = [*tokens, Token("end", "", last)]
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind in ("punct", "ident") and token.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        if not self.at(text):
            self.fail(f"expected {text!r}")
        return self.next()

    def ident(self) -> str:
        if self.peek().kind != "ident":
            self.fail("expected a name")
        return self.next().text

    def done(self) -> None:
        if self.peek().kind != "end":
            self.fail("expected the end of the statement")

    def fail(self, why: str) -> None:
        token = self.peek()
        raise ParseError(f"line {token.line}: {why}, found {token.text or 'the end'!r}")

    # -- type expressions -------------------------------------------------------------------

    def type_expr(self) -> dict:
        """union := ['|'] intersection ('|' intersection)*"""
        self.accept("|")
        members = [self.intersection()]
        while self.accept("|"):
            members.append(self.intersection())
        return members[0] if len(members) == 1 else {"kind": "union", "of": members}

    def intersection(self) -> dict:
        parts = [self.postfix()]
        while self.accept("&"):
            parts.append(self.postfix())
        return parts[0] if len(parts) == 1 else {"kind": "intersection", "of": parts}

    def postfix(self) -> dict:
        node = self.primary()
        while self.at("[") and self.at("]", 1):
            self.pos += 2
            node = {"kind": "array", "of": node}
        return node

    def primary(self) -> dict:
        token = self.peek()
        if self.accept("("):
            if self.at("typeof"):
                return self.value_of()
            inner = self.type_expr()
            self.expect(")")
            return inner
        if self.accept("{"):
            return self.object_body()
        if token.kind == "string":
            self.pos += 1
            return {"kind": "literal", "value": token.value}
        if token.kind == "ident":
            self.pos += 1
            if token.text in ("true", "false"):
                return {"kind": "literal", "value": token.text == "true"}
            if token.text == "null":
                return {"kind": "null"}
            if token.text in PRIMITIVES:
                return {"kind": token.text}
            if token.text in ("any", "undefined", "never", "object", "void", "typeof", "keyof"):
                self.pos -= 1
                self.fail("unsupported type keyword")
            if self.at("<") or self.at("."):
                self.fail(f"generic or qualified type {token.text} not understood")
            return {"kind": "ref", "name": token.text}
        self.fail("expected a type")
        raise AssertionError("unreachable")

    def value_of(self) -> dict:
        """`(typeof X)[keyof typeof X]`, after its `(`."""
        self.expect("typeof")
        name = self.ident()
        self.expect(")")
        self.expect("[")
        self.expect("keyof")
        self.expect("typeof")
        if self.ident() != name:
            self.fail(f"(typeof {name})[keyof typeof ...] names another constant")
        self.expect("]")
        return {"kind": "valueof", "const": name}

    def object_body(self) -> dict:
        """Members of `{ ... }` after its `{`: fields and at most one string index signature."""
        fields: dict[str, dict] = {}
        index = None
        while not self.accept("}"):
            if self.accept("["):
                self.ident()
                self.expect(":")
                self.expect("string")
                self.expect("]")
                self.expect(":")
                if index is not None:
                    self.fail("a second index signature")
                index = self.type_expr()
            else:
                if self.at("readonly") and not self.at(":", 1) and not self.at("?", 1):
                    self.fail("readonly field in a data type")
                token = self.next()
                if token.kind not in ("string", "ident"):
                    self.pos -= 1
                    self.fail("expected a field name")
                name = token.value if token.kind == "string" else token.text
                optional = self.accept("?")
                self.expect(":")
                if name in fields:
                    self.fail(f"field {name!r} declared twice")
                fields[name] = field(self.type_expr(), optional)
            if not (self.accept(";") or self.accept(",") or self.at("}")):
                self.fail("expected ';' between members")
        return {"kind": "object", "fields": fields, "index": index}

    def enum_body(self) -> list[str]:
        """`{ readonly A: "A"; ... }` of a `declare const`: the values, in order."""
        self.expect("{")
        values = []
        while not self.accept("}"):
            self.expect("readonly")
            if self.peek().kind not in ("ident", "string"):
                self.fail("expected a key")
            self.next()
            self.expect(":")
            if self.peek().kind != "string":
                self.fail("expected a string value")
            values.append(self.next().value)
            self.expect(";")
        return values


def field(node: dict, optional: bool) -> dict:
    """A field entry, with `| null` lifted from its type into `nullable`."""
    nullable = False
    if node["kind"] == "union" and {"kind": "null"} in node["of"]:
        rest = [m for m in node["of"] if m != {"kind": "null"}]
        nullable = True
        node = rest[0] if len(rest) == 1 else {"kind": "union", "of": rest}
    return {"type": node, "optional": optional, "nullable": nullable}


def parse_type(text: str) -> dict:
    """One type expression, e.g. `{a: string}[] | null`."""
    parser = Parser(tokenize(text)[:-1])
    node = parser.type_expr()
    parser.done()
    return node


def resolve_values(node: dict, consts: dict[str, list[str]]) -> dict:
    """The node with each `valueof` replaced by the union of its constant's string values."""
    if node.get("kind") == "valueof":
        if node["const"] not in consts:
            raise ParseError(f"(typeof {node['const']}): no such constant")
        members = [{"kind": "literal", "value": v} for v in consts[node["const"]]]
        return {"kind": "union", "of": members}
    return {key: _resolved(value, consts) for key, value in node.items()}


def _resolved(value: object, consts: dict[str, list[str]]) -> object:
    if isinstance(value, dict):
        return resolve_values(value, consts)
    if isinstance(value, list):
        return [_resolved(item, consts) for item in value]
    return value
