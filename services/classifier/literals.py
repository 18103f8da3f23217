"""The plain texts a regular expression cannot match without: a cheap filter before it runs.

Most comments fire no cue and hold no praise word; checking a few substrings with ``in``
costs far less than running an alternation that the regular-expression engine tries at
every position of the text.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[\w '-]+")


def _alternatives(body: str) -> tuple[str, ...]:
    """The alternatives of a group body when each one is plain text, else ()."""
    parts = body.split("|")
    return tuple(parts) if all(_PLAIN.fullmatch(part) for part in parts) else ()


def required_literals(pattern: str) -> tuple[str, ...]:
    """Plain texts of which every match of ``pattern`` contains at least one; () if unsure.

    A cheap filter: a cue none of whose literals is in the text cannot match, so its regular
    expression is not run (most comments fire no cue). Only plain characters and groups of
    plain alternatives outside any quantifier count; a top-level alternation gives ().
    """
    candidates: list[tuple[str, ...]] = []
    run, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        following = pattern[i + 1] if i + 1 < len(pattern) else ""
        if char == "(":
            depth, j = 1, i + 1
            while depth and j < len(pattern):
                depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                j += 1
            quantifier = pattern[j] if j < len(pattern) else ""
            options = _alternatives(pattern[i + 1 : j - 1])
            if options and quantifier not in ("?", "*", "{"):
                candidates.append(options)
            candidates.append((run,))
            run, i = "", j
            continue
        if char == "|":
            return ()
        if char.isalnum() or char in " '-":
            if following in ("?", "*", "{"):
                candidates.append((run,))
                run = ""
            else:
                run += char
        else:
            candidates.append((run,))
            run = ""
            if char == "\\":
                i += 1
            elif char == "[":
                i = pattern.index("]", i + 1)
        i += 1
    candidates.append((run,))
    usable = [c for c in candidates if all(c)]
    return max(usable, key=lambda c: min(len(part) for part in c), default=())


def _split_top_level(body: str) -> tuple[list[str], int]:
    """``body`` split at each ``|`` outside groups and classes, and where its depth ends.

    The second value is the index at which a ``)`` closes a group opened before ``body``
    (``len(body)`` if none does): the parts stop there.
    """
    parts, depth, start, i = [], 0, 0, 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = body.index("]", i + 2)
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:i])
    return parts, i


def alternation_literals(pattern: str) -> tuple[str, ...]:
    """For a word list ``\\b(alt|alt|...)\\b``: the union of each alternative's literals.

    () when the pattern has another shape or when one alternative has no literal, so that a
    filter built on it is never wrong: every match contains one of the literals returned.
    """
    prefix, suffix = "\\b(", ")\\b"
    if not (pattern.startswith(prefix) and pattern.endswith(suffix)):
        return ()
    body = pattern[len(prefix) :]
    alternatives, end = _split_top_level(body)
    if end != len(body) - len(suffix):  # the outer group closes before the end
        return ()
    found: list[str] = []
    for alternative in alternatives:
        literals = required_literals(alternative)
        if not literals:
            return ()
        found.extend(literals)
    return tuple(dict.fromkeys(found))
