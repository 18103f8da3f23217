"""Writing a report as a self-contained HTML page (inline CSS and SVG), plain text or JSON,
in French or English. Pure: the same report always gives the same bytes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from services.router.reports import charts
from services.router.reports.model import Count, Report
from services.router.reports.words import LANGUAGES, WORDS, duration, label_word

TEMPLATES = Path(__file__).parent / "templates"
# Rows of a table listing cases, in HTML and text: an e-mail stays small (and a Kafka record
# far under its size limit) in the worst month; JSON lists every case.
MAX_ROWS = 50


class Format(StrEnum):
    HTML = "html"
    JSON = "json"
    TEXT = "text"


MEDIA_TYPES = {
    Format.HTML: "text/html; charset=utf-8",
    Format.JSON: "application/json",
    Format.TEXT: "text/plain; charset=utf-8",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def title(report: Report, lang: str) -> str:
    return WORDS[lang]["title_week" if report.period == "week" else "title_month"]


def subject(report: Report, lang: str) -> str:
    """The e-mail subject: the report's title and its days."""
    return f"{title(report, lang)} · {report.first_day.isoformat()} – {report.last_day.isoformat()}"


def _bars(counts: tuple[Count, ...], lang: str, *, labels: bool = False) -> list[charts.Bar]:
    return [
        charts.Bar(label_word(c.key, lang) if labels else c.key, c.count, c.previous)
        for c in counts
    ]


def _when(value: datetime, report: Report) -> str:
    return value.astimezone(report.start.tzinfo).strftime("%Y-%m-%d %H:%M")


def _context(report: Report, lang: str, *, svg: bool) -> dict[str, Any]:
    w = WORDS[lang]
    values: dict[str, Any] = {
        "lang": lang,
        "w": w,
        "r": report,
        "title": title(report, lang),
        "signed": _signed,
        "duration": lambda s: duration(s, lang),
        "when": lambda v: _when(v, report) if v is not None else "—",
        "label": lambda k: label_word(k, lang),
        "limit": MAX_ROWS,
        "more": lambda rows: (
            w["more"].format(n=len(rows) - MAX_ROWS) if len(rows) > MAX_ROWS else ""
        ),
    }
    if svg:
        values["charts"] = {
            "daily": Markup(
                charts.columns(
                    [charts.Bar(d.day.strftime("%d/%m"), d.count) for d in report.daily],
                    title=w["daily"],
                )
            ),
            "platform": Markup(
                charts.bars(_bars(report.by_platform, lang), title=w["by_platform"])
            ),
            "label": Markup(
                charts.bars(_bars(report.by_label, lang, labels=True), title=w["by_label"])
            ),
        }
    return values


def render(report: Report, *, fmt: Format, lang: str = "en") -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang: one of {', '.join(LANGUAGES)}, not {lang!r}")
    if fmt is Format.JSON:
        return report.model_dump_json(indent=2)
    name = "report.html.j2" if fmt is Format.HTML else "report.txt.j2"
    template = _environment().get_template(name)
    return template.render(**_context(report, lang, svg=fmt is Format.HTML)).strip() + "\n"
