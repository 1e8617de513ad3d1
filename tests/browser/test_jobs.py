"""The status page of a background job: it polls with backoff and updates itself,
says when it is stalled, stops on a final state, and Retry / Cancel work."""
from datetime import timedelta

from playwright.sync_api import expect

from chalicelib import jobs
from chalicelib.core.models import Job, utcnow
from chalicelib.jobs import lifecycle, runner
from chalicelib.people.accounts import Viewer
from tests.browser.conftest import assert_accessible, lost_first_step_recovered, screenshot
from tests.test_jobs import FAULTS, purge_jobs_queue  # registers the test kinds


def test_a_job_page_follows_the_job_to_done(page, org, sign_in):
    job = jobs.start(Viewer.of(org.admin), "test_count", total=9, params={"n": 9})
    purge_jobs_queue()  # nothing runs until the pump starts
    sign_in(org.admin)
    page.goto(f"/jobs/{job.job_id}")
    expect(page.get_by_role("status")).to_contain_text("Still working — last progress at")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "job-working")
    with lost_first_step_recovered() as pump:
        expect(page.get_by_role("status")).to_have_text("Done.", timeout=20_000)
        expect(page.locator("progress")).to_have_attribute("value", "100")
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
        screenshot(page, "job-done")
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "job-done-phone")
        assert not pump.errors


def test_a_failed_job_says_why_and_retry_continues_it(page, org, sign_in):
    from app import app
    from tools.local import emulator

    job = jobs.start(Viewer.of(org.admin), "test_count", total=6, params={"n": 6})
    purge_jobs_queue()
    FAULTS[job.job_id] = 100
    for _ in range(lifecycle.MAX_ATTEMPTS + 1):
        runner.sweep(now=utcnow() + timedelta(hours=1))
        runner.run_step(job.job_id, 0)
    assert Job.get(job.job_id).status == "failed"
    FAULTS.clear()
    purge_jobs_queue()
    sign_in(org.admin)
    page.goto(f"/jobs/{job.job_id}")
    expect(page.get_by_role("alert")).to_contain_text("Failed: an unexpected error (RuntimeError)")
    expect(page.get_by_role("alert")).to_contain_text("Retry continues from where it stopped")
    assert_accessible(page)
    screenshot(page, "job-failed")
    with emulator.EventPump(app, interval=0.2).running() as pump:
        page.get_by_role("button", name="Retry").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text("Done.", timeout=20_000)
