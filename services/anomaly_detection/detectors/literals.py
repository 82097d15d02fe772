"""Cheap necessary conditions for regexes: the literal text any match must contain.

Forty policy patterns searched one after the other cost about a hundred microseconds a line, and
almost every line matches none. `required_literals` reads a regex's parse tree and returns a set
of lowercase strings one of which must occur in any match; a substring test on the lowercased
line then skips the regexes that cannot match. Lowercasing both sides keeps the test a necessary
condition for case-sensitive and case-insensitive patterns alike (for ASCII lines; see
`LiteralGate`). A regex it cannot analyse is always searched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

try:
    from re import _constants as _c, _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without the 3.11+ layout: search every regex
    _c = _p = None  # type: ignore[assignment]

Requirement = frozenset[str] | None


def _better(a: Requirement, b: Requirement) -> Requirement:
    """The more selective requirement: longer shortest literal, then fewer alternatives."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda r: (min(map(len, r)), -len(r)))


def _of_sequence(items: Iterable[Any]) -> Requirement:
    best: Requirement = None
    run: list[str] = []

    def close_run() -> None:
        nonlocal best, run
        if run:
            best = _better(best, frozenset({"".join(run).lower()}))
            run = []

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
        elif op is _c.AT:
            continue  # zero-width: the literals on either side stay adjacent
        elif op is _c.SUBPATTERN:
            close_run()
            best = _better(best, _of_sequence(av[-1]))
        elif op is _c.BRANCH:
            close_run()
            alternatives = [_of_sequence(alt) for alt in av[1]]
            if alternatives and all(a is not None for a in alternatives):
                best = _better(best, frozenset().union(*alternatives))  # type: ignore[arg-type]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            close_run()
            minimum, _, body = av
            if minimum >= 1:
                best = _better(best, _of_sequence(body))
        else:
            close_run()
    close_run()
    return best


def required_literals(regex: str) -> Requirement:
    """Lowercase strings one of which every match contains, or None when unknown."""
    if _p is None:
        return None
    try:
        return _of_sequence(_p.parse(regex))
    except Exception:  # noqa: BLE001 - a private parser may change; searching always is safe
        return None


class LiteralGate:
    """Which of a list of regexes may match a line, by their required literals."""

    def __init__(self, regexes: Iterable[str]) -> None:
        self.requirements = [required_literals(r) for r in regexes]
        self._everything = list(range(len(self.requirements)))
        self._always = [i for i, required in enumerate(self.requirements) if required is None]
        # Each distinct literal once, with the regexes it admits: one substring test per literal.
        self._admits: dict[str, list[int]] = {}
        for index, required in enumerate(self.requirements):
            for literal in sorted(required or ()):
                self._admits.setdefault(literal, []).append(index)
        self._literals = list(self._admits)

    def candidates(self, line: str) -> list[int]:
        """Indexes of the regexes worth searching, in order."""
        if not line.isascii():
            # Unicode case folding can match a literal without the lowercased text containing it.
            return self._everything
        lowered = line.lower()
        found = [literal for literal in self._literals if literal in lowered]
        if not found:
            return self._always
        indexes = set(self._always)
        for literal in found:
            indexes.update(self._admits[literal])
        return sorted(indexes)


__all__ = ["LiteralGate", "required_literals"]
