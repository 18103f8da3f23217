import gc
from collections.abc import Iterator

import pytest

from shared import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_start_up_objects_leave_the_scans_and_the_young_generation_is_collected_less(
    restored: None,
) -> None:
    gc.unfreeze()
    collector.tune_collector()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_the_first_stage_freezes_once(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "_stage_started", False)
    gc.unfreeze()
    collector.freeze_startup_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.unfreeze()
    collector.freeze_startup_heap()
    assert gc.get_freeze_count() == 0
