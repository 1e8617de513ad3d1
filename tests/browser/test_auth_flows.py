"""Sign in, wrong password, sign out, sign-up through the org link, a client kept out of admin pages."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, screenshot
from tests.conftest import mailed_link


def test_sign_in_page_looks_right_and_is_accessible(page, live_server):
    page.goto("/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "signin")


def test_wrong_password_shows_an_error_and_keeps_the_email(page, org):
    page.goto("/signin")
    page.get_by_label("Email").fill(org.admin.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The email or password is not right."
    assert page.get_by_label("Email").input_value() == org.admin.email
    assert_accessible(page)


def test_admin_signs_in_to_view_clients_and_signs_out(page, org, sign_in):
    sign_in(org.admin)
    assert page.url.endswith("/clients")
    assert page.get_by_role("link", name="View Clients").get_attribute("aria-current") == "page"
    page.get_by_role("button", name="Sign out").click()
    assert "/signin" in page.url
    page.goto("/clients")
    assert "/signin" in page.url


def test_sign_up_through_the_organisation_link(page, org):
    page.goto(f"/join/{org.join_token}")
    expect(page.get_by_role("heading", name=f"Join {org.name}")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "join")
    page.get_by_label("Full name").fill("Maya Newcomer")
    page.locator("#f-email").first.fill("maya.newcomer@example.org")
    page.get_by_label("Password").first.fill("short")
    page.get_by_role("button", name="Create account").click()
    assert "Use at least 8 characters." in page.locator(".field-error").inner_text()
    page.get_by_label("Password").first.fill("a-sturdy-passphrase-7")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "join-check-email")
    token = mailed_link("maya.newcomer@example.org", r"/signup/confirm/([A-Za-z0-9_-]+)")
    page.goto(f"/signup/confirm/{token}")
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page).to_have_url(re.compile(r".*/home$"))
    expect(page.get_by_role("heading", name="Welcome, Maya Newcomer")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "client-home")


def test_client_cannot_open_admin_pages(page, org, sign_in):
    sign_in(org.client)
    assert page.url.endswith("/home")
    assert page.get_by_role("link", name="View Clients").count() == 0
    response = page.goto("/clients")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
