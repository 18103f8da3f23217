"""The report as HTML (self-contained, escaped, with its charts), text and JSON, in French
and English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.router.reports.charts import Bar, bars, columns
from services.router.reports.model import Report
from services.router.reports.render import Format, render, subject
from services.router.reports.words import duration
from tests.unit.router.test_report_aggregate import at, case, comment, report


def sample() -> Report:
    return report(
        [
            comment(at(0), "Quand commence le programme de yoga ?", "question"),
            comment(at(1), "Le programme de yoga <script>alert(1)</script>", "question"),
            comment(
                at(2), "Merci <b>@lea</b> pour ce programme génial <3 & plus", "praise", score=1
            ),
            comment(at(-1), "rien", platform="x"),
        ],
        [case("11111111-aaaa", ack_after=3), case("22222222-bbbb", ack_after=None)],
    )


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Vigie weekly report", "Crisis cases", "Missed deadlines", "Praise highlights"]),
        ("fr", ["rapport hebdomadaire", "Cas de crise", "Délais dépassés", "Messages positifs"]),
    ],
)
def test_html_is_one_self_contained_page_in_the_language_asked(lang: str, words: list[str]) -> None:
    page = render(sample(), fmt=Format.HTML, lang=lang)
    assert page.startswith("<!doctype html>") and f'<html lang="{lang}">' in page
    for word in words:
        assert word in page
    assert page.count("<svg") == 3  # per day, per platform, per label
    # Nothing to fetch: no script, no external stylesheet or image.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)


def test_html_escapes_what_comments_say() -> None:
    page = render(sample(), fmt=Format.HTML, lang="en")
    assert "Merci pour ce programme génial &lt;3 &amp; plus" in page
    assert "&lt;b&gt;" not in page and "@lea" not in page  # markup and handles dropped


def test_text_and_html_carry_the_same_figures() -> None:
    made = sample()
    text = render(made, fmt=Format.TEXT, lang="en")
    assert f"Comments: {made.comments.count} (+2 / previous period)" in text
    assert f"Crisis cases: {made.crisis.cases}, Acknowledged: {made.crisis.acknowledged}" in text
    assert "Median time to acknowledge: 3 min" in text
    assert "22222222 " in text and "still not acknowledged" in text
    assert "« Merci pour ce programme génial <3 & plus »" in text  # text is not escaped


def test_json_round_trips() -> None:
    made = sample()
    assert Report.model_validate_json(render(made, fmt=Format.JSON)) == made


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="lang"):
        render(sample(), fmt=Format.HTML, lang="de")


def test_the_subject_names_the_days() -> None:
    assert subject(sample(), "fr") == "Vigie — rapport hebdomadaire · 2026-11-09 – 2026-11-15"


@pytest.mark.parametrize(
    ("seconds", "lang", "shown"),
    [
        (None, "en", "—"),
        (42.4, "en", "42 s"),
        (60 * 12 + 5, "en", "12 min"),
        (3600 * 3 + 60 * 5, "fr", "3 h 05"),
        (3600 * 52, "en", "2 d 4 h"),
        (3600 * 52, "fr", "2 j 4 h"),
    ],
)
def test_durations_read_naturally(seconds: float | None, lang: str, shown: str) -> None:
    assert duration(seconds, lang) == shown


def test_bars_scale_to_the_largest_value_of_either_period() -> None:
    svg = bars([Bar("a&b", 10, 20), Bar("c", 5, 0)], title="t<")
    widths = [int(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', svg)]
    # previous a (20) is the longest; a now (10) half of it; c now (5) a quarter.
    assert widths[0] == 2 * widths[1] == 4 * widths[3]
    assert "a&amp;b" in svg and "t&lt;" in svg


def test_columns_draw_one_bar_per_day_and_survive_an_empty_period() -> None:
    days = [Bar(f"{n:02d}", n % 3) for n in range(30)]
    svg = columns(days, title="days")
    assert svg.count("<rect") == 30
    assert columns([Bar("01", 0)], title="days").count("<rect") == 1


def test_breached_cases_show_how_late() -> None:
    late = report([], [case("33333333-late", ack_after=65)])
    text = render(late, fmt=Format.TEXT, lang="fr")
    assert "Retard 1 h 00" in text
    assert late.ack_breaches[0].late_by_s == timedelta(hours=1).total_seconds()


@pytest.mark.parametrize(
    ("fmt", "lang", "note"),
    [(Format.HTML, "en", "… and 10 more"), (Format.TEXT, "fr", "… et 10 de plus")],
)
def test_long_case_lists_are_cut_in_html_and_text_but_not_in_json(
    fmt: Format, lang: str, note: str
) -> None:
    many = report([], [case(f"{n:08d}-late", opened=n, ack_after=None) for n in range(60)])
    shown = render(many, fmt=fmt, lang=lang)
    assert shown.count("00000049") == 2  # the 50th case: in both lists
    assert "00000050" not in shown
    assert shown.count(note) == 2  # under the crisis cases and under the missed deadlines
    assert len(Report.model_validate_json(render(many, fmt=Format.JSON)).crisis.timings) == 60
