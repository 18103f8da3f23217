import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from shared.bus.partitioner import murmur2, partition_of

# Values of the Java client's Utils.murmur2 (as unsigned ints), from Kafka's own tests.
JAVA = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("key", "java"), JAVA)
def test_the_hash_is_the_java_clients(key: bytes, java: int) -> None:
    assert murmur2(key) == java & 0xFFFFFFFF


def test_the_hash_and_partition_match_aiokafkas_on_random_keys() -> None:
    rng = random.Random(7)
    partitions = list(range(7))
    for _ in range(3000):
        key = rng.randbytes(rng.randrange(0, 80))
        assert murmur2(key) == aiokafka_murmur2(key)
        assert partition_of(key, partitions, partitions) == DefaultPartitioner()(
            key, partitions, partitions
        )


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    for _ in range(50):
        assert partition_of(None, [0, 1, 2], [2]) == 2
