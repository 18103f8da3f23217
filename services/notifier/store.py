"""The deliveries table: the idempotency key is written before anything is sent.

A row is claimed as ``sending`` in the same statement that checks whether the action was
seen before, for a whole batch at once. A row still ``sending`` when its action comes
again means a send was interrupted (the process died, or the batch failed after sending):
it was perhaps received. ``pending`` is how earlier versions said the same.

On PostgreSQL a batch costs two statements, each one round trip in autocommit: the claim
(``INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING RETURNING`` and the rows seen
before, in one statement of constant text, so it is prepared once) and the outcomes (one
``UPDATE .. FROM unnest(..)``). SQLite (the embedded mode) runs the same steps through
SQLAlchemy Core in a transaction. A delivered page keeps what its channel called it
(``reference``: a Slack channel and ``ts``), so that acknowledging or resolving the case can
update it in place.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.events import Action
from shared.storage.tables import deliveries

log = logging.getLogger(__name__)

PENDING, SENDING = "pending", "sending"
DELIVERED, FAILED, IN_DOUBT = "delivered", "failed", "in_doubt"
INTERRUPTED = frozenset({PENDING, SENDING})
FINISHED = frozenset({DELIVERED, FAILED, IN_DOUBT})
DURABLE, RELAXED = "durable", "relaxed"  # the Ledger's connections


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    status: str
    attempts: int
    status_code: int | None
    error: str | None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    action_id: str
    status: str
    attempts: int
    status_code: int | None
    error: str | None
    reference: str | None = None


_PG_CLAIM = text(
    """
    WITH batch AS (
        SELECT * FROM unnest(
            CAST(:keys AS varchar[]), CAST(:cases AS varchar[]), CAST(:receivers AS varchar[]),
            CAST(:channels AS varchar[]), CAST(:traces AS varchar[])
        ) AS b(idempotency_key, case_id, receiver, channel, trace_id)
    ), claimed AS (
        INSERT INTO deliveries (idempotency_key, case_id, receiver, channel, status, attempts,
                                created_at, updated_at, trace_id)
        SELECT idempotency_key, case_id, receiver, channel, 'sending', 0,
               CAST(:now AS timestamptz), CAST(:now AS timestamptz), trace_id
        FROM batch
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key
    )
    SELECT idempotency_key, true AS claimed, NULL AS status, NULL AS attempts,
           NULL AS status_code, NULL AS error, NULL AS reference
    FROM claimed
    UNION ALL
    SELECT d.idempotency_key, false, d.status, d.attempts, d.status_code, d.error, d.reference
    FROM deliveries AS d
    WHERE d.idempotency_key = ANY(CAST(:keys AS varchar[]))
    """
)
_PG_FINISH = text(
    """
    UPDATE deliveries AS d
    SET status = o.status, attempts = o.attempts, status_code = o.status_code,
        error = o.error, reference = o.reference, updated_at = CAST(:now AS timestamptz)
    FROM unnest(
        CAST(:keys AS varchar[]), CAST(:statuses AS varchar[]), CAST(:attempts AS int[]),
        CAST(:codes AS int[]), CAST(:errors AS text[]), CAST(:references AS varchar[])
    ) AS o(idempotency_key, status, attempts, status_code, error, reference)
    WHERE d.idempotency_key = o.idempotency_key
    """
)
_SEEN = select(
    deliveries.c.idempotency_key,
    deliveries.c.status,
    deliveries.c.attempts,
    deliveries.c.status_code,
    deliveries.c.error,
    deliveries.c.reference,
).where(deliveries.c.idempotency_key.in_(bindparam("keys", expanding=True)))


def _row(row: Any) -> DeliveryRow:
    return DeliveryRow(row.status, row.attempts, row.status_code, row.error, row.reference)


async def claim(
    engine: AsyncEngine, actions: Sequence[Action], now: datetime
) -> dict[str, DeliveryRow | None]:
    """Claim every action of a batch; ``None`` for those this call claimed (send them),
    the existing row for those seen before."""
    unique = {a.action_id: a for a in actions}
    if not unique:
        return {}
    if engine.dialect.name == "postgresql":
        async with _autocommit(engine) as conn:
            return await _claim_postgresql(conn, list(unique.values()), now)
    return await _claim_core(engine, list(unique.values()), now)


async def _claim_postgresql(
    conn: AsyncConnection, actions: list[Action], now: datetime
) -> dict[str, DeliveryRow | None]:
    keys = [a.action_id for a in actions]
    params = {
        "keys": keys,
        "cases": [str(a.case_id) for a in actions],
        "receivers": [a.receiver.name for a in actions],
        "channels": [a.receiver.channel.value for a in actions],
        "traces": [a.trace_id for a in actions],
        "now": now,
    }
    rows = (await conn.execute(_PG_CLAIM, params)).all()
    out: dict[str, DeliveryRow | None] = {
        row.idempotency_key: None if row.claimed else _row(row) for row in rows
    }
    # A key claimed by another consumer whose insert committed while ours waited is in
    # neither part of the answer (the statement's snapshot predates it): read it now.
    missing = [key for key in keys if key not in out]
    if missing:
        seen = (await conn.execute(_SEEN, {"keys": missing})).all()
        out |= {row.idempotency_key: _row(row) for row in seen}
    return out


async def _claim_core(
    engine: AsyncEngine, actions: list[Action], now: datetime
) -> dict[str, DeliveryRow | None]:
    rows = [
        {
            "idempotency_key": a.action_id,
            "case_id": str(a.case_id),
            "receiver": a.receiver.name,
            "channel": a.receiver.channel.value,
            "status": SENDING,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "trace_id": a.trace_id,
        }
        for a in actions
    ]
    stmt = (
        sqlite.insert(deliveries)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(deliveries.c.idempotency_key)
    )
    async with engine.begin() as conn:
        claimed = set((await conn.execute(stmt)).scalars())
        seen = [a.action_id for a in actions if a.action_id not in claimed]
        existing = (await conn.execute(_SEEN, {"keys": seen})).all() if seen else []
    out: dict[str, DeliveryRow | None] = dict.fromkeys(claimed)
    out |= {row.idempotency_key: _row(row) for row in existing}
    return out


def _autocommit(engine: AsyncEngine) -> AsyncConnection:
    """One statement, one round trip: no BEGIN and COMMIT around it."""
    return engine.execution_options(isolation_level="AUTOCOMMIT").connect()


async def finish(engine: AsyncEngine, outcomes: Sequence[Finished], now: datetime) -> None:
    if not outcomes:
        return
    if engine.dialect.name == "postgresql":
        async with _autocommit(engine) as conn:
            await _finish_postgresql(conn, outcomes, now)
        return
    stmt = (
        update(deliveries)
        .where(deliveries.c.idempotency_key == bindparam("k"))
        .values(
            status=bindparam("s"),
            attempts=bindparam("n"),
            status_code=bindparam("c"),
            error=bindparam("e"),
            reference=bindparam("r"),
            updated_at=bindparam("t"),
        )
    )
    params_many = [
        {
            "k": o.action_id,
            "s": o.status,
            "n": o.attempts,
            "c": o.status_code,
            "e": o.error,
            "r": o.reference,
            "t": now,
        }
        for o in outcomes
    ]
    async with engine.begin() as conn:
        await conn.execute(stmt, params_many)


async def _finish_postgresql(
    conn: AsyncConnection, outcomes: Sequence[Finished], now: datetime
) -> None:
    params = {
        "keys": [o.action_id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "attempts": [o.attempts for o in outcomes],
        "codes": [o.status_code for o in outcomes],
        "errors": [o.error for o in outcomes],
        "references": [o.reference for o in outcomes],
        "now": now,
    }
    await conn.execute(_PG_FINISH, params)


async def page_references(
    engine: AsyncEngine, channel: str, pages: Collection[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """What ``channel`` called every page it delivered, per (case id, receiver), oldest
    first and each once: the messages an acknowledgement or a resolution updates."""
    if not pages:
        return {}
    c = deliveries.c
    stmt = (
        select(c.case_id, c.receiver, c.reference)
        .where(
            c.channel == channel,
            c.status == DELIVERED,
            c.reference.is_not(None),
            c.case_id.in_(sorted({case for case, _ in pages})),
        )
        .order_by(c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    found: dict[tuple[str, str], dict[str, None]] = {page: {} for page in pages}
    for row in rows:
        refs = found.get((row.case_id, row.receiver))
        if refs is not None:
            refs[row.reference] = None
    return {page: tuple(refs) for page, refs in found.items()}


class Ledger:
    """The deliveries table for one worker, through connections it keeps between batches.

    On PostgreSQL a pooled checkout pings the server first (three round trips, more than
    the statement itself), so the worker holds its connections: one whose commits wait for
    the WAL flush, one whose commits do not (``synchronous_commit = off``). After a failure
    they are dropped and the next call opens new ones: the stage retries the batch.

    Claims of actions that a resend could duplicate commit durably before anything is sent.
    Claims of actions that may be resent (the receiver deduplicates, or the operation sets a
    state) and every outcome commit without waiting for the flush: only a crash of the
    server within that instant can lose them, and then the action is at worst sent again
    where that is harmless, or a later redelivery of a delivered action is reported in
    doubt; nothing that could reach a person twice is sent twice. Calls are sequential (one
    batch at a time). Other databases go through the engine as the functions above.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._held = engine.dialect.name == "postgresql"
        self._connections: dict[str, AsyncConnection] = {}

    async def open(self, now: datetime) -> None:
        """Open the connections and prepare the statements before the first batch, so that
        the first page after a start does not wait for them. Best effort: should the
        database be unreachable, the first batch opens them (and the stage retries)."""
        if not self._held:
            return
        try:
            for name in (RELAXED, DURABLE):
                await _claim_postgresql(await self._connection(name), [], now)
            await _finish_postgresql(await self._connection(RELAXED), [], now)
        except Exception:
            log.warning("the deliveries table is not reachable yet", exc_info=True)
            await self._drop()

    async def claim(
        self,
        actions: Sequence[Action],
        now: datetime,
        *,
        resendable: Callable[[Action], bool] = lambda _a: False,
    ) -> dict[str, DeliveryRow | None]:
        unique = {a.action_id: a for a in actions}
        if not self._held or not unique:
            return await claim(self._engine, actions, now)
        relaxed = [a for a in unique.values() if resendable(a)]
        durable = [a for a in unique.values() if not resendable(a)]
        # The resendable ones first: should the second statement fail, the first one's rows
        # are resent on the retry, whereas durable rows left claimed would read "in doubt".
        out: dict[str, DeliveryRow | None] = {}
        for name, group in ((RELAXED, relaxed), (DURABLE, durable)):
            if group:
                out |= await self._claim_on(name, group, now)
        return out

    async def _claim_on(
        self, name: str, actions: list[Action], now: datetime
    ) -> dict[str, DeliveryRow | None]:
        conn = await self._connection(name)
        try:
            return await _claim_postgresql(conn, actions, now)
        except BaseException:
            await self._drop()
            raise

    async def finish(self, outcomes: Sequence[Finished], now: datetime) -> None:
        if not self._held or not outcomes:
            await finish(self._engine, outcomes, now)
            return
        conn = await self._connection(RELAXED)
        try:
            await _finish_postgresql(conn, outcomes, now)
        except BaseException:
            await self._drop()
            raise

    async def _connection(self, name: str) -> AsyncConnection:
        conn = self._connections.get(name)
        if conn is None:
            conn = await _autocommit(self._engine).start()
            if name == RELAXED:
                await conn.execute(text("SET synchronous_commit = off"))
            self._connections[name] = conn
        return conn

    async def _drop(self) -> None:
        """After a failure every held connection is suspect (a restarted server drops all)."""
        while self._connections:
            _, conn = self._connections.popitem()
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        for name in list(self._connections):
            conn = self._connections.pop(name)
            with contextlib.suppress(Exception):
                await conn.close()
