"""Fast whole-text scans for many regular expressions at once, grouped by their first letter, and
the text those scans read (long runs of blanks broken up: see bounded_blanks).

Shared by the prefilter (pipeline/nlp/rules.py), the Analyzer and exam detection (pipeline/exams.py);
no spaCy here.
"""

from __future__ import annotations

import re


def top_alternatives(pattern: str) -> list[str] | None:
    """A regex's top-level alternatives, or None when the pattern is too intricate to split safely."""
    out, current, depth, in_class, escaped = [], [], 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
    out.append("".join(current))
    return None if depth or in_class or escaped else out


def first_letter_scan(
    triggers: list[str],
) -> tuple[re.Pattern[str], dict[str, tuple[int, ...]], list[int] | None]:
    """The trigger scan grouped by first letter, which triggers can start with each letter, and
    the trigger of each of the scan's groups (by group number).

    An alternative that does not start with a plain letter or digit (or whose second character
    is a quantifier) is kept whole, at the end, and its trigger is tried at any position ("").

    Each alternative ends with an empty named group of its own, so a match's `lastindex` (the
    group closed last) tells which trigger matched. (Wrapping the alternatives in groups
    instead was five times slower: the engine no longer checks an alternative's first letter
    before trying it.) That is the trigger `_which` finds (the
    lowest-numbered that matches there) when every alternative starts with a plain letter: the
    alternatives of one letter keep the triggers' order, and alternatives of different letters
    cannot match at the same place. When some cannot be grouped, the numbers are None and
    `_which` finds the trigger.
    """
    groups: dict[str, list[str]] = {}
    others: list[str] = []
    starts: dict[str, list[int]] = {"": []}
    for i, trigger in enumerate(triggers):
        alternatives = top_alternatives(trigger) or [trigger]
        for alt in alternatives:
            first, rest = alt[:1], alt[1:]
            name = f"_t{i}_{sum(map(len, groups.values())) + len(others)}"  # unique: one per alternative
            if first.isascii() and first.isalnum() and rest[:1] not in ("*", "+", "?", "{") and alternatives != [""]:
                groups.setdefault(first, []).append(f"{rest}(?P<{name}>)")
                if i not in starts.setdefault(first, []):
                    starts[first].append(i)
            else:
                others.append(f"(?:{alt})(?P<{name}>)")
                starts[""].append(i)
    parts = [f"{first}(?:{'|'.join(rests)})" for first, rests in groups.items()]
    parts += others
    by_first = {first: tuple(sorted(set(found) | set(starts[""]))) for first, found in starts.items()}
    scan = re.compile("|".join(parts))
    numbers = None
    if not others:
        numbers = [-1] * (scan.groups + 1)
        for name, index in scan.groupindex.items():
            if name.startswith("_t"):
                numbers[index] = int(name[2:].split("_")[0])
    return scan, by_first, numbers


#: A run of blanks (spaces, tabs, line breaks) longer than this is broken up for the scans. Rule
#: patterns such as "type\s*-?\s*[123]" or "s1(?!\s*,?\s*s2)" try every way of sharing a run of
#: blanks between their two "\s*": their work grows with the square of the run ("modic type"
#: before 80,000 spaces took 66 s). No normal report comes near this (the longest run in the
#: samples is 16 blanks, in the real reports 10).
MAX_BLANK_RUN = 100
#: What stands every MAX_BLANK_RUN + 1 characters in a longer run: no pattern takes it for a blank.
BLANK_BREAK = "\x00"
# the start of a longer run: a blank after none (found from the blank, so the search skips ahead)
_LONG_BLANK_RUN = re.compile(rf"\s(?<!\s\s)\s{{{MAX_BLANK_RUN}}}")
_BLANKS = re.compile(r"\s*")


def bounded_blanks(text: str) -> str:
    """`text` with every MAX_BLANK_RUN + 1-th character of a longer run of blanks replaced by
    BLANK_BREAK: the same length and offsets, and no run of blanks longer than MAX_BLANK_RUN.
    The text itself (no copy) when it has no such run, as a normal report has not."""
    found = _LONG_BLANK_RUN.search(text)
    if found is None:
        return text
    out: list[str] = []
    pos = 0
    step = MAX_BLANK_RUN + 1
    while found is not None:
        start = found.start()
        rest = _BLANKS.match(text, found.end())  # the rest of the run
        end = rest.end() if rest else found.end()
        out.append(text[pos:start])
        out.append(BLANK_BREAK.join(text[i : min(i + MAX_BLANK_RUN, end)] for i in range(start, end, step)))
        if (end - start) % step == 0:
            out.append(BLANK_BREAK)  # the run's last character was one to replace
        pos = end
        found = _LONG_BLANK_RUN.search(text, end)
    out.append(text[pos:])
    return "".join(out)
