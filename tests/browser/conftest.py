"""Real-browser tests: the app served in-process on loopback, driven by
Playwright through Debian's chromium (never a downloaded browser)."""
import os
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from app import app
from tests.conftest import APP_PORT, APP_URL, PASSWORD
from tests.html_check import assert_valid_html
from tools.local import emulator

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items):
    """A browser test gets one retry, as Playwright's own runner gives on CI: a real browser on a
    loaded machine now and then misses a moment that no product change explains. The retry shows
    in the summary ("1 rerun"), a test that fails twice still fails, and each race found is fixed."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))


@pytest.fixture(scope="session")
def live_server():
    server, _thread = emulator.local_server(app, "127.0.0.1", APP_PORT)
    yield APP_URL
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    _check_html_after_goto(opened)
    yield opened
    context.close()


def _check_html_after_goto(page) -> None:
    """After every goto: the server's HTML parses strictly (tests/html_check.py), and the page
    as the browser holds it (scripts run) has unique ids."""
    goto = page.goto

    def checked_goto(url, *args, **kwargs):
        response = goto(url, *args, **kwargs)
        if response is not None and response.headers.get("content-type", "").startswith("text/html"):
            assert_valid_html(response.text(), url)
            ids = [i for i in page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            assert not duplicates, f"duplicate ids on {url}: {duplicates}"
        return response

    page.goto = checked_goto


def sign_in_as(page, account, password=PASSWORD):
    page.goto("/signin")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():  # to the next page's load: a test must not read a half-parsed page
        page.get_by_role("button", name="Sign in").click()
    return page


@pytest.fixture
def sign_in(page):
    return lambda account, password=PASSWORD: sign_in_as(page, account, password)


@contextmanager
def lost_first_step_recovered():
    """A job whose first queue message was purged (so its page showed it working): the sweeper
    re-queues the step and a pump delivers in the background, as Lambda would."""
    from chalicelib.core.models import utcnow
    from chalicelib.jobs import runner

    runner.sweep(now=utcnow() + timedelta(minutes=5))
    with emulator.EventPump(app, interval=0.2).running() as pump:
        yield pump


def screenshot(page, name: str) -> Path:
    """Saved under screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


VIEWPORTS = [(1280, 800), (390, 844)]  # a laptop and a phone: every page must work on both


def assert_fits(page, width: int, height: int, primary) -> None:
    """No sideways page scroll; the primary action inside the first screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    box = primary.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, \
        f"the primary action is not in the first screen: {box}"


def assert_accessible(page) -> None:
    """No serious or critical axe-core violation on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "\n".join(f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: "
                              f"{[n['target'] for n in v['nodes'][:3]]})" for v in bad)



