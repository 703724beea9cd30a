"""The dashboard in a real browser: ``kibalock dashboard`` on a free port in a namespace of the
local stack, headless Chromium (Debian's ``chromium``, driven by Playwright, which downloads
nothing when given the system's browser) logs in with the admin key, and events published on
``metrics``, ``training.jobs`` and ``models.activations`` must appear on the page by themselves.

The screenshots stay in ``out/test-artifacts/`` (``dashboard-before.png``,
``dashboard-live.png``) for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops
from playwright.async_api import Page, async_playwright

from core.bus import EventProducer, ensure_topics
from core.settings import Settings
from dashboard import frames
from devstack.process import free_port
from schemas import ActivationStatus, JobState, MetricDimension
from tests.dashboard_kit import API_KEY, activation, job, window
from tests.stack_kit import namespaced, with_gateway_keys

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "out" / "test-artifacts"
MV = MetricDimension.MODEL_VERSION
# The running job whose progress bar the page must draw, and its progress.
RUNNING_JOB, RUNNING_PROGRESS = "job-browser-1", 0.37


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("no chromium on PATH: `apt-get install -y chromium` (make test does)")
    return path


@pytest.fixture
async def dashboard(base_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, Settings]]:
    """``kibalock dashboard`` on a free port, refreshing every second; yields its URL."""
    settings = with_gateway_keys(namespaced(base_settings, "d"), API_KEY)
    options = settings.dashboard.model_copy(update={"port": free_port(), "refresh_s": 1.0})
    settings = settings.model_copy(update={"dashboard": options, "dev": True})
    await ensure_topics(settings)
    log = tmp_path / "dashboard.log"
    proc = start_dashboard(settings, log)
    url = f"http://{options.host}:{options.port}"
    try:
        await _healthy(url, proc, log)
        yield url, settings
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_dashboard(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``kibalock dashboard`` as a user starts it, with ``settings`` in its environment."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kibalock_cli.main", "dashboard"],
            env={**os.environ, **settings.to_env()},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _failed(why: str, log: Path) -> None:
    pytest.fail(f"{why}:\n{log.read_text(errors='replace')}")


async def _healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _failed(f"the dashboard exited with {proc.returncode}", log)
            try:
                if (await http.get("/_stcore/health")).text == "ok":
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    _failed("the dashboard was not up within 60 s", log)


async def publish_live_events(settings: Settings) -> float:
    """Windows for two model versions and two terminals, a running and a finished job, a
    rollback, and a record that does not decode; returns the latest global accuracy."""
    latest = window(3, false_rejects=3)
    events = [
        window(1, false_rejects=1),
        window(2, false_rejects=6, false_accepts=2),
        latest,
        *(
            window(m, dimension=MV, value=f"voice-embedder@{v}", false_rejects=r)
            for m in (1, 2, 3)
            for v, r in (("1.0.0", 2 * m), ("1.1.0", 1))
        ),
        *(
            window(m, dimension=MetricDimension.TERMINAL, value=t, attempts=n * m)
            for m in (1, 2, 3)
            for t, n in (("door-a", 12), ("door-b", 30))
        ),
        job(1, "job-browser-0", JobState.SUCCEEDED, progress=1.0, result_version="1.1.0"),
        job(2, RUNNING_JOB, progress=RUNNING_PROGRESS),
        activation(2, "voice-embedder", "1.1.0", previous="1.0.0"),
        activation(
            3,
            "voice-embedder",
            "1.1.0",
            ActivationStatus.ROLLED_BACK,
            previous="1.0.0",
            reason="score_drift",
        ),
    ]
    async with EventProducer(settings, producer_name="tests") as producer:
        for event in events:
            await producer.publish(event)
        await producer.publish_raw("metrics", b"{not json")
    assert latest.accuracy is not None
    return latest.accuracy


async def log_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.get_by_label("Admin key").fill(API_KEY)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("Accuracy (latest window)").wait_for(timeout=30_000)


def changed_pixels(before: Path, after: Path) -> float:
    """The share of pixels that differ between two screenshots (cropped to the smaller)."""
    with Image.open(before) as a, Image.open(after) as b:
        width, height = min(a.width, b.width), min(a.height, b.height)
        box = (0, 0, width, height)
        diff = ImageChops.difference(a.convert("RGB").crop(box), b.convert("RGB").crop(box))
        histogram = diff.convert("L").histogram()
    return 1 - histogram[0] / (width * height)


async def test_live_events_appear_in_the_browser(dashboard: tuple[str, Settings]) -> None:
    url, settings = dashboard
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before, after = ARTIFACTS / "dashboard-before.png", ARTIFACTS / "dashboard-live.png"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            await page.goto(url)
            await page.get_by_label("Admin key").wait_for(timeout=30_000)
            assert "Accuracy (latest window)" not in await page.content()

            await log_in(page, url)
            await page.get_by_text("No metric window yet.").wait_for()
            await page.screenshot(path=before, full_page=True)

            accuracy = await publish_live_events(settings)
            shown = frames.percent(accuracy)
            bar = f"{RUNNING_JOB} · voice-embedder · training · {frames.percent(RUNNING_PROGRESS)}"
            await page.get_by_text(shown, exact=True).wait_for(timeout=30_000)
            await page.get_by_text(bar).wait_for(timeout=10_000)
            await page.get_by_text("1 skipped (malformed: 1)").wait_for(timeout=10_000)
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            await charts.first.wait_for(timeout=10_000)
            await page.wait_for_timeout(1500)  # let the charts finish drawing
            await page.screenshot(path=after, full_page=True)
            dom = await page.content()
            chart_count = await charts.count()
        finally:
            await browser.close()

    assert shown in dom and bar in dom and "No metric window yet." not in dom
    assert chart_count >= 2  # a rate over time, the volume per terminal
    assert after.stat().st_size > 50_000
    assert changed_pixels(before, after) > 0.05
