"""Unit-test fixtures: no broker, no server; SQLite files under tmp_path only."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.storage.engine import create_engine
from shared.storage.migrate import upgrade_async


@pytest.fixture(autouse=True)
def _no_vigie_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read ``VIGIE_*``: a developer's shell must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("VIGIE_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def sigterms(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """A stage that dies sends SIGTERM to its own process: record it instead of killing
    the test run, so that the test fails on its own assertions."""
    sent: list[tuple[int, int]] = []

    def fake_kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))

    monkeypatch.setattr("shared.stage.os.kill", fake_kill)
    return sent


@pytest.fixture(scope="session")
async def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head, copied by every test that needs a database."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    await upgrade_async(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_url(migrated_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "vigie.db"
    shutil.copyfile(migrated_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()
