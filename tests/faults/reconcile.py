"""After a scenario: what was sent, what Vigie made of it, and what is missing or doubled.

Comments are looked up by the names Vigie gives them (platform, comment id); pages are what
the receiver answered 2xx to; "stuck" means a consumer group still behind its topic's end or
an outbox row never published.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.faults.traffic import Comment
from tests.peers import RecordingServer
from vigie.groups import PIPELINE_GROUPS


@dataclass
class Tally:
    scenario: str
    sent: int = 0
    accepted: int = 0
    stored: int = 0
    classified: int = 0
    crisis: int = 0
    cases: int = 0
    pages: int = 0
    resent: int = 0  # a page repeated under its idempotency key (see ``reconcile``)
    duplicates: int = 0
    lost: int = 0
    behind: int = 0  # records the consumer groups have not committed
    unpublished: int = 0  # outbox rows not yet on Kafka
    problems: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.lost == 0 and self.behind == 0 and self.unpublished == 0

    ROW = "{:<24} {:>5} {:>8} {:>6} {:>10} {:>6} {:>5} {:>5} {:>6} {:>10} {:>4}"

    @classmethod
    def header(cls) -> str:
        return cls.ROW.format(
            "scenario",
            "sent",
            "accepted",
            "stored",
            "classified",
            "crisis",
            "cases",
            "pages",
            "resent",
            "duplicates",
            "lost",
        )

    def row(self) -> str:
        return self.ROW.format(
            self.scenario,
            self.sent,
            self.accepted,
            self.stored,
            self.classified,
            self.crisis,
            self.cases,
            self.pages,
            self.resent,
            self.duplicates,
            self.lost,
        )


async def _named(
    conn: asyncpg.Connection, table: str, comments: Sequence[Comment]
) -> Counter[tuple[str, str]]:
    rows = await conn.fetch(
        f"SELECT t.platform, t.comment_id FROM {table} t"  # noqa: S608 - a constant table name
        " JOIN unnest($1::text[], $2::text[]) AS s(platform, comment_id)"
        " ON t.platform = s.platform AND t.comment_id = s.comment_id",
        [c.platform for c in comments],
        [c.comment_id for c in comments],
    )
    return Counter((r["platform"], r["comment_id"]) for r in rows)


async def _cases(
    conn: asyncpg.Connection, comments: Sequence[Comment]
) -> dict[tuple[str, str], set[str]]:
    rows = await conn.fetch(
        "SELECT cc.platform, cc.comment_id, cc.case_id FROM case_comments cc"
        " JOIN unnest($1::text[], $2::text[]) AS s(platform, comment_id)"
        " ON cc.platform = s.platform AND cc.comment_id = s.comment_id",
        [c.platform for c in comments],
        [c.comment_id for c in comments],
    )
    out: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        out.setdefault((r["platform"], r["comment_id"]), set()).add(r["case_id"])
    return out


def known_partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """The partitions of ``topics`` in the consumer's metadata."""
    return [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]


async def consumer_lag(bootstrap: str) -> int:
    """Records the pipeline's groups have yet to commit, over all their partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        behind = 0
        for group, topics in PIPELINE_GROUPS.items():
            partitions = known_partitions(consumer, topics)
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = known_partitions(consumer, topics)
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group)
            for tp, end in ends.items():
                done = committed.get(tp)
                behind += end - (done.offset if done is not None and done.offset >= 0 else 0)
        return behind
    finally:
        await consumer.stop()
        await admin.close()


async def reconcile(
    scenario: str,
    sent: Sequence[Comment],
    accepted: Sequence[Comment],
    receiver: RecordingServer,
    dsn: str,
    bootstrap: str,
) -> Tally:
    tally = Tally(scenario, sent=len(sent), accepted=len(accepted))
    crisis = [c for c in accepted if c.crisis]
    tally.crisis = len(crisis)
    conn = await asyncpg.connect(dsn)
    try:
        stored = await _named(conn, "comments", accepted)
        classified = await _named(conn, "classifications", accepted)
        cases = await _cases(conn, crisis)
        tally.unpublished = int(
            await conn.fetchval("SELECT count(*) FROM router_outbox WHERE published_at IS NULL")
        )
    finally:
        await conn.close()
    tally.stored = len(stored)
    tally.classified = len(classified)
    for what, rows in (("stored", stored), ("classified", classified)):
        doubled = [key for key, n in rows.items() if n > 1]
        tally.duplicates += len(doubled)
        if doubled:
            tally.problems.append(f"{len(doubled)} comments {what} more than once")
    case_ids = set().union(*cases.values()) if cases else set()
    tally.cases = len(case_ids)
    for comment in crisis:
        found = cases.get((comment.platform, comment.comment_id), set())
        if len(found) > 1:
            tally.duplicates += 1
            tally.problems.append(f"{comment.platform} {comment.comment_id}: {len(found)} cases")

    pages: Counter[str] = Counter()
    paged_cases: set[str] = set()
    for request in receiver.received():
        if not request.path.startswith("/hooks/") or not 200 <= request.status < 300:
            continue
        payload = request.json()
        if payload.get("case_id") in case_ids:
            pages[str(payload["action_id"])] += 1
            paged_cases.add(str(payload["case_id"]))
    # A page is one action id, whatever the number of requests that carried it: a notifier
    # killed between a webhook's send and its record sends it again under the same
    # X-Vigie-Idempotency-Key, which receivers deduplicate on (the webhook channel's
    # contract). Those repeats are counted as ``resent``; a second page for a case would
    # be a second action id, caught by pages != cases.
    tally.pages = len(pages)
    tally.resent = sum(n - 1 for n in pages.values())

    missing = {
        "stored": [c for c in accepted if (c.platform, c.comment_id) not in stored],
        "classified": [c for c in accepted if (c.platform, c.comment_id) not in classified],
        "case": [c for c in crisis if (c.platform, c.comment_id) not in cases],
    }
    unpaged = case_ids - paged_cases
    tally.lost = len({(c.platform, c.comment_id) for group in missing.values() for c in group})
    tally.lost += len(unpaged)
    for what, group in missing.items():
        if group:
            tally.problems.append(f"{len(group)} accepted comments without {what}")
    if unpaged:
        tally.problems.append(f"{len(unpaged)} crisis cases never paged")
    tally.behind = await consumer_lag(bootstrap)
    return tally


async def settle(
    scenario: str,
    sent: Sequence[Comment],
    accepted: Sequence[Comment],
    receiver: RecordingServer,
    dsn: str,
    bootstrap: str,
    timeout_s: float = 180.0,
) -> Tally:
    """Reconcile until nothing is missing and nothing is behind, then once more after a pause
    (a duplicate page would come late)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        tally = await reconcile(scenario, sent, accepted, receiver, dsn, bootstrap)
        if tally.settled or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(3.0)
    # Timers keep producing (reminders, follow-ups): a record published a moment ago is not
    # stuck. Behind is checked again until caught up, for a little while.
    final = await reconcile(scenario, sent, accepted, receiver, dsn, bootstrap)
    caught_up_by = asyncio.get_running_loop().time() + 20.0
    while (final.behind or final.unpublished) and asyncio.get_running_loop().time() < caught_up_by:
        await asyncio.sleep(1.0)
        final = await reconcile(scenario, sent, accepted, receiver, dsn, bootstrap)
    return final
