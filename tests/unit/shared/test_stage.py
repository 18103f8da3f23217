"""The stage loop on the in-memory bus: poison records, isolation, retries, commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.bus import Acked, BusUnavailable, Message, Record
from shared.bus.memory import MemoryBus
from shared.codec import decoder, to_message
from shared.events import Comment
from shared.metrics import StageMetrics
from shared.stage import Decoded, Stage, dlq_message, is_recoverable
from shared.topics import dlq
from tests.unit import factories as f
from tests.unit.factories import eventually

IN = "vigie.test.in.v1"
OUT = "vigie.test.out.v1"
GROUP = "test-group"

Process = Callable[[Sequence[Decoded[Comment]]], Awaitable[Sequence[Message]]]


class Recorder:
    """A process function that echoes comment ids to OUT, failing as told."""

    def __init__(self, fail: Callable[[int, Sequence[Comment]], None] | None = None) -> None:
        self.calls: list[list[str]] = []
        self._fail = fail

    async def __call__(self, batch: Sequence[Decoded[Comment]]) -> list[Message]:
        comments = [item.event for item in batch]
        self.calls.append([c.comment_id for c in comments])
        if self._fail is not None:
            self._fail(len(self.calls), comments)
        return [
            Message(topic=OUT, value=c.comment_id.encode(), key=c.partition_key.encode())
            for c in comments
        ]


def make_stage(
    bus: MemoryBus,
    process: Process,
    registry: CollectorRegistry | None = None,
    before_batch: Callable[[], Awaitable[None]] | None = None,
) -> Stage[Comment]:
    return Stage(
        name="test-stage",
        bus=bus,
        topics=[IN],
        group=GROUP,
        decode=decoder(Comment),
        process=process,
        metrics=StageMetrics(registry or CollectorRegistry()),
        poll_timeout_s=0.02,
        max_backoff_s=0.05,
        before_batch=before_batch,
    )


@asynccontextmanager
async def running(stage: Stage[Comment]) -> AsyncIterator[Stage[Comment]]:
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


def good(comment_id: str, text: str = "hello") -> Message:
    item = f.comment(comment_id, text=text, thread_id="forum:thread")
    return to_message(IN, item, key=item.partition_key)


def out_values(bus: MemoryBus) -> list[bytes]:
    return [r.value for r in bus.records(OUT)]


@pytest.mark.parametrize(
    "value",
    [
        b"not json at all",
        b'{"event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"}',
        b"\xff\xfe\x00",
        f.comment().model_dump_json().replace('"text"', '"txt"').encode(),
    ],
    ids=["not-json", "missing-fields", "not-utf8", "renamed-field"],
)
async def test_an_undecodable_record_goes_to_the_dlq_without_blocking_its_partition(
    value: bytes, sigterms: list[tuple[int, int]]
) -> None:
    bus = MemoryBus(partitions=1)
    poison = Message(topic=IN, value=value, key=b"generic:forum:thread", headers=(("x", b"1"),))
    await bus.publish([poison, good("forum:c-2")])
    process = Recorder()

    async with running(make_stage(bus, process)):
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 2)

    assert process.calls == [["forum:c-2"]]
    assert out_values(bus) == [b"forum:c-2"]
    (dead,) = bus.records(dlq(IN))
    assert dead.value == value
    assert dead.key == b"generic:forum:thread"
    assert dead.header("x") == b"1"
    reason = dead.header("vigie-dlq-reason")
    assert reason is not None and reason.startswith(b"undecodable: ")
    assert dead.header("vigie-dlq-stage") == b"test-stage"
    assert dead.header("vigie-dlq-source") == f"{IN}/0/0".encode()
    assert sigterms == []


async def test_a_poison_record_arriving_after_good_ones_does_not_block_later_records() -> None:
    bus = MemoryBus(partitions=1)
    process = Recorder()

    async with running(make_stage(bus, process)):
        await bus.publish([good("forum:c-1")])
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 1)
        await bus.publish([Message(topic=IN, value=b"{", key=b"k")])
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 2)
        await bus.publish([good("forum:c-3")])
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 3)

    assert out_values(bus) == [b"forum:c-1", b"forum:c-3"]
    assert [d.header("vigie-dlq-source") for d in bus.records(dlq(IN))] == [f"{IN}/0/1".encode()]


async def test_a_failing_record_is_isolated_and_only_it_goes_to_the_dlq() -> None:
    def fail(_call: int, comments: Sequence[Comment]) -> None:
        if any(c.text == "boom" for c in comments):
            raise ValueError("cannot handle boom")

    bus = MemoryBus(partitions=1)
    await bus.publish([good("forum:c-1"), good("forum:c-2", text="boom"), good("forum:c-3")])
    process = Recorder(fail)
    registry = CollectorRegistry()

    async with running(make_stage(bus, process, registry)):
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 3)

    # The whole batch first, then one record at a time.
    assert process.calls == [
        ["forum:c-1", "forum:c-2", "forum:c-3"],
        ["forum:c-1"],
        ["forum:c-2"],
        ["forum:c-3"],
    ]
    assert out_values(bus) == [b"forum:c-1", b"forum:c-3"]
    (dead,) = bus.records(dlq(IN))
    assert dead.value == good("forum:c-2", text="boom").value
    assert dead.header("vigie-dlq-reason") == b"ValueError: cannot handle boom"
    assert dead.header("vigie-dlq-source") == f"{IN}/0/1".encode()
    assert dead.header("trace_id") == f.TRACE.encode()
    labels = {"stage": "test-stage"}
    assert registry.get_sample_value("vigie_stage_records_total", {**labels, "outcome": "ok"}) == 2
    assert registry.get_sample_value("vigie_stage_records_total", {**labels, "outcome": "dlq"}) == 1


class SnoopingBus(MemoryBus):
    """Remembers the group's committed offset each time something is published to OUT."""

    def __init__(self, *, fail_publishes: int = 0) -> None:
        super().__init__(partitions=1)
        self.committed_at_publish: list[int] = []
        self.publish_attempts = 0
        self._fail_publishes = fail_publishes

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if any(m.topic == OUT for m in messages):
            self.publish_attempts += 1
            self.committed_at_publish.append(self.committed(GROUP, IN, 0))
            if self.publish_attempts <= self._fail_publishes:
                raise BusUnavailable("broker did not acknowledge")
        await super().publish(messages, on_acked=on_acked)


def driver_error(kind: type[asyncpg.PostgresError], sqlstate: str) -> DBAPIError:
    """What SQLAlchemy raises for a driver error: a plain DBAPIError around the adapted one."""
    assert kind.sqlstate == sqlstate
    adapted = AsyncAdapt_asyncpg_dbapi.Error("refused", kind("refused"))  # type: ignore[no-untyped-call]
    return DBAPIError("SELECT 1", {}, adapted)


@pytest.mark.parametrize(
    "error",
    [
        OSError("connection reset"),
        TimeoutError(),
        BusUnavailable("down"),
        driver_error(asyncpg.CannotConnectNowError, "57P03"),
    ],
    ids=["OSError", "TimeoutError", "BusUnavailable", "database-starting-up"],
)
async def test_a_recoverable_error_is_retried_and_commit_follows_publish(
    error: Exception,
) -> None:
    def fail_first(call: int, _comments: Sequence[Comment]) -> None:
        if call == 1:
            raise error

    bus = SnoopingBus()
    await bus.publish([good("forum:c-1"), good("forum:c-2")])
    process = Recorder(fail_first)
    registry = CollectorRegistry()
    stage = make_stage(bus, process, registry)
    assert bus.committed(GROUP, IN, 0) == 0

    async with running(stage):
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 2)

    # Retried as a batch (not isolated record by record), then published once, then committed.
    assert process.calls == [["forum:c-1", "forum:c-2"], ["forum:c-1", "forum:c-2"]]
    assert out_values(bus) == [b"forum:c-1", b"forum:c-2"]
    assert bus.committed_at_publish == [0]
    assert bus.records(dlq(IN)) == []
    retries = registry.get_sample_value(
        "vigie_stage_records_total", {"stage": "test-stage", "outcome": "retry"}
    )
    assert retries == 2


async def test_an_unacknowledged_publish_is_retried_without_committing() -> None:
    bus = SnoopingBus(fail_publishes=2)
    await bus.publish([good("forum:c-1")])
    process = Recorder()

    async with running(make_stage(bus, process)):
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 1)

    assert bus.committed_at_publish == [0, 0, 0]
    assert out_values(bus) == [b"forum:c-1"]
    # The outputs were computed once; only their publication is retried.
    assert process.calls == [["forum:c-1"]]
    assert bus.records(dlq(IN)) == []


class GatedBus(MemoryBus):
    """Holds every publish to OUT until ``release`` is set, failing the first ``fail`` ones;
    records, per publish to OUT, the outputs and the group's committed offset."""

    def __init__(self, *, fail: int = 0) -> None:
        super().__init__(partitions=1)
        self.release = asyncio.Event()
        self.attempts: list[tuple[list[bytes], int]] = []
        self._fail = fail

    async def publish(self, messages: Sequence[Message], *, on_acked: Acked | None = None) -> None:
        if any(m.topic == OUT for m in messages):
            self.attempts.append(([m.value for m in messages], self.committed(GROUP, IN, 0)))
            await self.release.wait()
            if len(self.attempts) <= self._fail:
                raise BusUnavailable("broker did not acknowledge")
        await super().publish(messages, on_acked=on_acked)


async def test_the_next_batch_is_processed_while_the_previous_one_is_published() -> None:
    bus = GatedBus()
    process = Recorder()

    async with running(make_stage(bus, process)):
        await bus.publish([good("forum:c-1")])
        await eventually(lambda: len(bus.attempts) == 1)
        await bus.publish([good("forum:c-2")])
        # Batch 2 is processed while batch 1 waits for its acknowledgement ...
        await eventually(lambda: len(process.calls) == 2)
        # ... but neither its outputs nor anyone's offsets go out before batch 1's.
        assert len(bus.attempts) == 1 and out_values(bus) == []
        assert bus.committed(GROUP, IN, 0) == 0
        bus.release.set()
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 2)

    assert process.calls == [["forum:c-1"], ["forum:c-2"]]
    assert out_values(bus) == [b"forum:c-1", b"forum:c-2"]
    # Batch 2 was published only once batch 1 was acknowledged and committed.
    assert bus.attempts == [([b"forum:c-1"], 0), ([b"forum:c-2"], 1)]


async def test_a_failed_publish_is_retried_before_the_next_batch_is_published() -> None:
    bus = GatedBus(fail=2)
    process = Recorder()

    async with running(make_stage(bus, process)):
        await bus.publish([good("forum:c-1")])
        await eventually(lambda: len(bus.attempts) == 1)
        await bus.publish([good("forum:c-2")])
        await eventually(lambda: len(process.calls) == 2)
        bus.release.set()
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 2)

    assert process.calls == [["forum:c-1"], ["forum:c-2"]]
    assert out_values(bus) == [b"forum:c-1", b"forum:c-2"]
    assert bus.attempts == [
        ([b"forum:c-1"], 0),
        ([b"forum:c-1"], 0),
        ([b"forum:c-1"], 0),
        ([b"forum:c-2"], 1),
    ]


async def test_stopping_before_a_publish_is_acknowledged_commits_neither_batch() -> None:
    bus = GatedBus(fail=1_000)
    process = Recorder()
    stage = make_stage(bus, process)

    async with running(stage):
        await bus.publish([good("forum:c-1")])
        await eventually(lambda: len(bus.attempts) == 1)
        await bus.publish([good("forum:c-2")])
        await eventually(lambda: len(process.calls) == 2)
        bus.release.set()
        await eventually(lambda: len(bus.attempts) >= 2)

    assert bus.committed(GROUP, IN, 0) == 0
    assert out_values(bus) == []
    assert {tuple(values) for values, _ in bus.attempts} == {(b"forum:c-1",)}
    consumer = await bus.consumer([IN], group=GROUP)
    again = await consumer.poll(max_records=10, timeout_s=0.1)
    assert [r.offset for r in again] == [0, 1]


async def test_stopping_publishes_and_commits_the_batch_already_processed() -> None:
    bus = GatedBus()
    process = Recorder()
    stage = make_stage(bus, process)
    await stage.start()
    await bus.publish([good("forum:c-1")])
    await eventually(lambda: len(bus.attempts) == 1)

    stopping = asyncio.create_task(stage.stop())
    await asyncio.sleep(0)
    bus.release.set()
    await stopping

    assert out_values(bus) == [b"forum:c-1"]
    assert bus.committed(GROUP, IN, 0) == 1


async def test_stopping_while_retrying_commits_nothing_so_the_batch_is_redelivered() -> None:
    def always_down(_call: int, _comments: Sequence[Comment]) -> None:
        raise OSError("database unreachable")

    bus = MemoryBus(partitions=1)
    await bus.publish([good("forum:c-1")])
    process = Recorder(always_down)

    async with running(make_stage(bus, process)):
        await eventually(lambda: len(process.calls) >= 2)

    assert bus.committed(GROUP, IN, 0) == 0
    assert bus.records(OUT) == [] and bus.records(dlq(IN)) == []
    consumer = await bus.consumer([IN], group=GROUP)
    again = await consumer.poll(max_records=10, timeout_s=0.1)
    assert [r.offset for r in again] == [0]


async def test_stage_reports_running_while_started() -> None:
    stage = make_stage(MemoryBus(), Recorder())
    assert not stage.running

    async with running(stage):
        await eventually(lambda: stage.running)

    assert not stage.running


def test_dlq_message_replaces_previous_dlq_headers() -> None:
    record = Record(
        topic=IN,
        partition=2,
        offset=41,
        key=b"k",
        value=b"v",
        headers=(("trace_id", b"t"), ("vigie-dlq-reason", b"old"), ("vigie-dlq-stage", b"old")),
    )

    message = dlq_message(record, "x" * 5000, "router")

    assert message.topic == f"{IN}.dlq"
    assert message.headers == (
        ("trace_id", b"t"),
        ("vigie-dlq-reason", b"x" * 1000),
        ("vigie-dlq-stage", b"router"),
        ("vigie-dlq-source", f"{IN}/2/41".encode()),
    )


@pytest.mark.parametrize(
    ("error", "recoverable"),
    [
        (BusUnavailable(), True),
        (OSError(), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (httpx.ConnectError("refused"), True),
        (OperationalError("SELECT 1", {}, Exception("server closed")), True),
        (DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
        (DBAPIError("SELECT 1", {}, Exception("syntax")), False),
        (driver_error(asyncpg.CannotConnectNowError, "57P03"), True),
        (driver_error(asyncpg.ConnectionFailureError, "08006"), True),
        (driver_error(asyncpg.AdminShutdownError, "57P01"), True),
        (driver_error(asyncpg.TooManyConnectionsError, "53300"), True),
        (driver_error(asyncpg.DeadlockDetectedError, "40P01"), True),
        (driver_error(asyncpg.UniqueViolationError, "23505"), False),
        (driver_error(asyncpg.InvalidTextRepresentationError, "22P02"), False),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError(), False),
        (KeyError("x"), False),
        (RuntimeError(), False),
    ],
)
def test_is_recoverable(error: BaseException, recoverable: bool) -> None:
    assert is_recoverable(error) is recoverable


async def test_a_stage_waits_for_its_before_batch_hook_before_processing_a_batch() -> None:
    """A routine lane gives way to its process's priority lane before each batch."""
    bus = MemoryBus(partitions=1)
    process = Recorder()
    gate = asyncio.Event()
    waited: list[int] = []

    async def before_batch() -> None:
        waited.append(len(process.calls))
        await gate.wait()

    stage = make_stage(bus, process, before_batch=before_batch)
    async with running(stage):
        await bus.publish([good("forum:c-1")])
        await eventually(lambda: waited == [0])
        assert process.calls == []  # held before the batch
        gate.set()
        await eventually(lambda: bus.committed(GROUP, IN, 0) == 1)

    assert process.calls == [["forum:c-1"]]
