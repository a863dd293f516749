"""The lead explorer in a real headless Chromium against a real worker: publish events, watch the
alert arrive in the live feed, open the lead, and compare what the page shows with the API."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.cli.demo_cmd import buyer_story
from tests.support.accounts import engaged_lead
from tests.support.paths import ROOT
from tests.support.seeds import seed_hot_lead
from tests.support.worker import WorkerProcess, publish_raw

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts"


def post_events(worker: WorkerProcess, events: list[dict[str, object]]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}/events",
        data=json.dumps(events).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def test_hot_lead_appears_live_and_its_page_matches_the_api(
    start_worker: Callable[..., WorkerProcess], unique: str
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: ops/test installs it")
    from playwright.sync_api import expect, sync_playwright

    worker = start_worker()
    lead_id = f"explorer-{unique}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{worker.port}/")  # the front door ops/run prints
            assert page.url == f"http://127.0.0.1:{worker.port}/explorer", page.url
            expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=30_000)

            post_events(worker, seed_hot_lead(lead_id, datetime.now(UTC)))
            row = page.locator(f'#feed li.alert[data-lead-id="{lead_id}"]')
            expect(row).to_have_count(1, timeout=60_000)
            expect(row).to_have_attribute("data-kind", "hot")
            page.screenshot(path=str(ARTIFACTS / "explorer-feed.png"), full_page=True)

            worker.wait_handled(
                8
            )  # the lead page should show every event, not only the tipping one
            row.locator("a").click()
            expect(page.locator("#lead")).to_have_attribute("data-loaded", lead_id)
            api = orjson.loads(worker.get(f"/leads/{lead_id}"))["scores"][0]
            card = page.locator(f'#models .model[data-model="{api["model"]}"]')
            expect(card.locator(".score .value")).to_have_text(str(api["score"]))
            expect(card.locator(".grade")).to_have_text(api["grade"])
            expect(card.locator(".route")).to_have_text(api["route"])
            bars = card.locator("#explanation-chart g.bar")
            shown = {}
            for i in range(bars.count()):
                bar = bars.nth(i)
                shown[bar.get_attribute("data-rule")] = int(bar.get_attribute("data-points") or 0)
            assert shown == {c["rule"]: c["points"] for c in api["explanation"]}
            assert card.locator("#history-chart circle.dot").count() >= 1
            page.screenshot(path=str(ARTIFACTS / "explorer-lead.png"), full_page=True)

            page.goto(f"http://127.0.0.1:{worker.port}/explorer#/")
            page.fill("#search", lead_id[:12])
            expect(page.locator(f'#results li[data-lead-id="{lead_id}"]')).to_have_count(1)

            # A buyer whose events all share one second, each its own batch and so its own
            # change: the chart keeps the changes apart instead of stacking them on one x.
            burst = f"burst-{unique}"
            for n, event in enumerate(buyer_story(burst, datetime.now(UTC)), start=9):
                post_events(worker, [event])
                worker.wait_handled(n)
            page.goto(f"http://127.0.0.1:{worker.port}/explorer#/lead/{burst}")
            expect(page.locator("#lead")).to_have_attribute("data-loaded", burst)
            dots = page.locator("#history-chart circle.dot")
            xs = [float(dots.nth(i).get_attribute("cx") or 0) for i in range(dots.count())]
            page.screenshot(path=str(ARTIFACTS / "explorer-burst.png"), full_page=True)
            assert len(xs) >= 3 and all(b - a >= 10 for a, b in itertools.pairwise(xs)), xs
        finally:
            browser.close()


def test_live_alerts_that_arrive_out_of_time_order_take_their_place_in_the_feed(
    start_worker: Callable[..., WorkerProcess], unique: str
) -> None:
    """Alerts reach an open page in the order Kafka hands them over, which is not alert time
    across partitions: each row goes where its time puts it, newest on top."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: ops/test installs it")
    from playwright.sync_api import expect, sync_playwright

    worker = start_worker()
    topic = f"{worker.env['LEADSCORE_TOPIC_PREFIX']}leads.hot"
    base = datetime.now(UTC).replace(microsecond=0)
    # arrival order 2, 0, 3, 1; alert time order 0 < 1 < 2 < 3 (seconds apart)
    arrivals = [2, 0, 3, 1]

    def alert(n: int) -> bytes:
        emitted = (base + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        return orjson.dumps(
            {"alert_id": f"order-{unique}-{n}", "kind": "hot", "lead_id": f"order-{unique}-{n}",
             "model": "default", "score": 80 + n, "emitted_at": emitted, "explanation": []}
        )  # fmt: skip

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{worker.port}/explorer")
            expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=30_000)
            for n in arrivals:  # one at a time, so each is a live arrival of its own
                message = (topic, f"order-{unique}-{n}".encode(), alert(n))
                sent = publish_raw(worker.env["LEADSCORE_KAFKA_BOOTSTRAP"], [message])
                with ThreadPoolExecutor(1) as pool:  # Playwright holds this thread's event loop
                    pool.submit(asyncio.run, sent).result()
                rows = page.locator(f'#feed li.alert[data-alert-id="order-{unique}-{n}"]')
                expect(rows).to_have_count(1, timeout=30_000)
            shown = page.locator(f'#feed li.alert[data-alert-id^="order-{unique}-"]')
            order = [shown.nth(i).get_attribute("data-alert-id") for i in range(shown.count())]
            assert order == [f"order-{unique}-{n}" for n in (3, 2, 1, 0)], order
        finally:
            browser.close()


def test_explorer_works_behind_the_api_token(
    start_worker: Callable[..., WorkerProcess], unique: str
) -> None:
    """With LEADSCORE_API_TOKEN set, the page sends the token from its `#token=` fragment."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: ops/test installs it")
    from playwright.sync_api import expect, sync_playwright

    token = f"tok-{unique}"
    worker = start_worker(LEADSCORE_API_TOKEN=token)
    lead_id = f"guarded-{unique}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{worker.port}/explorer#token={token}")
            expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=30_000)
            assert token not in page.url  # the fragment is dropped from the address bar

            request = urllib.request.Request(
                f"http://127.0.0.1:{worker.port}/events",
                data=json.dumps(seed_hot_lead(lead_id, datetime.now(UTC))).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
            row = page.locator(f'#feed li.alert[data-lead-id="{lead_id}"]')
            expect(row).to_have_count(1, timeout=60_000)
            worker.wait_handled(8)
            row.locator("a").click()
            expect(page.locator("#lead")).to_have_attribute("data-loaded", lead_id)
            expect(page.locator("#lead-error")).to_be_hidden()
            expect(page.locator("#models .model .score .value")).to_have_text("85")
        finally:
            browser.close()


def test_a_hot_account_appears_live_and_its_page_shows_the_buying_group(
    start_worker: Callable[..., WorkerProcess], unique: str
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: ops/test installs it")
    from playwright.sync_api import expect, sync_playwright

    worker = start_worker()
    account_id = f"acct-{unique}"
    now = datetime.now(UTC)
    members = [f"buyer-{n}-{unique}" for n in range(3)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            page.goto(f"http://127.0.0.1:{worker.port}/explorer")
            expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=30_000)
            for n, lead in enumerate(members):
                post_events(worker, engaged_lead(lead, account_id, now - timedelta(hours=3 - n)))
            row = page.locator(f'#feed li.alert.account[data-account-id="{account_id}"]')
            expect(row).to_have_count(1, timeout=60_000)
            expect(row).to_have_attribute("data-kind", "hot")
            row.locator("a").click()
            expect(page.locator("#account")).to_have_attribute("data-loaded", account_id)
            api = orjson.loads(worker.get(f"/accounts/{account_id}"))["scores"][0]
            card = page.locator(f'#account-models .model[data-model="{api["model"]}"]')
            expect(card.locator(".score .value")).to_have_text(str(api["score"]))
            expect(card.locator(".contacts")).to_have_text("3")
            expect(card.locator(".route")).to_have_text(api["route"])
            shown = card.locator(".members li.member")
            expect(shown).to_have_count(3)
            rows = {
                shown.nth(i).get_attribute("data-lead-id"): int(
                    shown.nth(i).get_attribute("data-score") or -1
                )
                for i in range(3)
            }
            assert rows == {m["lead_id"]: m["score"] for m in api["members"]}
            dots = card.locator("#account-history-chart circle.dot")
            assert dots.count() >= 1
            last = dots.nth(dots.count() - 1)
            assert last.get_attribute("data-engaged-contacts") == "3"
            page.screenshot(path=str(ARTIFACTS / "explorer-account.png"), full_page=True)
            shown.first.locator("a").click()  # a member opens as a lead
            expect(page.locator("#lead")).to_have_attribute("data-loaded", members[0])
        finally:
            browser.close()
