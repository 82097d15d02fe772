"""Which of a list of regexes match a line, found in one pass of RE2 over it.

The policy's forty-odd patterns searched one after the other with Python's `re` cost tens of
microseconds a line, and almost every line matches none. An RE2 set answers for all of them in
one linear pass; Python's `re` then runs only on the patterns RE2 says match, so what a pattern
matches (`match.group(0)`) is still Python's.

The RE2 form of a regex is written from Python's own parse tree, so both engines read the same
pattern. On an ASCII line without the few control characters their `\\s` and `$` disagree on,
the two agree on whether a regex matches anywhere, with two relaxations that only ever add
candidates: lookarounds are dropped (RE2 has none) and atomic groups and possessive repeats
become plain ones. A regex with no RE2 form (back-references, a non-ASCII character, a locale
flag) is always a candidate, and so is every regex on a line the engines may read differently
(non-ASCII text: Unicode case folding, `\\w` and `\\d` differ).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import re2

from re import _constants as _c, _parser as _p  # type: ignore[attr-defined]

# RE2 caps a counted repeat at 1000; above it the repeat is left unbounded (a superset).
_RE2_MAX_REPEAT = 1000
# Memory for the set's automaton: ample for hundreds of patterns, so the DFA never gives up.
_RE2_MAX_MEM = 64 << 20
# Where Python's `\s` (\v, \x1c-\x1f) and `$` (before a final \n) read ASCII unlike RE2's.
_READ_ALIKE_EXCEPT = re.compile(r"[\n\v\x1c-\x1f]")
_FLAGS = ((_c.SRE_FLAG_IGNORECASE, "i"), (_c.SRE_FLAG_MULTILINE, "m"), (_c.SRE_FLAG_DOTALL, "s"))
_AT = {
    _c.AT_BEGINNING: "^", _c.AT_BEGINNING_STRING: r"\A", _c.AT_END: "$", _c.AT_END_STRING: r"\z",
    _c.AT_BOUNDARY: r"\b", _c.AT_NON_BOUNDARY: r"\B",
}
_CATEGORY = {
    _c.CATEGORY_DIGIT: r"\d", _c.CATEGORY_NOT_DIGIT: r"\D", _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S", _c.CATEGORY_WORD: r"\w", _c.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)


class _NoRe2Form(ValueError):
    pass


def _char(code: int) -> str:
    if code > 0x7F:
        raise _NoRe2Form("non-ASCII character")  # Python's and RE2's case folding differ there
    char = chr(code)
    return char if char.isalnum() else f"\\x{{{code:x}}}"


def _flag_letters(flags: int) -> str:
    if flags & _c.SRE_FLAG_LOCALE:
        raise _NoRe2Form("locale flag")
    return "".join(letter for flag, letter in _FLAGS if flags & flag)


def _class(items: list) -> str:
    parts = []
    for op, av in items:
        if op is _c.NEGATE:
            parts.append("^")
        elif op is _c.LITERAL:
            parts.append(_char(av))
        elif op is _c.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is _c.CATEGORY and av in _CATEGORY:
            parts.append(_CATEGORY[av])
        else:
            raise _NoRe2Form(f"class item {op}")
    return f"[{''.join(parts)}]"


def _sequence(items: Iterable) -> str:
    return "".join(_item(op, av) for op, av in items)


def _item(op, av) -> str:  # noqa: ANN001 - the private parser's opcodes and arguments
    if op is _c.LITERAL:
        return _char(av)
    if op is _c.NOT_LITERAL:
        return f"[^{_char(av)}]"
    if op is _c.ANY:
        return "."
    if op is _c.IN:
        return _class(av)
    if op is _c.AT and av in _AT:
        return _AT[av]
    if op is _c.BRANCH:
        return f"(?:{'|'.join(_sequence(alternative) for alternative in av[1])})"
    if op is _c.SUBPATTERN:
        _, add, remove, body = av
        on, off = _flag_letters(add), _flag_letters(remove)
        flags = on + (f"-{off}" if off else "")
        return f"(?{flags}:{_sequence(body)})"
    if op is _c.ATOMIC_GROUP:
        return f"(?:{_sequence(av)})"
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return "(?:)"
    if op in _REPEATS:
        low, high, body = av
        if low > _RE2_MAX_REPEAT:
            raise _NoRe2Form("repeat count")
        bound = "" if high is _c.MAXREPEAT or high > _RE2_MAX_REPEAT else str(high)
        return f"(?:{_sequence(body)}){{{low},{bound}}}"
    raise _NoRe2Form(f"operator {op}")


def re2_form(regex: str) -> str | None:
    """The regex in RE2 syntax (relaxed as the module docstring says), or None when it has none."""
    try:
        parsed = _p.parse(regex)
        return f"(?{_flag_letters(parsed.state.flags)}:{_sequence(parsed)})"
    except (_NoRe2Form, re.error, RecursionError):
        return None


def read_alike(line: str) -> bool:
    """Whether RE2 and Python's `re` agree on which of the set's regexes match this line."""
    return line.isascii() and (line.isprintable() or _READ_ALIKE_EXCEPT.search(line) is None)


class RegexSet:
    """Which of a list of regexes may match a line: every one that does, perhaps a few more."""

    def __init__(self, regexes: Iterable[str]) -> None:
        forms = [re2_form(regex) for regex in regexes]
        self._everything = list(range(len(forms)))
        self._always: list[int] = []
        self._indexes: list[int] = []
        options = re2.Options()
        options.max_mem = _RE2_MAX_MEM
        options.log_errors = False
        # Only ASCII lines are matched: Latin-1 keeps the automaton a byte per character.
        options.encoding = re2.Options.Encoding.LATIN1
        self._set = re2.Set.SearchSet(options)
        for index, form in enumerate(forms):
            try:
                if form is None:
                    raise re2.error("no RE2 form")
                self._set.Add(form.encode("ascii"))
            except re2.error:
                self._always.append(index)
            else:
                self._indexes.append(index)
        if self._indexes:
            self._set.Compile()  # raises re2.error when the set does not fit in its memory budget

    def candidates(self, line: str) -> list[int]:
        """Indexes of the regexes worth searching, in order."""
        if not self._indexes or not read_alike(line):
            return self._everything
        indexes = self._indexes
        found = [indexes[i] for i in self._set.Match(line.encode("ascii")) or ()]
        if self._always:
            found += self._always
        found.sort()
        return found


__all__ = ["RegexSet", "re2_form", "read_alike"]
