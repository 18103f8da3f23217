"""Small SVG charts for the HTML report, drawn by hand: no plotting library at run time.

Each function returns one ``<svg>`` element with a title for screen readers; the page
inlines it, so the report stays one self-contained file that mail clients can show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

NOW_COLOUR = "#2f6fb3"
BEFORE_COLOUR = "#b8c7d9"
TEXT_COLOUR = "#222"
FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    previous: int | None = None


def _scale(values: Sequence[int]) -> int:
    return max([1, *values])


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bars(items: Sequence[Bar], *, title: str, width: int = 560, label_width: int = 150) -> str:
    """Horizontal bars, this period's value dark with the previous period's light beneath."""
    row, pad = 26, 4
    top = max(
        [1, *(b.value for b in items), *(b.previous or 0 for b in items)],
    )
    room = width - label_width - 50
    body: list[str] = []
    for n, bar in enumerate(items):
        y = pad + n * row
        body.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" fill="{TEXT_COLOUR}" '
            f"{FONT}>{escape(bar.label)}</text>"
        )
        if bar.previous is not None:
            span = round(room * bar.previous / top)
            body.append(
                f'<rect x="{label_width}" y="{y + 12}" width="{span}" height="6" '
                f'fill="{BEFORE_COLOUR}"/>'
            )
        span = round(room * bar.value / top)
        body.append(
            f'<rect x="{label_width}" y="{y + 2}" width="{span}" height="10" fill="{NOW_COLOUR}"/>'
        )
        body.append(
            f'<text x="{label_width + span + 4}" y="{y + 12}" fill="{TEXT_COLOUR}" '
            f"{FONT}>{bar.value}</text>"
        )
    return _svg(width, pad * 2 + row * max(1, len(items)), title, body)


def columns(items: Sequence[Bar], *, title: str, width: int = 560, height: int = 160) -> str:
    """Vertical columns (one per day), with the value above each and the label below."""
    base, head = height - 22, 16
    top = _scale([b.value for b in items])
    slot = width / max(1, len(items))
    body: list[str] = [
        f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="{BEFORE_COLOUR}"/>'
    ]
    every = 1 if len(items) <= 10 else 5  # a month's labels would overlap
    for n, bar in enumerate(items):
        x = n * slot
        tall = round((base - head) * bar.value / top)
        body.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{base - tall}" width="{slot * 0.7:.1f}" '
            f'height="{tall}" fill="{NOW_COLOUR}"/>'
        )
        middle = f"{x + slot / 2:.1f}"
        if bar.value:
            body.append(
                f'<text x="{middle}" y="{base - tall - 3}" text-anchor="middle" '
                f'fill="{TEXT_COLOUR}" {FONT}>{bar.value}</text>'
            )
        if n % every == 0:
            body.append(
                f'<text x="{middle}" y="{height - 6}" text-anchor="middle" '
                f'fill="{TEXT_COLOUR}" {FONT}>{escape(bar.label)}</text>'
            )
    return _svg(width, height, title, body)
