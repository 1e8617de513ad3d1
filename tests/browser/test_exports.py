"""Export CSV in a real browser: a filtered export downloaded and checked against
Total Clients Shown, a background export's progress then its link, and a scheduled
export fired by the local scheduler appearing in Exports."""
import csv
import io
import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from chalicelib.core.models import ExportSchedule, Group, utcnow
from chalicelib.core.spreadsheet import FORMULA_START
from chalicelib.core.tokens import new_id
from chalicelib.exports import exports, schedules
from tests.browser.conftest import assert_accessible, screenshot
from tests.conftest import _PUMP, make_account


@pytest.fixture
def tricky(org):
    group = Group(org_id=org.org_id, group_id=new_id(), name="=Formula Group")
    group.save()
    for name in ("=cmd|' /C calc'!A0", "+Plus One", "-Minus One", "@At Sign", 'Quote "Q", Comma', "Zoë 😀",
                 "مريم الحسن"):
        make_account(org.org_id, name=name, group_id=group.group_id, staff_id=org.staff.account_id)
    make_account(org.org_id, "staff", name="Other Staff")
    _PUMP.drain()
    return group


def _total(page) -> int:
    return int(page.locator('[data-stat="total"]').inner_text().replace(",", ""))


def _rows(download) -> list:
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_export_with_filters_matches_total_and_is_neutralised(page, sign_in, org, tricky):
    sign_in(org.admin)
    page.goto("/clients")
    page.get_by_label("Role", exact=True).select_option("client")
    expect(page).to_have_url(re.compile(r"role=client"))
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")
    total = _total(page)
    assert total == 8
    assert_accessible(page)
    screenshot(page, "exports-clients-button")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Export CSV").click()
    download = caught.value
    assert re.fullmatch(r"clients-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = _rows(download)
    assert rows[0][0] == "Name" and len(rows) - 1 == total
    assert {r[2] for r in rows[1:]} == {"Client"}
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(FORMULA_START) for cell in cells)
    assert "'=cmd|' /C calc'!A0" in cells and "'-Minus One" in cells and "'=Formula Group" in cells
    assert 'Quote "Q", Comma' in cells and "مريم الحسن" in cells


def test_background_export_shows_progress_then_a_download_link(page, sign_in, org, tricky, monkeypatch):
    monkeypatch.setattr(exports, "DIRECT_MAX_ROWS", 3)
    sign_in(org.admin)
    page.goto("/clients?group=" + tricky.group_id)
    total = _total(page)
    page.get_by_role("button", name="Export CSV").click()
    expect(page.get_by_role("heading", name="Preparing your file…")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "exports-progress")
    _PUMP.drain()
    expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible(timeout=10_000)
    screenshot(page, "exports-ready")
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download CSV").click()
    rows = _rows(caught.value)
    assert len(rows) - 1 == total == 7
    assert not any(cell.startswith(FORMULA_START) for row in rows[1:] for cell in row)


def test_scheduled_export_fired_by_the_local_scheduler_appears_in_exports(page, sign_in, org, tricky):
    sign_in(org.admin)
    page.goto("/exports")
    expect(page.get_by_text("No scheduled exports.")).to_be_visible()
    page.get_by_label("How often").select_option("daily")
    page.get_by_label("Time (UTC)").fill("07:30")
    page.get_by_label("Role", exact=True).select_option("client")
    page.get_by_role("button", name="Schedule export").click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled: Daily at 07:30 (UTC).")
    expect(page.locator("[data-schedule]")).to_contain_text("Role: Client")
    # 07:30 comes (the schedule's next run moves into the past), then the local scheduler's next firing,
    # at the runner's real cadence (a Rate of RUNNER_MINUTES), starts it.
    (schedule,) = ExportSchedule.query(org.org_id)
    run_at = schedules.next_run(schedule)
    past = run_at - timedelta(days=1 + (run_at - utcnow()).days)
    schedule.update(actions=[ExportSchedule.next_run_at.set(f"{past.isoformat()}#{schedule.schedule_id}")])
    fired = _PUMP.run_schedules(now=time.time() + schedules.RUNNER_MINUTES * 60, only={"run_scheduled_exports"})
    assert fired == ["run_scheduled_exports"]
    _PUMP.drain(rounds=50)
    page.reload()
    row = page.locator("[data-export]").first
    expect(row).to_contain_text("Scheduled")
    expect(row).to_contain_text("Role: Client")
    expect(row.get_by_role("link", name="Download")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "exports-list")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "exports-list-phone")
    with page.expect_download() as caught:
        row.get_by_role("link", name="Download").click()
    assert len(_rows(caught.value)) - 1 == 8


def test_stopping_a_schedule_by_keyboard(page, sign_in, org):
    sign_in(org.admin)
    page.goto("/exports")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_role("button", name="Schedule export").press("Enter")
    expect(page.locator("[data-schedule]")).to_have_count(1)
    page.get_by_text("Stop", exact=True).focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Stop scheduled export").press("Enter")
    expect(page.get_by_text("No scheduled exports.")).to_be_visible()


def test_editing_a_schedule(page, sign_in, org):
    sign_in(org.admin)
    page.goto("/exports")
    page.get_by_label("How often").select_option("daily")
    page.get_by_role("button", name="Schedule export").click()
    page.locator("[data-schedule]").get_by_role("link", name=re.compile("^Edit")).click()
    expect(page.get_by_role("heading", name="Edit scheduled export")).to_be_visible()
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("Day (weekly exports)").select_option("Friday")
    page.get_by_label("Time (UTC)").fill("25:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#s-time-error")).to_contain_text("HH:MM")
    assert_accessible(page)
    screenshot(page, "exports-schedule-edit-error")
    page.get_by_label("Time (UTC)").fill("18:45")
    page.get_by_role("button", name="Save schedule").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved: Weekly on Friday at 18:45.")
    expect(page.locator("[data-schedule]")).to_contain_text("Weekly on Friday at 18:45")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "exports-schedules-phone")
