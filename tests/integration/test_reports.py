"""Reports on the real PostgreSQL, and the scheduled report through the real broker to an
SMTP server on loopback.

A known week (and the week before) of comments, verdicts, cases, chains, acknowledgements and
queued questions is written through the storage tables; the report's figures are checked
against SQL the test writes itself, not against the report's own output. The database is
the module's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.notifier.settings import NotifierSettings
from services.notifier.worker import NotifierComponent
from services.router.metrics import RouterMetrics
from services.router.outbox import Publisher
from services.router.policy.config import Policy, load_policy
from services.router.reports.generate import make_report
from services.router.reports.mailing import Mailing
from services.router.reports.model import Report
from services.router.reports.period import PeriodKind, ending
from services.router.reports.schedule import parse
from services.router.reports.scheduled import ScheduledReports
from services.router.timer_loop import TimerLoop
from services.router.timers import Paging
from services.router.tokens import AckLinks
from shared.bus.kafka import KafkaBus
from shared.events import Channel, Receiver
from shared.runtime import Runtime
from shared.storage.engine import create_engine
from shared.storage.tables import case_timers, cases, classifications, comments
from tests import provider_peers as peers
from tests.databases import create_database, drop_database
from vigie.cli import app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TZ = "Europe/Paris"
PERIOD = ending(PeriodKind.WEEK, date(2024, 3, 10), TZ)  # 4..10 March 2024
NOW = PERIOD.end + timedelta(hours=8)  # the Monday morning after
PLATFORMS = ("facebook", "instagram", "x", "youtube")
LABELS = ("sensitive", "abusive", "question", "praise")
NAMES = ("Alice Martin", "Bruno Keller", "Chloé Dubois", "Dmitri Ivanov")
WORDS = ("atelier", "yoga", "marathon", "inscription", "horaires", "coach", "appli", "séance")


@pytest.fixture(scope="module")
async def db_url() -> AsyncIterator[str]:
    server = os.environ["VIGIE_DATABASE_URL"]
    url = await create_database(server, prefix="vigie_reports")
    yield url
    await drop_database(server, url)


@pytest.fixture(scope="module")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await seed(engine, random.Random(20240310))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "config" / "policy.yaml")


def _text(rng: random.Random, labels: set[str]) -> str:
    words = rng.sample(WORDS, 3)
    if "praise" in labels:
        # Names and handles that must never reach a topic or an excerpt.
        return f"Merci {rng.choice(NAMES)} et @coach_{rng.randint(1, 9)} pour ce {words[0]} génial"
    if "sensitive" in labels:
        return f"je n'en peux plus, {words[0]} ou pas, je veux disparaître"
    return f"Le {words[0]} de {words[1]} : {words[2]} ?"


async def seed(engine: AsyncEngine, rng: random.Random) -> None:
    """Two weeks and a margin on each side, with edits, re-classifications and noise."""
    first, last = PERIOD.previous().start - timedelta(days=2), PERIOD.end + timedelta(days=2)
    span = (last - first).total_seconds()
    comment_rows: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    for n in range(240):
        received = first + timedelta(seconds=rng.uniform(0, span))
        labels = {label for label in LABELS if rng.random() < 0.2}
        platform = rng.choice(PLATFORMS)
        kind, revision = ("edited", 1) if n % 15 == 0 else ("created", 0)
        name = rng.choice(NAMES)
        comment_rows.append(
            {
                "event_id": str(uuid.uuid4()),
                "platform": platform,
                "source": "page",
                "comment_id": f"c{n}",
                "revision": revision,
                "kind": kind,
                "post_id": "p1",
                "thread_id": "p1",
                "author_id": f"u{n % 17}",
                "author_name": name,
                "text": _text(rng, labels),
                "received_at": received,
                "delivery_id": f"d{n}",
                "trace_id": f"t{n}",
            }
        )
        # An older model said something else about a third of them; the newest verdict wins.
        versions = [("m1", {rng.choice(LABELS)})] if n % 3 == 0 else []
        versions.append(("m2", labels))
        for order, (model, said) in enumerate(versions):
            verdicts.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "platform": platform,
                    "comment_id": f"c{n}",
                    "revision": revision,
                    "kind": kind,
                    "labels": sorted(said),
                    "categories": [],
                    "severity": "critical" if "sensitive" in said else "low",
                    "scores": {"praise": rng.random()},
                    "unsure": [],
                    "lang": "fr",
                    "rationale": "",
                    "model_version": model,
                    "classified_at": received + timedelta(seconds=1 + order),
                }
            )
    case_rows: list[dict[str, Any]] = []
    timer_rows: list[dict[str, Any]] = []
    for n in range(60):
        opened = first + timedelta(seconds=rng.uniform(0, span))
        crisis = n % 3 == 0
        question = n % 3 == 1
        ack = opened + timedelta(minutes=rng.uniform(0.5, 12)) if rng.random() < 0.8 else None
        due = opened + timedelta(hours=4) if question else None
        resolved = opened + timedelta(hours=rng.uniform(1, 8)) if rng.random() < 0.6 else None
        case_id = str(uuid.UUID(int=n + 1))
        case_rows.append(
            {
                "id": case_id,
                "group_key": f"g{n}",
                "status": "resolved" if resolved else "acknowledged" if ack else "open",
                "severity": "critical" if crisis else "high" if n % 3 == 2 else "none",
                "labels": ["sensitive"] if crisis else ["question"] if question else ["abusive"],
                "route": "crisis" if crisis else "questions" if question else "abuse",
                "policy_version": "seed",
                "opened_by": f"c{n}",
                "opened_at": opened,
                "updated_at": opened,
                "acknowledged_at": ack,
                "resolved_at": resolved,
                "answer_due_at": due,
                "trace_id": f"t{n}",
            }
        )
        if crisis or n % 3 == 2:
            timer_rows.append(
                {
                    "id": f"chain:{case_id}",
                    "case_id": case_id,
                    "kind": "chain",
                    "chain": "crisis" if crisis else None,
                    "started_at": opened + timedelta(minutes=rng.choice((0, 1))),
                    "notified": 1,
                    "reminded": 0,
                    "due_at": None,
                    "updated_at": opened,
                }
            )
    async with engine.begin() as conn:
        await conn.execute(insert(comments), comment_rows)
        await conn.execute(insert(classifications), verdicts)
        await conn.execute(insert(cases), case_rows)
        await conn.execute(insert(case_timers), timer_rows)


LATEST = """
WITH latest AS (
  SELECT DISTINCT ON (c.id) c.id, c.platform, c.received_at, c.text,
         coalesce(v.labels::jsonb, '[]'::jsonb) AS labels
  FROM comments c
  LEFT JOIN classifications v
    ON (v.platform, v.comment_id, v.revision, v.kind)
     = (c.platform, c.comment_id, c.revision, c.kind)
  WHERE c.kind = 'created' AND c.received_at >= :s AND c.received_at < :e
  ORDER BY c.id, v.classified_at DESC NULLS LAST
)
"""


async def scalar(engine: AsyncEngine, sql: str, **values: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), values)).scalar_one()


async def pairs(engine: AsyncEngine, sql: str, **values: Any) -> dict[Any, Any]:
    async with engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(text(sql), values)}


@pytest.fixture(scope="module")
async def made(engine: AsyncEngine, policy: Policy) -> Report:
    async with engine.connect() as conn:
        return await make_report(conn, PERIOD, policy=policy, now=NOW)


async def test_volumes_match_sql(engine: AsyncEngine, made: Report) -> None:
    this = {"s": PERIOD.start, "e": PERIOD.end}
    before = {"s": PERIOD.previous().start, "e": PERIOD.start}
    count = (
        "SELECT count(*) FROM comments WHERE kind='created' AND received_at>=:s AND received_at<:e"
    )
    assert made.comments.count == await scalar(engine, count, **this) > 0
    assert made.comments.previous == await scalar(engine, count, **before) > 0
    per_platform = (
        "SELECT platform, count(*) FROM comments WHERE kind='created' "
        "AND received_at>=:s AND received_at<:e GROUP BY platform"
    )
    assert {c.key: c.count for c in made.by_platform} == await pairs(engine, per_platform, **this)
    assert {c.key: c.previous for c in made.by_platform if c.previous} == await pairs(
        engine, per_platform, **before
    )
    for label in LABELS:
        sql = LATEST + "SELECT count(*) FROM latest WHERE labels ? :label"
        found = next(c for c in made.by_label if c.key == label)
        assert found.count == await scalar(engine, sql, label=label, **this), label
        assert found.previous == await scalar(engine, sql, label=label, **before), label
    none = LATEST + "SELECT count(*) FROM latest WHERE NOT labels ?| array[:a, :b, :c, :d]"
    found = next(c for c in made.by_label if c.key == "none")
    assert found.count == await scalar(
        engine, none, a="sensitive", b="abusive", c="question", d="praise", **this
    )
    per_day = (
        "SELECT (received_at AT TIME ZONE :tz)::date, count(*) FROM comments "
        "WHERE kind='created' AND received_at>=:s AND received_at<:e GROUP BY 1"
    )
    days = await pairs(engine, per_day, tz=TZ, **this)
    assert {d.day: d.count for d in made.daily if d.count} == days


async def test_crisis_times_to_acknowledge_match_sql(engine: AsyncEngine, made: Report) -> None:
    crisis = (
        "FROM cases WHERE opened_at>=:s AND opened_at<:e "
        "AND (severity='critical' OR labels::jsonb ? 'sensitive')"
    )
    wait = "extract(epoch FROM acknowledged_at - opened_at)"
    window = {"s": PERIOD.start, "e": PERIOD.end}
    assert made.crisis.cases == await scalar(engine, f"SELECT count(*) {crisis}", **window) > 3
    assert made.crisis.acknowledged == await scalar(
        engine, f"SELECT count(acknowledged_at) {crisis}", **window
    )
    median = await scalar(
        engine, f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {wait}) {crisis}", **window
    )
    p90 = await scalar(
        engine, f"SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY {wait}) {crisis}", **window
    )
    assert made.crisis.median_ack_s == pytest.approx(float(median))
    assert made.crisis.p90_ack_s == pytest.approx(float(p90))
    by_case = await pairs(engine, f"SELECT id, {wait} {crisis}", **window)
    assert {t.case_id: t.time_to_ack_s for t in made.crisis.timings} == pytest.approx(
        {k: None if v is None else float(v) for k, v in by_case.items()}
    )


async def test_missed_deadlines_match_sql(
    engine: AsyncEngine, made: Report, policy: Policy
) -> None:
    first_wait = policy.chains["crisis"].steps[0].wait
    late_acks = (
        "SELECT k.id, 1 FROM cases k JOIN case_timers t ON t.id = 'chain:' || k.id "
        "WHERE t.chain = 'crisis' AND k.opened_at>=:s AND k.opened_at<:e "
        "AND coalesce(k.acknowledged_at, :now) > coalesce(t.started_at, k.opened_at) + :wait"
    )
    expected = await pairs(
        engine, late_acks, s=PERIOD.start, e=PERIOD.end, now=NOW, wait=first_wait
    )
    assert {b.case_id for b in made.ack_breaches} == set(expected) != set()
    queued = "FROM cases WHERE answer_due_at IS NOT NULL AND opened_at>=:s AND opened_at<:e"
    window = {"s": PERIOD.start, "e": PERIOD.end}
    q = made.questions
    assert q.queued == await scalar(engine, f"SELECT count(*) {queued}", **window) > 0
    assert q.answered == await scalar(engine, f"SELECT count(resolved_at) {queued}", **window)
    assert q.answered_late == await scalar(
        engine, f"SELECT count(*) {queued} AND resolved_at > answer_due_at", **window
    )
    assert q.pending == await scalar(
        engine, f"SELECT count(*) {queued} AND resolved_at IS NULL", **window
    )
    assert q.pending_overdue == await scalar(
        engine,
        f"SELECT count(*) {queued} AND resolved_at IS NULL AND answer_due_at < :now",
        now=NOW,
        **window,
    )
    late_answers = await pairs(
        engine,
        f"SELECT id, 1 {queued} AND coalesce(resolved_at, :now) > answer_due_at",
        now=NOW,
        **window,
    )
    assert {b.case_id for b in made.answer_breaches} == set(late_answers)


async def test_topics_and_praise_keep_sensitive_texts_and_names_out(
    engine: AsyncEngine, made: Report
) -> None:
    uses = LATEST + ("SELECT count(*) FROM latest WHERE NOT labels ? 'sensitive' AND text ~* :word")
    words = [t for t in made.topics if " " not in t.term]
    assert len(words) >= 3
    for topic in words:
        word = rf"\m{topic.term}\M"
        this = {"s": PERIOD.start, "e": PERIOD.end}
        before = {"s": PERIOD.previous().start, "e": PERIOD.start}
        assert topic.count == await scalar(engine, uses, word=word, **this), topic
        assert topic.previous == await scalar(engine, uses, word=word, **before), topic
    terms = " ".join(t.term for t in (*made.topics, *made.rising)).lower()
    assert "disparaître" not in terms and "peux" not in terms
    assert made.praise
    shown = " ".join(made.praise).lower()
    for name in NAMES:
        assert all(part.lower() not in shown and part.lower() not in terms for part in name.split())
    assert "@" not in shown


def test_the_cli_prints_the_same_report(db_url: str, made: Report) -> None:
    result = CliRunner().invoke(
        app,
        ["report", "--url", db_url, "--ending", "2024-03-10", "--tz", TZ, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = made.model_dump(mode="json")
    for body in (printed, expected):
        body.pop("generated_at")
        for t in body["crisis"]["timings"]:
            t.pop("breached")  # judged at the time each report is made
        body.pop("ack_breaches")
        body.pop("answer_breaches")
        body.pop("questions")
    assert printed == expected


def test_the_cli_prints_a_pdf_with_chromium(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        app,
        ["report", "--url", db_url, "--ending", "2024-03-10", "--tz", TZ, "--lang", "fr"]
        + ["--format", "pdf", "--output", str(target)],
        env={"VIGIE_CHROMIUM": os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")},
    )
    assert result.exit_code == 0, result.output
    pdf = target.read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Type /Page" in pdf


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[peers.Mailbox, Path]]:
    with peers.smtp_peer(tmp_path) as running:
        yield running


async def test_the_scheduled_report_reaches_the_mailbox_through_kafka(
    kafka_bootstrap: str,
    engine: AsyncEngine,
    policy: Policy,
    smtp: tuple[peers.Mailbox, Path],
) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"vigie.test.{run}.actions"
    mailbox, ca = smtp
    board = Receiver(name="board", channel=Channel.EMAIL, target="board@example.org, c@example.org")
    mailing = Mailing(parse(f"weekly:mon 08:00 {TZ}"), (board,), "fr")
    bus = KafkaBus(kafka_bootstrap, client_id=f"vigie-test-reports-{run}", partitions=1)
    await bus.start()
    try:
        await bus.ensure_topics([topic])
        loop = TimerLoop(
            engine,
            Publisher(engine, bus),
            Paging(policy, AckLinks((b"k",), "http://console.test", timedelta(hours=1))),
            clock=lambda: NOW,
            metrics=RouterMetrics(CollectorRegistry()),
            reports=ScheduledReports(engine, mailing, policy, topic=topic),
        )
        saturday = datetime(2024, 3, 9, 12, tzinfo=UTC)  # first seen: nothing due
        assert (await loop.tick(saturday)).published == 0
        monday = datetime(2024, 3, 11, 7, tzinfo=UTC)  # 08:00 in Paris
        assert (await loop.tick(monday)).published == 1
        assert (await loop.tick(monday + timedelta(minutes=1))).published == 0

        class Isolated(NotifierComponent):
            group = f"vigie-test-notifier-{run}"
            source = topic
            outputs = (f"vigie.test.{run}.results",)

        notifier = Isolated(
            NotifierSettings(
                webhook_signing_secret=SecretStr("s"),
                smtp_host="127.0.0.1",
                smtp_port=mailbox.port,
                smtp_ca_file=ca,
                email_from="vigie@example.org",
                delivery_backoff_s=0.0,
            )
        )
        await notifier.start(Runtime(bus=bus, engine=engine, registry=CollectorRegistry()))
        try:
            for _ in range(300):  # waits for the mail, up to 30 s
                if mailbox.messages:
                    break
                await asyncio.sleep(0.1)
        finally:
            await notifier.stop()
    finally:
        await bus.stop()
    ((rcpt, mail),) = mailbox.messages
    assert rcpt == ["board@example.org", "c@example.org"] and mailbox.tls_sessions == 1
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "Vigie — rapport hebdomadaire · 2024-03-04 – 2024-03-10"
    assert mail.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p for p in mail.walk() if not p.is_multipart()}
    assert sorted(parts) == ["text/html", "text/plain"]
    raw = parts["text/html"].get_payload(decode=True)
    assert isinstance(raw, bytes)
    page = raw.decode()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    count = (
        "SELECT count(*) FROM comments WHERE kind='created' AND received_at>=:s AND received_at<:e"
    )
    total = await scalar(engine, count, s=PERIOD.start, e=PERIOD.end)
    assert f"Commentaires<b>{total}</b>" in page
