"""Issue 15's walk: every page an admin reaches from the help-centre article, at 1280x800 and at
390x844. Each fits the window (no sideways page scroll), shows its primary action without
scrolling, has no serious or critical axe violation, and leaves a screenshot to look at."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORTS, assert_accessible, assert_fits, screenshot, sign_in_as
from tests.conftest import make_account

# (screenshot name, path, the primary action: (role, accessible name)); {client} is a client's id,
# {invitee} a Provisioned person's, {token} the organisation's sign-up link. None: signed out.
PAGES = [
    ("forgot-password", "/forgot", ("button", "Send reset link"), None),
    ("join", "/join/{token}", ("button", "Create account"), None),
    ("invite-page", "/invite", ("button", "Invite"), "admin"),
    ("manage-groups", "/groups", ("button", "+ Add group"), "admin"),
    ("edit", "/clients/{client}/edit", ("button", "Save changes"), "admin"),
    ("assign", "/clients/{client}/assign", ("button", "Save assignment"), "admin"),
    ("archive", "/clients/{client}/archive", ("button", "Archive"), "admin"),
    ("revoke-confirm", "/invites/revoke?account_id={invitee}", ("button", "Revoke invite"), "admin"),
    ("exports", "/exports", ("link", "View Clients"), "admin"),
    ("audit-log", "/audit", ("button", "Apply"), "admin"),
    ("api-keys", "/settings/api-keys", ("button", "Create key"), "admin"),
    ("my-profile", "/home", ("button", "Save name"), "admin"),
]


@pytest.mark.parametrize("width,height", VIEWPORTS)
@pytest.mark.parametrize("name,path,primary,who", PAGES, ids=[p[0] for p in PAGES])
def test_the_page_fits_and_explains_itself(page, org, name, path, primary, who, width, height):
    page.set_viewport_size({"width": width, "height": height})
    if who:
        sign_in_as(page, org.admin)
    invitee = make_account(org.org_id, "client", status="provisioned", name="Ivy Invitee") if "{invitee}" in path else None
    page.goto(path.format(client=org.client.account_id, token=org.join_token,
                          invitee=invitee.account_id if invitee else ""))
    role, label = primary
    action = page.get_by_role(role, name=label, exact=True).first
    expect(action).to_be_visible()
    screenshot(page, f"page-{name}-{width}")
    assert_fits(page, width, height, action)
    assert_accessible(page)
