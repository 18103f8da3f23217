"""How long a source may stay silent (VIGIE_SOURCE_SILENCE_AFTER), exported per platform
for the silent-source alert, and the age of the comments ingest publishes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from services.ingest.api import IngestComponent
from services.ingest.settings import IngestSettings, SilenceAfter, parse_silence_after
from services.ingest.signature import sign
from shared.bus.memory import MemoryBus
from shared.metrics import vigie_version
from shared.runtime import Runtime
from shared.service import service_app
from shared.storage.engine import create_engine
from tests.unit import factories as f

HOUR = 3600.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SilenceAfter(12 * HOUR, {})),
        ("default=12h", SilenceAfter(12 * HOUR, {})),
        (
            "meta=6h,x=2h,youtube=24h,default=12h",
            SilenceAfter(12 * HOUR, {"meta": 6 * HOUR, "x": 2 * HOUR, "youtube": 24 * HOUR}),
        ),
        (" x = 90m , default=2d ", SilenceAfter(48 * HOUR, {"x": 1.5 * HOUR})),
        (
            "generic=30s,discourse=1.5h",
            SilenceAfter(12 * HOUR, {"generic": 30.0, "discourse": 5400.0}),
        ),
    ],
)
def test_silence_after_is_read_per_platform(text: str, expected: SilenceAfter) -> None:
    assert parse_silence_after(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("meta", "'meta' is not platform=duration"),
        ("=6h", "'=6h' is not platform=duration"),
        ("meta=6", "meta='6' is not a duration"),
        ("meta=six hours", "meta='six hours' is not a duration"),
        ("meta=6w", "meta='6w' is not a duration"),
        ("meta=0h", "meta must be longer than zero"),
        ("meta=6h,meta=2h", "meta is given twice"),
        ("Meta Pages=6h", "'Meta Pages' is not a platform name"),
    ],
)
def test_a_bad_silence_after_is_refused_naming_the_setting(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="VIGIE_SOURCE_SILENCE_AFTER") as refused:
        parse_silence_after(text)
    assert says in str(refused.value)
    with pytest.raises(ValidationError) as at_start:
        IngestSettings(source_silence_after=text)
    assert "VIGIE_SOURCE_SILENCE_AFTER" in str(at_start.value) and says in str(at_start.value)


def test_a_comment_platform_falls_back_to_its_adapter_then_to_the_default() -> None:
    silence = parse_silence_after("meta=6h,instagram=1h,default=1d")
    assert silence.seconds("instagram", adapter="meta") == HOUR
    assert silence.seconds("facebook", adapter="meta") == 6 * HOUR
    assert silence.seconds("generic", adapter="generic") == 24 * HOUR
    assert silence.seconds("meta") == 6 * HOUR


async def test_ingest_exports_each_platform_s_interval_and_the_age_of_what_it_publishes(
    tmp_path: Path,
) -> None:
    runtime = Runtime(
        bus=MemoryBus(),
        engine=create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}"),
        clock=lambda: f.NOW,
    )
    settings = IngestSettings(
        generic_webhook_secret=SecretStr("secret"),
        source_silence_after="meta=6h,generic=30m,default=1d",
    )

    async def open_runtime() -> Runtime:
        return runtime

    app = service_app(
        title="ingest", open_runtime=open_runtime, components=[IngestComponent(settings)]
    )
    registry = runtime.registry
    created = f.NOW - timedelta(minutes=4)
    body = json.dumps(
        {
            "id": "c-1",
            "text": "hello",
            "author": {"id": "u-1"},
            "post_id": "p-1",
            "created_at": created.isoformat(),
        }
    ).encode()
    async with app.router.lifespan_context(app):
        expected = {
            platform: registry.get_sample_value(
                "vigie_ingest_source_expected_interval_seconds", {"platform": platform}
            )
            for platform in ("meta", "x", "generic")
        }
        assert expected == {"meta": 6 * HOUR, "x": 24 * HOUR, "generic": 0.5 * HOUR}
        headers = {"content-type": "application/json", "x-vigie-signature": sign(b"secret", body)}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            response = await client.post("/webhooks/generic/forum", content=body, headers=headers)
        assert response.status_code == 202, response.text
    age = {"stage": "ingest"}
    assert registry.get_sample_value("vigie_stage_event_age_seconds_count", age) == 1
    assert registry.get_sample_value("vigie_stage_event_age_seconds_sum", age) == 240.0
    info = {"service": "ingest", "version": vigie_version()}
    assert registry.get_sample_value("vigie_build_info", info) == 1
