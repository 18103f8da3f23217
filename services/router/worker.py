"""comments.classified -> policy -> cases, chains, actions -> outbox.

A batch is routed in one transaction. It reads, in one query each, the cases its comments
are already in (a redelivery), the open cases of their groups, the open cases that could
inhibit them (those sharing an identity value an inhibit rule compares) and the active
silences; then decides comment by comment in memory, each comment seeing what the earlier
ones opened or joined, as one at a time would: the case each decision goes to, the case's
chain timer (its first step fired at once when due) and digest timer, or, for a case a
silence mutes, a timer for the silence's end; the answer-due timer of a queued question; and
the actions the route asks for: ``auto`` ones emitted, ``requires_approval`` ones kept
pending on the case. The rows are written at the end of the batch, one statement per table
(``BatchWrites``), and every event goes to the outbox in that transaction; the component
publishes it right after, and the timer loop publishes whatever a crash left behind. A case
whose first page is due at once has its first round (chain timer, digest timer, pages, the
step's audit entry) written with it, in the same statements (``chain_pages``). A batch
whose transaction meets a case another replica opened meanwhile is routed again comment by
comment, one transaction each. Metrics count what was committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router import store
from services.router.batch_routing import BatchRouting, Context
from services.router.metrics import RouterMetrics
from services.router.placement import Cases
from services.router.policy.decide import case_groups, identity, matching_routes
from services.router.policy.inhibit import Sources, key_fields
from services.router.silence_store import active_silences
from services.router.timers import Paging
from shared.bus import Message
from shared.events import ClassifiedComment
from shared.precedence import let_others_run
from shared.runtime import Runtime

log = logging.getLogger(__name__)

GROUP = "vigie-router"
PRIORITY_GROUP = "vigie-router-priority"
# Comments placed between two chances for the rest of the event loop to run.
YIELD_EVERY = 25


async def load_context(
    conn: AsyncConnection, paging: Paging, batch: Sequence[ClassifiedComment], *, now: datetime
) -> Context:
    fields = key_fields(paging.policy.inhibit_rules)
    identities = [identity(item) for item in batch]
    wanted = {name: {who[name] for who in identities} for name in fields}
    sources = Sources(fields, await store.inhibiting_cases(conn, wanted))
    return Context(sources, await active_silences(conn, now=now))


async def _route_in_one(
    runtime: Runtime,
    paging: Paging,
    batch: Sequence[ClassifiedComment],
    metrics: RouterMetrics,
    context: Context | None,
    yield_point: Callable[[], Awaitable[None]] = let_others_run,
) -> list[Message]:
    """Route ``batch`` in one transaction: one commit (one WAL flush) and a few statements
    for the whole batch; nothing of it is kept should any part of it fail. A ``context``
    given is kept current with the cases the batch opened."""
    clock: Callable[[], datetime] = runtime.clock
    async with runtime.engine.begin() as conn:
        loaded = context or await load_context(conn, paging, batch, now=clock())
        matched = [matching_routes(paging.policy, item) for item in batch]
        pairs = list(zip(batch, matched, strict=True))
        groups = [key for item, routes in pairs for key in case_groups(routes, item)]
        refs = [item.comment.ref for item in batch] if groups else []
        cases = Cases(
            await store.memberships(conn, refs), await store.open_group_cases(conn, groups)
        )
        routing = BatchRouting(conn, paging, metrics, loaded, cases)
        for position, (item, routes) in enumerate(pairs, start=1):
            await routing.route(item, routes, clock())
            if position % YIELD_EVERY == 0:
                # Placing a batch is mostly CPU: let the other stages of the process (the
                # priority lane, the timer loop) run between slices of it.
                await yield_point()
        await routing.flush()
    routing.counts.apply()
    if context is not None:
        for opened in routing.opened:
            context.sources.add(opened)
    return routing.out


async def route_comment(
    runtime: Runtime,
    paging: Paging,
    item: ClassifiedComment,
    metrics: RouterMetrics,
    *,
    context: Context | None = None,
) -> list[Message]:
    """Route one comment; the events it staged in the outbox (committed) are returned."""
    for attempt in range(3):
        try:
            return await _route_in_one(runtime, paging, [item], metrics, context)
        except IntegrityError:
            # Another replica opened the group's case between our read and our insert:
            # the next attempt finds it and joins it.
            log.info("case opened concurrently, retrying (attempt %d)", attempt + 1)
    raise RuntimeError("could not place the comment in a case after 3 attempts")


async def route_batch(
    runtime: Runtime,
    paging: Paging,
    batch: Sequence[ClassifiedComment],
    metrics: RouterMetrics,
    *,
    yield_point: Callable[[], Awaitable[None]] = let_others_run,
) -> list[Message]:
    """Route ``batch``; ``yield_point`` is awaited between slices of a long batch."""
    if len(batch) == 1:
        return await route_comment(runtime, paging, batch[0], metrics)
    try:
        return await _route_in_one(runtime, paging, batch, metrics, None, yield_point)
    except IntegrityError:
        # Another replica opened one of these cases meanwhile: route comment by comment,
        # each retrying on its own, on a fresh view of the open cases.
        log.info("case opened concurrently; routing the batch comment by comment")
    async with runtime.engine.connect() as conn:
        context = await load_context(conn, paging, batch, now=runtime.clock())
    out: list[Message] = []
    for item in batch:
        out.extend(await route_comment(runtime, paging, item, metrics, context=context))
    return out
