"""Admins create an API key (shown once), see it listed, and revoke it."""
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, screenshot


def test_admin_creates_and_revokes_an_api_key(page, org, sign_in):
    sign_in(org.admin)
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#f-label-error")).to_have_text("Enter a name.")
    page.get_by_label("What will use it").fill("Learning platform")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy it now: it is shown only once.")).to_be_visible()
    assert page.locator("code.secret").inner_text().startswith("cl_")
    expect(page.get_by_role("cell", name="Learning platform", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "api-keys")
    page.get_by_text("Revoke", exact=True).click()  # asks first: apps using the key would stop at once
    expect(page.get_by_text("stop recording activities at once")).to_be_visible()
    expect(page.get_by_role("cell", name="Learning platform", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "api-keys-revoke")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("No keys yet.")).to_be_visible()
