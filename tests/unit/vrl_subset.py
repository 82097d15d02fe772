"""A small interpreter for the subset of VRL (Vector Remap Language) that vector/vector.toml uses,
so the Vector side of the LogEntry contract can be run here, where Vector cannot.

It follows VRL's runtime semantics for what it supports: `f!()` aborts on error, `??` falls back
on error, `string()`/`int()`/`timestamp()` assert a type, `get!` yields null for a missing key,
`to_string(null)` is "", `encode_json` sorts object keys (VRL objects are ordered maps). Anything
else (an unknown function, operator or statement) raises `UnsupportedVrl`, so a new construct in
vector.toml fails the contract test instead of being skipped. It does not type-check programs the
way the VRL compiler does; the contract test runs the real VRL (the `pyvrl` package) too when it is
installed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


class UnsupportedVrl(Exception):
    """The program uses VRL this interpreter does not implement."""


class VrlError(Exception):
    """A fallible expression failed (what `??` catches)."""


class VrlAbort(Exception):
    """The program aborted: an infallible call (`f!()`) failed."""


# --- lexer ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+|\#[^\n]*)
  | (?P<newline>\n)
  | (?P<regex>r'(?:[^'\\]|\\.)*')
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*!?)
  | (?P<op>\?\?|==|!=|>=|<=|&&|\|\||[.=,:{}\[\]()<>+\-*/!])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    line, pos = 1, 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise UnsupportedVrl(f"line {line}: cannot read {source[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "newline":
            tokens.append(Token("newline", text, line))
            line += 1
        elif kind != "ws":
            tokens.append(Token(kind, text, line))
        pos = match.end()
    tokens.append(Token("eof", "", line))
    return tokens


# --- parser (to nested tuples) ---------------------------------------------------------------------

_BINARY = [("??",), ("||",), ("&&",), ("==", "!="), (">", "<", ">=", "<="), ("+", "-"), ("*", "/")]


class Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self.current
        if (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            raise UnsupportedVrl(f"line {token.line}: expected {text or kind}, found {token.text!r}")
        self.index += 1
        return token

    def skip_newlines(self) -> None:
        while self.current.kind == "newline":
            self.index += 1

    def program(self) -> list[tuple]:
        statements = self.statements(until="eof")
        self.take(kind="eof")
        return statements

    def statements(self, until: str) -> list[tuple]:
        body = []
        self.skip_newlines()
        while self.current.text != until and self.current.kind != until:
            body.append(self.statement())
            if self.current.kind == "newline":
                self.skip_newlines()
            elif self.current.text != until and self.current.kind != until:
                raise UnsupportedVrl(f"line {self.current.line}: expected a new line, found {self.current.text!r}")
        return body

    def statement(self) -> tuple:
        start = self.index
        target = self.assignable()
        if target is not None and self.current.text == "=":
            self.take("=")
            self.skip_newlines()
            return ("assign", target, self.expression())
        self.index = start
        return ("expr", self.expression())

    def assignable(self) -> tuple | None:
        """A path (`.`, `.a.b`) or a variable path (`x`, `x.a`), or None when it is not one."""
        token = self.current
        if token.text == ".":
            return self.event_path()
        if token.kind == "ident" and not token.text.endswith("!") and self.tokens[self.index + 1].text != "(":
            self.index += 1
            names = [token.text]
            while self.current.text == "." and self.tokens[self.index + 1].kind == "ident":
                self.take(".")
                names.append(self.take(kind="ident").text)
            return ("var", names[0], tuple(names[1:]))
        return None

    def event_path(self) -> tuple:
        self.take(".")
        names = []
        if self.current.kind == "ident" and not self.current.text.endswith("!"):
            names.append(self.take(kind="ident").text)
            while self.current.text == "." and self.tokens[self.index + 1].kind == "ident":
                self.take(".")
                names.append(self.take(kind="ident").text)
        return ("path", tuple(names))

    def expression(self, level: int = 0) -> tuple:
        if level == len(_BINARY):
            return self.unary()
        left = self.expression(level + 1)
        while self.current.text in _BINARY[level]:
            op = self.take().text
            self.skip_newlines()
            left = ("binary", op, left, self.expression(level + 1))
        return left

    def unary(self) -> tuple:
        if self.current.text == "!":
            self.take("!")
            return ("not", self.unary())
        return self.primary()

    def primary(self) -> tuple:
        token = self.current
        if token.kind == "string":
            self.index += 1
            return ("literal", json.loads(token.text))
        if token.kind == "regex":
            self.index += 1
            return ("regex", re.compile(token.text[2:-1].replace("\\'", "'")))
        if token.kind == "number":
            self.index += 1
            return ("literal", float(token.text) if "." in token.text else int(token.text))
        if token.text == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        if token.text == "[":
            return self.array()
        if token.text == "{":
            return self.object()
        if token.text == ".":
            return self.event_path()
        if token.kind == "ident":
            if token.text in ("true", "false", "null"):
                self.index += 1
                return ("literal", {"true": True, "false": False, "null": None}[token.text])
            if token.text == "if":
                return self.if_expression()
            if self.tokens[self.index + 1].text == "(":
                return self.call()
            return self.assignable()  # a variable read
        raise UnsupportedVrl(f"line {token.line}: unexpected {token.text!r}")

    def array(self) -> tuple:
        self.take("[")
        items = []
        self.skip_newlines()
        while self.current.text != "]":
            items.append(self.expression())
            self.skip_newlines()
            if self.current.text == ",":
                self.take(",")
                self.skip_newlines()
        self.take("]")
        return ("array", items)

    def object(self) -> tuple:
        self.take("{")
        pairs = []
        self.skip_newlines()
        while self.current.text != "}":
            key = json.loads(self.take(kind="string").text)
            self.take(":")
            self.skip_newlines()
            pairs.append((key, self.expression()))
            self.skip_newlines()
            if self.current.text == ",":
                self.take(",")
                self.skip_newlines()
        self.take("}")
        return ("object", pairs)

    def if_expression(self) -> tuple:
        self.take("if")
        condition = self.expression()
        self.take("{")
        then = self.statements(until="}")
        self.take("}")
        otherwise: list[tuple] = []
        if self.current.text == "else":
            self.take("else")
            if self.current.text == "if":
                otherwise = [("expr", self.if_expression())]
            else:
                self.take("{")
                otherwise = self.statements(until="}")
                self.take("}")
        return ("if", condition, then, otherwise)

    def call(self) -> tuple:
        name = self.take(kind="ident").text
        self.take("(")
        args, named = [], {}
        self.skip_newlines()
        while self.current.text != ")":
            if self.current.kind == "ident" and self.tokens[self.index + 1].text == ":":
                key = self.take(kind="ident").text
                self.take(":")
                named[key] = self.expression()
            else:
                args.append(self.expression())
            self.skip_newlines()
            if self.current.text == ",":
                self.take(",")
                self.skip_newlines()
        self.take(")")
        return ("call", name.rstrip("!"), name.endswith("!"), args, named)


# --- runtime ---------------------------------------------------------------------------------------


def _need(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise VrlError(f"expected {what}, got {type(value).__name__}")
    return value


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    raise VrlError(f"cannot convert {type(value).__name__} to a string")


# chrono specifiers vector.toml uses, in strftime terms.
_CHRONO = {"%Y": "%Y", "%m": "%m", "%d": "%d", "%H": "%H", "%M": "%M", "%S": "%S", "%.6f": ".%f"}


def _format_timestamp(value: Any, fmt: str) -> str:
    stamp = _need(value, datetime, "a timestamp").astimezone(timezone.utc)
    pieces = re.split(r"(%\.\d+f|%[A-Za-z])", fmt)
    out = []
    for piece in pieces:
        if piece.startswith("%"):
            if piece not in _CHRONO:
                raise UnsupportedVrl(f"format_timestamp specifier {piece}")
            out.append(stamp.strftime(_CHRONO[piece]))
        else:
            out.append(piece)
    return "".join(out)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _unix(value: Any, unit: str) -> int:
    stamp = _need(value, datetime, "a timestamp")
    micros = (stamp - _EPOCH) // timedelta(microseconds=1)
    scale = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1, "nanoseconds": None}[unit]
    return micros * 1000 if scale is None else micros // scale


def _get(value: Any, path: list[Any]) -> Any:
    current = value
    for part in _need(path, list, "an array path"):
        if isinstance(current, dict) and isinstance(part, str):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and not isinstance(part, bool):
            current = current[part] if -len(current) <= part < len(current) else None
        elif isinstance(part, (str, int)):
            return None
        else:
            raise VrlError("path segments must be strings or integers")
    return current


def _truncate(value: Any, limit: Any) -> str:
    return _need(value, str, "a string")[: _need(limit, int, "an integer")]


def _replace(value: Any, pattern: Any, with_: Any) -> str:
    text = _need(value, str, "a string")
    replacement = _need(with_, str, "a string")
    if isinstance(pattern, re.Pattern):
        return pattern.sub(lambda _: replacement, text)
    return text.replace(_need(pattern, str, "a string or regex"), replacement)


def _env(env: Mapping[str, str]) -> Callable[[Any], str]:
    def get_env_var(name: Any) -> str:
        key = _need(name, str, "a string")
        if key not in env:
            raise VrlError(f"environment variable {key} is not set")
        return env[key]

    return get_env_var


class Program:
    """A parsed VRL program, run against an event with an injected clock and environment."""

    def __init__(self, source: str) -> None:
        self.statements = Parser(source).program()

    def run(self, event: dict[str, Any], *, now: datetime, env: Mapping[str, str]) -> dict[str, Any]:
        functions: dict[str, Callable[..., Any]] = {
            "now": lambda: now,
            "uuid_v4": lambda: str(uuid.uuid4()),
            "get_env_var": _env(env),
            "downcase": lambda v: _need(v, str, "a string").lower(),
            "replace": _replace,
            "truncate": _truncate,
            "string": lambda v: _need(v, str, "a string"),
            "int": lambda v: _need(v, int, "an integer"),
            "timestamp": lambda v: _need(v, datetime, "a timestamp"),
            "to_string": _to_string,
            "get": _get,
            "to_unix_timestamp": lambda v, unit="seconds": _unix(v, unit),
            "format_timestamp": lambda v, format: _format_timestamp(v, format),  # noqa: A002 - VRL's name
            "encode_json": lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }
        state = _State(event=_copy(event), variables={}, functions=functions)
        for statement in self.statements:
            state.execute(statement)
        return state.event


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass
class _State:
    event: Any
    variables: dict[str, Any]
    functions: dict[str, Callable[..., Any]]

    def execute(self, statement: tuple) -> Any:
        if statement[0] == "assign":
            value = self.evaluate(statement[2])
            self.assign(statement[1], value)
            return value
        return self.evaluate(statement[1])

    def assign(self, target: tuple, value: Any) -> None:
        if target[0] == "path":
            names = target[1]
            if not names:
                self.event = _need(value, dict, "an object for the event root")
                return
            container = self.event
            for name in names[:-1]:
                container = container.setdefault(name, {})
            container[names[-1]] = value
            return
        _, name, fields = target
        if not fields:
            self.variables[name] = value
            return
        container = self.variables.setdefault(name, {})
        for field in fields[:-1]:
            container = container.setdefault(field, {})
        container[fields[-1]] = value

    def evaluate(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "regex":
            return node[1]
        if kind == "path":
            return _get(self.event, list(node[1]))
        if kind == "var":
            _, name, fields = node
            if name not in self.variables:
                raise UnsupportedVrl(f"undefined variable {name}")
            return _get(self.variables[name], list(fields))
        if kind == "array":
            return [self.evaluate(item) for item in node[1]]
        if kind == "object":
            return {key: self.evaluate(value) for key, value in node[1]}
        if kind == "not":
            return not _need(self.evaluate(node[1]), bool, "a boolean")
        if kind == "if":
            _, condition, then, otherwise = node
            result = None
            for statement in then if self.evaluate(condition) is True else otherwise:
                result = self.execute(statement)
            return result
        if kind == "binary":
            return self.binary(*node[1:])
        if kind == "call":
            return self.call(*node[1:])
        raise UnsupportedVrl(f"expression {kind}")

    def binary(self, op: str, left: tuple, right: tuple) -> Any:
        if op == "??":
            try:
                return self.evaluate(left)
            except VrlError:
                return self.evaluate(right)
        a, b = self.evaluate(left), self.evaluate(right)
        if op == "==":
            return a == b and type(a) is type(b)
        if op == "!=":
            return not (a == b and type(a) is type(b))
        if op in (">", "<", ">=", "<=", "-", "+"):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
                raise UnsupportedVrl(f"operator {op} on {type(a).__name__} and {type(b).__name__}")
            return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "-": a - b, "+": a + b}[op]
        raise UnsupportedVrl(f"operator {op}")

    def call(self, name: str, abort_on_error: bool, args: list[tuple], named: dict[str, tuple]) -> Any:
        if name == "del":
            target = args[0]
            if target[0] != "path" or not target[1] or named:
                raise UnsupportedVrl("del() of anything but an event field")
            container = _get(self.event, list(target[1][:-1])) if len(target[1]) > 1 else self.event
            return container.pop(target[1][-1], None) if isinstance(container, dict) else None
        function = self.functions.get(name)
        if function is None:
            raise UnsupportedVrl(f"function {name}()")
        values = [self.evaluate(arg) for arg in args]
        keywords = {key: self.evaluate(value) for key, value in named.items()}
        try:
            return function(*values, **keywords)
        except VrlError as exc:
            if abort_on_error:
                raise VrlAbort(f"{name}!(): {exc}") from exc
            raise
