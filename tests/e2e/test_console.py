"""The console in a real browser (headless Chromium) against the router on the real broker
and PostgreSQL: a moderator logs in and keeps the inbox open; a crisis comment arrives on
Kafka and its case appears without a reload; the moderator opens it, acknowledges it, and
the timeline says they did.

The router runs in this process (uvicorn on a free port) under a consumer group of its own,
so that another router on the shared broker never takes the test's comment, and with a
database of its own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
import yaml
from playwright.async_api import Browser, Page, async_playwright, expect

from services.classifier import store as classifier_store
from services.router.component import RouterComponent
from services.router.settings import RouterSettings
from shared.bus.kafka import KafkaBus
from shared.codec import to_message
from shared.events import (
    ClassifiedComment,
    derive_id,
)
from shared.runtime import utc_now
from shared.service import standalone_app
from shared.storage.engine import create_engine
from shared.topics import COMMENTS_CLASSIFIED
from tests.console_stack import crisis_policy, moderator_database
from tests.e2e.test_pipeline import skip_backlog
from tests.observability import free_port
from tests.unit import factories as f

pytestmark = pytest.mark.e2e

NAME, PASSWORD = "ana", "e2e-" + uuid.uuid4().hex
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLICY = crisis_policy("console-e2e", "crisis-team")


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    async with moderator_database("vigie_console_e2e", NAME, PASSWORD) as url:
        yield url


# Consumer groups of its own: another router on this shared broker takes none of its records.
GROUP_PREFIX = f"console-e2e-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
async def router(own_database: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[str]:
    """The router's base URL, once it is ready."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(POLICY))
    settings = RouterSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=own_database,
        policy_file=policy_file,
        console_insecure_cookies=True,  # plain HTTP on the loopback
        timer_poll_s=0.5,
        kafka_group_prefix=GROUP_PREFIX,
    )
    await skip_backlog(kafka_bootstrap, GROUP_PREFIX)
    app = standalone_app(
        settings, RouterComponent(settings), title="router", description="console e2e"
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped it
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        try:
            yield chromium
        finally:
            await chromium.close()


def crisis_comment(run: str) -> ClassifiedComment:
    item = f.comment(
        f"console-e2e-{run}",
        text="I can't go on anymore",
        source="e2e",
        author_id=f"author-{run}",
        at=utc_now(),
    )
    return f.sensitive(item)


async def publish(bootstrap: str, item: ClassifiedComment, database_url: str) -> None:
    """What the classifier does with a verdict: store it with its comment, then publish."""
    engine = create_engine(database_url)
    try:
        await classifier_store.record(engine, [item], utc_now())
    finally:
        await engine.dispose()
    bus = KafkaBus(bootstrap, client_id="vigie-test-console")
    await bus.start()
    try:
        await bus.publish([to_message(COMMENTS_CLASSIFIED, item, key=item.comment.partition_key)])
    finally:
        await bus.stop()


async def log_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/console/login?lang=en")
    await page.fill('input[name="name"]', NAME)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page.get_by_test_id("who")).to_have_text(f"{NAME} (moderator)")


async def test_a_crisis_case_appears_live_and_is_acknowledged_from_the_console(
    router: str, kafka_bootstrap: str, own_database: str, browser: Browser
) -> None:
    item = crisis_comment(uuid.uuid4().hex[:10])
    case_id = str(derive_id("case", f"crisis:{item.comment.ref.key}"))
    page = await browser.new_page()
    try:
        await log_in(page, router)
        await expect(page.locator("#live")).to_have_class("live on")  # the stream is open
        await page.evaluate("window.loadedOnce = true")  # gone if the page reloads

        await publish(kafka_bootstrap, item, own_database)
        row = page.locator(f'tr[data-id="{case_id}"]')
        await expect(row).to_be_visible(timeout=30_000)
        stayed = await page.evaluate("window.loadedOnce === true")

        await row.get_by_role("link").click()
        await expect(page.get_by_test_id("status")).to_have_text("open")
        await expect(page.locator("blockquote")).to_have_text("I can't go on anymore")
        await page.get_by_test_id("acknowledge").click()
        await expect(page.get_by_test_id("status")).to_have_text("acknowledged")
        timeline = page.get_by_test_id("timeline")
        ack = timeline.locator("tr", has_text="case.acknowledge")
        await expect(ack).to_contain_text(f"user:{NAME}")
    finally:
        await page.close()  # closes the event stream before the router stops

    assert stayed  # the row arrived in the page loaded before the case existed
