"""Hostile headers, paths and queries for webhook requests.

A request starts as the platform would send it (signed, right content type) and loses or
gains one thing at a time: the signature gone, malformed, repeated or made for another body,
a stale or nonsense timestamp, an odd content type or encoding, a strange route parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import strategies as st

from services.ingest.adapters.base import Adapter
from tests import ingest_harness as h
from tests.webhook_fixtures import Fixture

Header = tuple[str, bytes]


@dataclass(frozen=True)
class Request:
    """One webhook POST: headers as a list, so that a header may appear twice."""

    path: str
    body: bytes
    headers: list[Header]
    query: dict[str, str] = field(default_factory=dict)


def signed(fixture: Fixture, body: bytes, now: datetime) -> list[Header]:
    sent = h.signed_headers(Fixture(**{**fixture.__dict__, "body": body}), now)
    return [(k.lower(), v.encode()) for k, v in sent.items()]


def request(adapter: Adapter, fixture: Fixture, body: bytes, now: datetime) -> Request:
    return Request(h.url_of(fixture, adapter.path), body, signed(fixture, body, now))


def odd_texts() -> st.SearchStrategy[bytes]:
    """Header values: latin-1 bytes (what HTTP allows), some very long, some empty."""
    return st.sampled_from([b"", b" ", b"\xff\xfe", b"x" * 8000, b"null", b"sha256="]) | st.binary(
        max_size=100
    ).map(lambda b: bytes(c for c in b if c not in (0, 10, 13)))


CONTENT_TYPES = (
    b"",
    b"application/json; charset=utf-8",
    b"APPLICATION/JSON",
    b"application/json; charset=latin-1",
    b"application/json;;;",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/xml",
    b"text/xml; charset=utf-16",
    b"*/*",
    b"application/json, text/plain",
)


@st.composite
def hostile_headers(
    draw: st.DrawFn, fixture: Fixture, signature_header: str, body: bytes, now: datetime
) -> list[Header]:
    """The signed headers of ``body`` with one to three things wrong."""
    headers = signed(fixture, body, now)
    names = [name for name, _ in headers]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        how = draw(
            st.sampled_from(
                [
                    "drop",
                    "replace",
                    "duplicate",
                    "other_body",
                    "clock",
                    "content_type",
                    "encoding",
                    "extra",
                    "signature",
                ]
            )
        )
        if how == "drop" and headers:
            victim = draw(st.sampled_from([n for n, _ in headers]))
            headers = [(n, v) for n, v in headers if n != victim]
        elif how == "replace" and names:
            victim = draw(st.sampled_from(names))
            value = draw(odd_texts())
            headers = [(n, value if n == victim else v) for n, v in headers]
        elif how == "duplicate" and headers:
            extra = draw(st.sampled_from(headers))
            headers.insert(draw(st.integers(0, len(headers))), (extra[0], draw(odd_texts())))
        elif how == "other_body":
            headers = [(n, v) for n, v in headers if n not in names] + signed(
                fixture, body + b" ", now
            )
        elif how == "clock":
            shift = draw(st.sampled_from([-1, 1])) * draw(st.integers(301, 10**9))
            moved = now + timedelta(seconds=shift)
            headers = [(n, v) for n, v in headers if n not in names] + signed(fixture, body, moved)
        elif how == "content_type":
            headers = [(n, v) for n, v in headers if n != "content-type"]
            headers.append(("content-type", draw(st.sampled_from(CONTENT_TYPES))))
        elif how == "encoding":
            value = draw(st.sampled_from([b"gzip", b"deflate", b"br", b"identity", b"x-nope"]))
            headers.append(("content-encoding", value))
        elif how == "extra":
            name = draw(st.from_regex(r"\Ax-[a-z0-9-]{1,30}\Z"))
            headers.append((name, draw(odd_texts())))
        else:
            value = draw(
                st.sampled_from(
                    [
                        b"sha256=",
                        b"sha256=" + b"0" * 64,
                        b"sha256=" + b"zz" * 32,
                        b"SHA256=" + b"a" * 63,
                        b"sha1=" + b"0" * 40,
                        b"v0=" + b"0" * 64,
                        b"=" * 100,
                        b"md5=abc",
                        b"sha256=" + b"0" * 100000,
                    ]
                )
            )
            headers = [(n, v) for n, v in headers if n != signature_header.lower()]
            headers.append((signature_header.lower(), value))
    return headers


SOURCES = st.sampled_from(["", ".", "..", "a" * 300, "%00", "x y", "é", "a/b", "-"]) | st.text(
    max_size=40
)
