"""Hypothesis strategies that turn a documented webhook into a hostile one.

JSON bodies are mutated as trees (a node dropped, replaced, retyped, nested deep, made huge)
and written with raw tokens that ``json.dumps`` cannot produce (integers past Python's digit
limit, ``1e999``, lone surrogates, thousands of nested arrays). XML bodies get their elements
dropped, their text replaced and declarations the parser must refuse. Any body can also be
cut short or replaced by bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

# Values that JSON allows and parsers get wrong: written as they are, not through json.dumps.
RAW_TOKENS = (
    "1" + "0" * 5000,  # more digits than int() accepts
    "-" + "9" * 400,
    "1e999",  # inf
    "-1e999",
    "NaN",
    "Infinity",
    "-0",
    "1.7976931348623157e309",
    "9223372036854775808",
    "18446744073709551616",
    "0.0000000000000000000000001",
    '"\\ud800"',  # a lone surrogate
    '"\\udfff\\ud800x"',
    '"\\u0000"',
    '"a\\u202eb"',  # right-to-left override
    '"' + "\\u00e9" * 3000 + '"',
    "[" * 3000 + "]" * 3000,  # deeper than the parser recurses
    '{"a":' * 2000 + "1" + "}" * 2000,
    "[" * 90 + "]" * 90,
    '{"__proto__": {"admin": true}}',
    '{"id": 1, "id": "2"}',  # a repeated key
)

_MARK = "\x00raw:"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "0", "-1", "null", "true", "\u200b", "😀" * 20, "x" * 5000])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every node's path in a JSON tree, the root first."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, (*prefix, index))


_DROP = object()


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``data`` with the node at ``path`` replaced by ``value`` (removed when ``_DROP``)."""
    if not path:
        return {} if value is _DROP else value
    head, rest = path[0], path[1:]
    if isinstance(data, dict) and head in data:
        if not rest and value is _DROP:
            return {k: v for k, v in data.items() if k != head}
        return {**data, head: replaced(data[head], rest, value)}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        if not rest and value is _DROP:
            return data[:head] + data[head + 1 :]
        return [replaced(v, rest, value) if i == head else v for i, v in enumerate(data)]
    return data


def node(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def retyped(value: Any) -> list[Any]:
    """The same value in other JSON types: what a client that confuses types would send."""
    if isinstance(value, bool):
        return [str(value).lower(), int(value), [value]]
    if isinstance(value, int | float):
        return [str(value), [value], {"value": value}, value is not None]
    if isinstance(value, str):
        as_int = [int(value)] if value.isascii() and value.isdigit() and len(value) < 300 else []
        return [*as_int, [value], {"id": value}, len(value), None]
    if isinstance(value, list):
        return [value[0] if value else None, {"0": value}, json.dumps(value)]
    if isinstance(value, dict):
        return [list(value.values()), json.dumps(value), None]
    return [0, "", [], {}]


# Characters that text fields must survive: NUL (PostgreSQL text cannot hold it), a lone
# surrogate (UTF-8 cannot), controls, a BOM, bidirectional overrides, a combining mark.
ODD_CHARACTERS = ("\x00", "\ud800", "\x1b", "\ufeff", "\u202e", "\u0301", "\r\n", "\U0010ffff")


@st.composite
def mutated_json(draw: st.DrawFn, original: Any) -> bytes:
    """``original`` with one to three nodes changed; may hold raw tokens."""
    tokens: list[str] = []
    data = original
    # Mostly one change, so that the rest of the payload stays valid and reaches the events.
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(list(paths(data))))
        how = draw(st.sampled_from(["drop", "value", "retype", "raw", "nest", "wrap_list"] * 2))
        if draw(st.integers(0, 3)) == 0:
            how = "character"
        current = node(data, path)
        if how == "character":
            texts = [q for q in paths(data) if isinstance(node(data, q), str)]
            if texts:
                path = draw(st.sampled_from(texts))
                text = node(data, path)
                at = draw(st.integers(min_value=0, max_value=len(text)))
                odd = draw(st.sampled_from(ODD_CHARACTERS))
                data = replaced(data, path, text[:at] + odd + text[at:])
            continue
        if how == "drop":
            data = replaced(data, path, _DROP)
            continue
        if how == "value":
            value: Any = draw(json_values)
        elif how == "retype":
            value = draw(st.sampled_from(retyped(current)))
        elif how == "raw":
            tokens.append(draw(st.sampled_from(RAW_TOKENS)))
            value = f"{_MARK}{len(tokens) - 1}"
        elif how == "nest":
            value = current
            for _ in range(draw(st.integers(min_value=2, max_value=200))):
                value = [value]
        else:
            value = [current, current]
        data = replaced(data, path, value)
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    for index, token in enumerate(tokens):
        text = text.replace(json.dumps(f"{_MARK}{index}"), token)
    return text.encode("utf-8", "surrogatepass")


XML_SNIPPETS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<?xml-stylesheet href="http://127.0.0.1:9/x.xsl"?>',
    "<![CDATA[<not a tag>]]>",
    "&undefined;",
    "\x01\x02",
    "<a>" * 2000 + "</a>" * 2000,
)


@st.composite
def mutated_xml(draw: st.DrawFn, original: bytes) -> bytes:
    """The feed with an element dropped or rewritten, or a declaration slipped in."""
    if draw(st.booleans()):
        text = original.decode()
        at = draw(st.integers(min_value=0, max_value=len(text)))
        return (text[:at] + draw(st.sampled_from(XML_SNIPPETS)) + text[at:]).encode()
    root = ET.fromstring(original)
    elements = list(root.iter())
    target = draw(st.sampled_from(elements))
    how = draw(st.sampled_from(["text", "drop", "attribute", "children"]))
    if how == "text":
        target.text = draw(st.text(max_size=60) | st.sampled_from(["", "x" * 5000, "UCxyz"]))
    elif how == "drop":
        for parent in elements:
            if target in list(parent):
                parent.remove(target)
                break
    elif how == "attribute":
        target.set(
            draw(st.sampled_from(["href", "rel", "type", "ref"])), draw(st.text(max_size=60))
        )
    else:
        for _ in range(draw(st.integers(min_value=1, max_value=50))):
            ET.SubElement(target, target.tag).text = draw(st.text(max_size=10))
    try:
        return bytes(ET.tostring(root, encoding="utf-8"))
    except ValueError:  # a text hypothesis drew that XML cannot hold
        return original


@st.composite
def raw_body(draw: st.DrawFn, original: bytes) -> bytes:
    """Bytes a broken client sends: cut short, not UTF-8, another encoding, or noise."""
    how = draw(st.sampled_from(["truncated", "bad_utf8", "utf16", "bom", "noise", "empty", "big"]))
    if how == "truncated":
        return original[: draw(st.integers(min_value=0, max_value=max(0, len(original) - 1)))]
    if how == "bad_utf8":
        at = draw(st.integers(min_value=0, max_value=len(original)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        return original[:at] + junk + original[at:]
    if how == "utf16":
        return original.decode("utf-8", "replace").encode("utf-16")
    if how == "bom":
        return b"\xef\xbb\xbf" + original
    if how == "empty":
        return b""
    if how == "big":
        return original + b" " * draw(st.integers(min_value=60 * 1024, max_value=70 * 1024))
    return draw(st.binary(max_size=2048))
