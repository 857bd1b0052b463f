"""Case-insensitive rule patterns rewritten so Python's regex engine can skip ahead.

Python's engine scans for a match quickly only when a pattern starts with a character
(or a class of them) matched case-sensitively: it then jumps from one such character to
the next. The target rules are case-insensitive and start with "\\b" or a lookbehind, so the
engine tries the whole pattern at every position of a sentence; on the benchmark corpus that
was the larger part of the target search.

`skip_ahead` takes a case-insensitive pattern and builds one that finds the same matches
(the same start and end) in the lower-cased text, case-sensitively, starting with the class
of characters a match can start with. The first character is consumed by that class; what
the pattern checked before it is checked just after it instead:

    \\bm+odic            ->  [m](?<!\\w.)m*odic
    (?<!non)compress    ->  [c](?<!non.)ompress
    \\b(?:grade|gr)\\s   ->  [g](?<!\\w.)(?:(?<=[g])rade|(?<=[g])r)\\s
    (?:nerve\\s+)?roots  ->  [nr](?:(?<=[n])erve\\s+roots|(?<=[r])oots)

It works on the parsed pattern (Python's own `re._parser` and `re._compiler`, which are not a
public API), so anything it does not know how to rewrite (a lookahead or an optional group
at the start, a backreference, a case-sensitive part, a cased non-ASCII letter) gives None,
and the caller keeps the pattern as it is. The rewritten pattern is only used on ASCII text,
whose lower-casing keeps every offset and where case-insensitive matching is plain ASCII
case folding. tests/test_rules.py checks every bundled rule both ways over real reports.
"""

from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _compiler as _sre_compile
    from re import _constants as _k
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - older layouts: no rewriting
    _sre_compile = _k = _sre_parse = None

# Characters that match an ASCII letter case-insensitively: Kelvin sign, dotted and dotless i, long s.
_FOLDS_TO_ASCII = {0x130, 0x131, 0x17F, 0x212A}


class _Unsupported(Exception):
    """The pattern holds something the rewriting does not handle."""


def skip_ahead(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern for lower-cased ASCII text, starting with a character class; None if not built."""
    if _sre_parse is None or not pattern.flags & re.IGNORECASE or not isinstance(pattern.pattern, str):
        return None
    try:
        tree = _sre_parse.parse(pattern.pattern, pattern.flags)
        state = tree.state
        rewriter = _Rewriter(state)
        lowered = rewriter.lower(list(tree.data))
        first, rest = rewriter.decompose(lowered)
        state.flags &= ~re.IGNORECASE
        new = _sre_parse.SubPattern(state, [(_k.IN, first), *rest])
        return _sre_compile.compile(new, pattern.flags & ~re.IGNORECASE)
    except Exception:  # the rewriting is only for speed: whatever goes wrong, the rule is used as written
        return None


class _Rewriter:
    def __init__(self, state):
        self.state = state

    def sub(self, data: list) -> object:
        return _sre_parse.SubPattern(self.state, data)

    # -- lower-casing -------------------------------------------------------------------------

    @staticmethod
    def _char(code: int) -> int:
        if 0x41 <= code <= 0x5A:
            return code + 32
        if code > 0x7F and (code in _FOLDS_TO_ASCII or chr(code).lower() != chr(code).upper()):
            raise _Unsupported("a cased non-ASCII letter")
        return code

    def _items(self, items: list) -> list:
        out = []
        for op, av in items:
            if op is _k.LITERAL:
                out.append((op, self._char(av)))
            elif op is _k.RANGE:
                lo, hi = av
                if any(lo <= c <= hi for c in _FOLDS_TO_ASCII):
                    raise _Unsupported("a range holding a letter that folds to ASCII")
                out.append((op, av))
                upper = (max(lo, 0x41), min(hi, 0x5A))
                if upper[0] <= upper[1]:
                    out.append((op, (upper[0] + 32, upper[1] + 32)))
            elif op in (_k.CATEGORY, _k.NEGATE):
                out.append((op, av))
            else:
                raise _Unsupported(f"set item {op}")
        return out

    def lower(self, data: list) -> list:
        """The parsed pattern matching lower-cased text case-sensitively."""
        out = []
        for op, av in data:
            if op in (_k.LITERAL, _k.NOT_LITERAL):
                av = self._char(av)
            elif op is _k.IN:
                av = self._items(av)
            elif op is _k.SUBPATTERN:
                group, add, remove, p = av
                if remove & re.IGNORECASE:
                    raise _Unsupported("a case-sensitive part")
                av = (group, add & ~re.IGNORECASE, remove, self.sub(self.lower(list(p.data))))
            elif op in (_k.MAX_REPEAT, _k.MIN_REPEAT, _k.POSSESSIVE_REPEAT):
                lo, hi, p = av
                av = (lo, hi, self.sub(self.lower(list(p.data))))
            elif op is _k.BRANCH:
                av = (av[0], [self.sub(self.lower(list(p.data))) for p in av[1]])
            elif op in (_k.ASSERT, _k.ASSERT_NOT):
                direction, p = av
                av = (direction, self.sub(self.lower(list(p.data))))
            elif op is _k.ATOMIC_GROUP:
                av = self.sub(self.lower(list(av.data)))
            elif op in (_k.AT, _k.ANY):
                pass
            else:  # backreferences and anything newer
                raise _Unsupported(f"op {op}")
            out.append((op, av))
        return out

    # -- first character ----------------------------------------------------------------------

    def decompose(self, seq: list) -> tuple[list, list]:
        """(the class of a match's first character, the rest of the pattern after it)."""
        i = 0
        while i < len(seq) and _zero_width_before(seq[i]):
            i += 1
        first, rest = self._first(seq[i:])
        return first, [self._after_first(item, first) for item in seq[:i]] + rest

    def _after_first(self, item: tuple, first: list) -> tuple:
        """An assertion made before the first character, made just after it instead."""
        op, av = item
        if op is _k.AT:  # \b before a word character: no word character before it
            if not _only_word_characters(first):
                raise _Unsupported("\\b before a character that may not be a word character")
            return (_k.ASSERT_NOT, (-1, self.sub([(_k.IN, [(_k.CATEGORY, _k.CATEGORY_WORD)]), (_k.ANY, None)])))
        direction, p = av  # a lookbehind: it now also steps over the first character ("." never a line break here)
        if _may_be_newline(first):
            raise _Unsupported("a lookbehind before a character that may be a line break")
        return (op, (direction, self.sub([*p.data, (_k.ANY, None)])))

    def _first(self, seq: list) -> tuple[list, list]:
        if not seq:
            raise _Unsupported("a pattern that can match nothing")
        (op, av), after = seq[0], seq[1:]
        if op is _k.LITERAL:
            return [(op, av)], after
        if op is _k.IN:
            if any(item_op is _k.NEGATE for item_op, _ in av):
                raise _Unsupported("a negated class first")
            return list(av), after
        if op is _k.SUBPATTERN:
            group, add, remove, p = av
            if add or remove:
                raise _Unsupported("flags on the first group")
            first, rest = self.decompose(list(p.data))
            return first, [(op, (group, add, remove, self.sub(rest))), *after]
        if op is _k.BRANCH:
            parts = [self.decompose(list(p.data)) for p in av[1]]
            first = [item for part_first, _ in parts for item in part_first]
            alternatives = [
                self.sub([(_k.ASSERT, (-1, self.sub([(_k.IN, part_first)]))), *rest]) for part_first, rest in parts
            ]
            return first, [(_k.BRANCH, (None, alternatives)), *after]
        if op in (_k.MAX_REPEAT, _k.MIN_REPEAT, _k.POSSESSIVE_REPEAT):
            lo, hi, p = av
            if lo >= 1:
                # X{lo,hi} is X then X{lo-1,hi-1}
                left = hi if hi == _k.MAXREPEAT else hi - 1
                again = [(op, (lo - 1, left, p))] if left else []
                if len(p.data) == 1 and p.data[0][0] in (_k.LITERAL, _k.IN):
                    first, _ = self._first(list(p.data))
                    return first, [*again, *after]
                if op is _k.POSSESSIVE_REPEAT or _has_group(p):
                    raise _Unsupported("a repeated group first")
                return self.decompose([*p.data, *again, *after])
            if op is _k.POSSESSIVE_REPEAT or _has_group(p):
                raise _Unsupported("an optional group first")
            # X{0,hi} R is (X X{0,hi-1} R | R), greedy, or (R | X X{0,hi-1} R), lazy
            left = hi if hi == _k.MAXREPEAT else hi - 1
            once = [*p.data, *([(op, (0, left, p))] if left else []), *after]
            alternatives = [once, after] if op is _k.MAX_REPEAT else [after, once]
            return self._first([(_k.BRANCH, (None, [self.sub(a) for a in alternatives]))])
        raise _Unsupported(f"op {op} first")


def _zero_width_before(item: tuple) -> bool:
    op, av = item
    if op is _k.AT:
        if av is _k.AT_BOUNDARY:
            return True
        raise _Unsupported(f"anchor {av}")
    if op in (_k.ASSERT, _k.ASSERT_NOT):
        if av[0] == -1:
            return True
        raise _Unsupported("a lookahead first")
    return False


def _has_group(p) -> bool:
    for op, av in p.data:
        if op is _k.SUBPATTERN and av[0] is not None:
            return True
        subs = []
        if op is _k.SUBPATTERN:
            subs = [av[3]]
        elif op in (_k.MAX_REPEAT, _k.MIN_REPEAT, _k.POSSESSIVE_REPEAT):
            subs = [av[2]]
        elif op is _k.BRANCH:
            subs = list(av[1])
        elif op in (_k.ASSERT, _k.ASSERT_NOT):
            subs = [av[1]]
        elif op is _k.ATOMIC_GROUP:
            subs = [av]
        if any(_has_group(s) for s in subs):
            return True
    return False


def _class_chars(items: list) -> list[str] | None:
    """The characters of a class of literals and ranges (None when it holds a category)."""
    out: list[str] = []
    for op, av in items:
        if op is _k.LITERAL:
            out.append(chr(av))
        elif op is _k.RANGE:
            if av[1] - av[0] > 0x3000:
                return None
            out.extend(chr(c) for c in range(av[0], av[1] + 1))
        else:
            return None
    return out


def _only_word_characters(items: list) -> bool:
    chars = _class_chars([item for item in items if item[0] is not _k.CATEGORY])
    categories = {av for op, av in items if op is _k.CATEGORY}
    return chars is not None and categories <= {_k.CATEGORY_WORD, _k.CATEGORY_DIGIT} and all(
        re.match(r"\w", c) for c in chars
    )


def _may_be_newline(items: list) -> bool:
    chars = _class_chars([item for item in items if item[0] is not _k.CATEGORY])
    categories = {av for op, av in items if op is _k.CATEGORY}
    return chars is None or "\n" in chars or not categories <= {_k.CATEGORY_WORD, _k.CATEGORY_DIGIT}
