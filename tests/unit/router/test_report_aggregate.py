"""The report's numbers from hand-made facts: volumes, crisis timings, deadlines missed,
questions, topics and praise, with no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.router.reports.aggregate import (
    ack_breaches,
    answer_breaches,
    build,
    excerpt,
    is_crisis,
    median,
    p90,
    praise,
    questions,
    timing,
)
from services.router.reports.facts import CaseFact, CommentFact, Facts
from services.router.reports.model import Report
from services.router.reports.period import Period, PeriodKind, ending

PERIOD = ending(PeriodKind.WEEK, date(2026, 11, 15), "Europe/Paris")  # 9..15 November
START = PERIOD.start
BEFORE = PERIOD.previous().start
AFTER = PERIOD.end + timedelta(hours=8)  # when the Monday report is made
DEADLINES = {"crisis": timedelta(minutes=5)}


def at(days: float = 0, minutes: float = 0) -> datetime:
    return START + timedelta(days=days, minutes=minutes)


def comment(
    when: datetime,
    text: str = "",
    *labels: str,
    platform: str = "facebook",
    score: float = 0.0,
) -> CommentFact:
    return CommentFact(
        platform=platform, received_at=when, text=text, labels=labels, praise_score=score
    )


def case(
    name: str,
    *,
    opened: float = 0,  # minutes after the period's start
    severity: str = "critical",
    labels: tuple[str, ...] = ("sensitive",),
    chain: str | None = "crisis",
    paging_after: float | None = 0,  # minutes after opening
    ack_after: float | None = None,
    resolved_after: float | None = None,
    answer_after: float | None = None,  # answer deadline, minutes after opening
) -> CaseFact:
    opened_at = at(minutes=opened)

    def later(minutes: float | None) -> datetime | None:
        return None if minutes is None else opened_at + timedelta(minutes=minutes)

    return CaseFact(
        id=name,
        opened_at=opened_at,
        severity=severity,
        labels=labels,
        route="crisis" if chain else "questions",
        status="open",
        acknowledged_at=later(ack_after),
        resolved_at=later(resolved_after),
        answer_due_at=later(answer_after),
        chain=chain,
        paging_from=later(paging_after),
    )


def report(
    comments: list[CommentFact],
    cases: list[CaseFact] | None = None,
    *,
    names: frozenset[str] = frozenset(),
    period: Period = PERIOD,
) -> Report:
    facts = Facts(
        start=period.start,
        end=period.end,
        previous_start=period.previous().start,
        comments=tuple(comments),
        cases=tuple(cases or ()),
        author_names=names,
        ack_deadlines=DEADLINES,
    )
    return build(facts, period, now=AFTER)


def test_volumes_by_platform_and_label_against_the_previous_period() -> None:
    made = report(
        [
            comment(at(0), "", "question", platform="facebook"),
            comment(at(1), "", "question", "praise", platform="facebook"),
            comment(at(2), "", platform="x"),
            comment(at(-1), "", "abusive", platform="x"),  # previous week
            comment(at(-3), "", "abusive", platform="x"),
            comment(at(-8), "", "abusive", platform="x"),  # before the previous week: out
            comment(at(7), "", "abusive", platform="x"),  # the week after: out
        ]
    )
    assert (made.comments.count, made.comments.previous, made.comments.change) == (3, 2, 1)
    platforms = {c.key: (c.count, c.previous, c.change) for c in made.by_platform}
    assert platforms == {"facebook": (2, 0, 2), "x": (1, 2, -1)}
    labels = {c.key: (c.count, c.previous) for c in made.by_label}
    assert labels == {
        "question": (2, 0),
        "praise": (1, 0),
        "none": (1, 0),
        "abusive": (0, 2),
        "sensitive": (0, 0),
    }
    assert [c.key for c in made.by_platform] == ["facebook", "x"]  # most first


def test_comments_count_on_their_local_day() -> None:
    # 23:30 UTC on Sunday 8 November is 00:30 on Monday 9 in Paris: the period's first day.
    sunday_night_utc = datetime.fromisoformat("2026-11-08T23:30:00+00:00")
    made = report([comment(sunday_night_utc), comment(at(6, 60 * 23 + 30))])
    days = {d.day: d.count for d in made.daily}
    assert len(days) == 7
    assert days[date(2026, 11, 9)] == 1 and days[date(2026, 11, 15)] == 1
    assert sum(days.values()) == made.comments.count == 2


@pytest.mark.parametrize(
    ("severity", "labels", "crisis"),
    [
        ("critical", (), True),
        ("high", ("sensitive",), True),
        ("low", ("sensitive", "question"), True),
        ("high", ("abusive",), False),
        ("none", ("question",), False),
    ],
)
def test_what_a_crisis_case_is(severity: str, labels: tuple[str, ...], crisis: bool) -> None:
    assert is_crisis(case("c", severity=severity, labels=labels)) is crisis


@pytest.mark.parametrize(
    ("fact", "time_to_ack_s", "deadline_s", "breached"),
    [
        # The chain pages from opening; its first wait is 5 minutes.
        (case("on-time", ack_after=3), 180.0, 300.0, False),
        (case("just-in-time", ack_after=5), 300.0, 300.0, False),
        (case("late", ack_after=7), 420.0, 300.0, True),
        # group_wait held the first page back a minute: the deadline moves with it.
        (case("waited", paging_after=1, ack_after=5.5), 330.0, 360.0, False),
        (case("never", ack_after=None), None, 300.0, True),
        (case("no-chain", chain=None, ack_after=30), 1800.0, None, None),
        (case("unknown-chain", chain="gone", ack_after=30), 1800.0, None, None),
    ],
)
def test_time_to_acknowledge_against_the_chains_first_wait(
    fact: CaseFact, time_to_ack_s: float | None, deadline_s: float | None, breached: bool | None
) -> None:
    found = timing(fact, DEADLINES, AFTER)
    assert (found.time_to_ack_s, found.deadline_s, found.breached) == (
        time_to_ack_s,
        deadline_s,
        breached,
    )


def test_an_unacknowledged_case_is_late_only_once_its_deadline_passed() -> None:
    fresh = case("fresh", opened=60)
    assert timing(fresh, DEADLINES, at(minutes=62)).breached is False
    assert timing(fresh, DEADLINES, at(minutes=66)).breached is True


@pytest.mark.parametrize(
    ("values", "middle", "ninetieth"),
    [
        ([], None, None),
        ([42.0], 42.0, 42.0),
        ([10.0, 20.0], 15.0, 20.0),
        ([float(60 * n) for n in range(10, 0, -1)], 330.0, 540.0),
        ([float(n) for n in range(1, 21)], 10.5, 18.0),
    ],
)
def test_median_and_nearest_rank_p90(
    values: list[float], middle: float | None, ninetieth: float | None
) -> None:
    assert (median(values), p90(values)) == (middle, ninetieth)


def test_crisis_section_and_breaches() -> None:
    cases = [
        case("a", ack_after=2),
        case("b", ack_after=4),
        case("c", ack_after=9),
        case("d", ack_after=None),
        case("abuse", severity="high", labels=("abusive",), ack_after=12),  # not crisis
        case("q", severity="none", labels=("question",), chain=None, answer_after=60),
    ]
    made = report([], cases)
    assert made.cases_opened == 6
    assert made.crisis.cases == 4 and made.crisis.acknowledged == 3
    assert made.crisis.median_ack_s == 240.0 and made.crisis.p90_ack_s == 540.0
    assert [t.case_id for t in made.crisis.timings] == ["a", "b", "c", "d"]
    # Every case with a deadline is judged, crisis or not.
    late = {b.case_id: b.late_by_s for b in made.ack_breaches}
    assert late == {"c": 240.0, "d": None, "abuse": 420.0}
    # At 3 minutes, nobody's deadline is over yet.
    assert ack_breaches([case("d", ack_after=None)], DEADLINES, at(minutes=3)) == []


def test_questions_answered_pending_and_late() -> None:
    def question(name: str, *, due: float, resolved: float | None) -> CaseFact:
        return case(
            name,
            severity="none",
            labels=("question",),
            chain=None,
            answer_after=due,
            resolved_after=resolved,
        )

    cases = [
        question("on-time", due=240, resolved=30),
        question("late", due=240, resolved=300),
        question("overdue", due=240, resolved=None),
        case("waiting", opened=60 * 24 * 7 - 10, labels=("question",), answer_after=240),
        case("not-queued", labels=("question",), chain=None),
    ]
    now = at(7, 0)  # the period's end: "waiting" is due in four hours
    assert questions(cases, now).model_dump() == {
        "queued": 4,
        "answered": 2,
        "answered_late": 1,
        "pending": 2,
        "pending_overdue": 1,
    }
    found = {b.case_id: b.answered_at for b in answer_breaches(cases, now)}
    assert found == {"late": at(minutes=300), "overdue": None}


def test_topics_leave_out_sensitive_comments_stop_words_and_author_names() -> None:
    made = report(
        [
            comment(at(1), "Le nouveau programme de yoga est génial"),
            comment(at(2), "Programme de yoga trop dur pour moi, Camille"),
            comment(at(3), "le programme de yoga du matin, yoga yoga yoga"),
            comment(at(3), "je veux mourir, programme de yoga ou pas", "sensitive"),
            comment(at(-2), "programme de yoga ? rien compris"),
            comment(at(-3), "l'appli plante"),
        ],
        names=frozenset({"Camille Martin"}),
    )
    topics = {t.term: (t.count, t.previous, t.change) for t in made.topics}
    # "yoga" counts once per comment; the sensitive comment is nobody's topic.
    assert topics["yoga"] == (3, 1, 2)
    assert topics["programme"] == (3, 1, 2)
    assert not {"le", "de", "pour", "moi", "mourir", "camille"} & set(topics)
    # A pair is a topic too, and in no period's counts does the sensitive text show.
    assert ("programme" in topics) and all("mourir" not in t for t in topics)


def test_a_pair_as_frequent_as_its_words_stands_for_them() -> None:
    made = report(
        [comment(at(n), f"Méditation guidée {n}") for n in range(3)]
        + [comment(at(4), "méditation du soir")]
    )
    terms = [t.term for t in made.topics]
    # "méditation" (4) stays; "guidée" (3) is said by "méditation guidée" (3).
    assert terms[:2] == ["méditation", "méditation guidée"]
    assert "guidée" not in terms and "guidee" not in terms
    rising = [t.term for t in made.rising]
    assert rising == ["méditation", "méditation guidée"]


@pytest.mark.parametrize(
    ("text", "names", "quote"),
    [
        ("Merci @coach_lea pour ce super atelier !", (), "Merci pour ce super atelier !"),
        ("Bravo Camille, super séance https://t.co/x", ("Camille Roy",), "Bravo, super séance"),
        ("Top!", (), None),  # too short to quote
        ("@a @b @c", (), None),
        ("x" * 20 + " " + "mot " * 60, (), "x" * 20 + " " + ("mot " * 34).strip() + "…"),
    ],
)
def test_praise_excerpts_carry_no_handles_links_or_names(
    text: str, names: tuple[str, ...], quote: str | None
) -> None:
    from services.router.reports.topics import name_words

    assert excerpt(text, name_words(names)) == quote


def test_praise_highlights_pick_the_most_confident_praise_only() -> None:
    comments = [
        comment(at(1), "Super équipe, merci pour tout", "praise", score=0.7),
        comment(at(1), "Merci, vous m'avez sauvé la vie, je voulais mourir", "praise", "sensitive"),
        comment(at(1), "Génial mais vos modos sont nuls", "praise", "abusive", score=0.99),
        comment(at(2), "Le meilleur programme que j'ai suivi", "praise", score=0.95),
        comment(at(3), "Très belle initiative, bravo", "praise", score=0.9),
        comment(at(4), "Encore un bon moment passé ici", "praise", score=0.5),
        comment(at(5), "Quand commence la session ?", "question", score=0.0),
    ]
    assert praise(comments, frozenset()) == [
        "Le meilleur programme que j'ai suivi",
        "Très belle initiative, bravo",
        "Super équipe, merci pour tout",
    ]
