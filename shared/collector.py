"""Garbage-collector settings for long-running services.

Handling a record or a webhook allocates many short-lived objects; with the default
threshold (700) the young generation was collected every few webhooks, and the full
collections that follow walked every object the process holds (the libraries a service
imports: 90 to 200 ms, in the middle of a batch): the tail of the latency. Objects built at
start-up live as long as the process, so they are frozen out of the collector's scans, and the
young generation is collected less often.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 20, 20)

_stage_started = False


def tune_collector() -> None:
    """At process start: collect the young generation less often, freeze what exists."""
    gc.set_threshold(*THRESHOLDS)
    _freeze()


def freeze_startup_heap() -> None:
    """Once per process, when the first stage has started (its clients, models and prepared
    statements exist): freeze what exists. Later calls do nothing."""
    global _stage_started
    if not _stage_started:
        _stage_started = True
        _freeze()


def _freeze() -> None:
    gc.collect()  # so that no garbage is frozen
    gc.freeze()
