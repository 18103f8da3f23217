"""Settings helpers: secrets during a rotation, database URL normalisation."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.settings import CommonSettings, secret_values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ()),
        ("", ()),
        ("s3cret", (b"s3cret",)),
        ("old,new", (b"old", b"new")),
        (" old , new ,", (b"old", b"new")),
        (",,", ()),
    ],
)
def test_secret_values(raw: str | None, expected: tuple[bytes, ...]) -> None:
    assert secret_values(SecretStr(raw) if raw is not None else None) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://vigie@db:5432/vigie", "postgresql+asyncpg://vigie@db:5432/vigie"),
        ("postgres://vigie@db/vigie", "postgresql+asyncpg://vigie@db/vigie"),
        ("postgresql+asyncpg://vigie@db/vigie", "postgresql+asyncpg://vigie@db/vigie"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_gets_the_async_driver(url: str, expected: str) -> None:
    assert CommonSettings(database_url=url).database_url == expected


def test_settings_come_from_vigie_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_KAFKA_PARTITIONS", "7")
    monkeypatch.setenv("VIGIE_DATABASE_URL", "postgres://u@h/d")

    settings = CommonSettings()

    assert settings.kafka_partitions == 7
    assert settings.database_url == "postgresql+asyncpg://u@h/d"
