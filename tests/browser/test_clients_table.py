"""The Clients Table in a real browser, on the demo organisation: filters, search, pages, boxes, View Activities."""
import re

import pytest
from playwright.sync_api import expect

from chalicelib.core.models import Account, Group
from tests.browser.conftest import assert_accessible, screenshot
from tests.conftest import _PUMP
from tools.local import demo


@pytest.fixture(scope="module")
def northside(live_server):
    return demo.seed(clients=120, seed_value=7, org_name="Northside Browser Centre")


def _signed_in(page, email: str, password: str):
    page.goto("/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/clients$"))
    return page


@pytest.fixture
def admin_page(page, northside):
    return _signed_in(page, northside.admin_email, northside.password)


def _total(page) -> int:
    return int(page.locator('[data-stat="total"]').inner_text().replace(",", ""))


COLUMNS = {1: ".person", 2: ".c-role", 3: ".c-status .badge", 4: ".c-group", 5: ".c-staff"}


def _column(page, index: int) -> list:
    return page.locator(f"table.clients tbody tr td{COLUMNS[index]}").all_inner_texts()


def _wait_for(page, pattern: str):
    expect(page).to_have_url(re.compile(pattern))
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")


def test_table_filters_update_rows_boxes_and_url(admin_page, northside):
    page = admin_page
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    everyone = _total(page)
    assert everyone > 100 and len(_column(page, 1)) == 25
    assert_accessible(page)
    screenshot(page, "clients-table")

    page.get_by_label("Role", exact=True).select_option("staff")
    _wait_for(page, r"role=staff")
    assert set(_column(page, 2)) == {"Staff"} and _total(page) == len(_column(page, 2)) == 3

    page.get_by_label("Role", exact=True).select_option("client")
    page.get_by_label("Status", exact=True).select_option("provisioned")
    _wait_for(page, r"status=provisioned")
    assert set(_column(page, 3)) == {"Provisioned"} and _total(page) < everyone

    page.get_by_label("Status", exact=True).select_option("archived")
    _wait_for(page, r"status=archived")
    assert set(_column(page, 3)) == {"Archived"}

    page.get_by_label("Status", exact=True).select_option("")
    group = sorted(Group.query(northside.org_id), key=lambda g: g.name)[0]
    page.get_by_label("Group", exact=True).select_option(group.group_id)
    _wait_for(page, rf"group={group.group_id}")
    assert set(_column(page, 4)) == {group.name}
    in_group = _total(page)

    page.get_by_label("Group", exact=True).select_option("")
    page.get_by_label("Staff", exact=True).select_option(label=f"Daniel Hughes ({northside.staff_email})")
    _wait_for(page, r"staff=")
    assert set(_column(page, 5)) == {northside.staff_email}

    page.go_back()  # Back restores the previous filters, in the form and in the table
    _wait_for(page, rf"^(?!.*staff=).*group={group.group_id}")
    assert page.get_by_label("Staff", exact=True).input_value() == ""
    assert page.get_by_label("Group", exact=True).input_value() == group.group_id
    assert _total(page) == in_group
    screenshot(page, "clients-filtered")


def test_search_boxes_match_rows_and_pages_move(admin_page, northside):
    page = admin_page
    surname = Account.get(northside.org_id, _first_client_id(northside)).name.split()[-1]
    page.get_by_label("Search", exact=True).fill(surname[:3])
    _wait_for(page, rf"q={surname[:3]}")
    names = _column(page, 1)
    assert names and all(re.search(rf"\b{surname[:3]}", n, re.IGNORECASE) for n in names)
    if _total(page) <= 25:
        assert _total(page) == len(names)
    page.get_by_label("Search", exact=True).fill("")
    _wait_for(page, r"/clients$")

    first_page = _column(page, 1)
    page.get_by_role("link", name="Next", exact=True).click()
    _wait_for(page, r"cursor=")
    second_page = _column(page, 1)
    assert second_page and not set(first_page) & set(second_page)
    page.get_by_role("link", name="Previous", exact=True).click()
    expect(page.locator("table.clients tbody tr").first).to_contain_text(first_page[0].split("\n")[0])

    page.locator("a.stat", has_text="New Clients").click()
    _wait_for(page, r"box=new")
    expect(page.get_by_text("Showing only the rows counted by")).to_be_visible()
    assert_accessible(page)


def test_view_activities_from_the_row_menu(admin_page, northside):
    page = admin_page
    page.get_by_label("Status", exact=True).select_option("activated")
    _wait_for(page, r"status=activated")
    row = page.locator("table.clients tbody tr").first
    name = row.locator(".person-name").inner_text()
    row.get_by_label(f"Actions for {name}").click()
    row.get_by_role("menuitem", name="View Activities").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".timeline li").first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "view-activities")


def test_staff_see_their_own_caseload_without_a_staff_filter(page, northside):
    _signed_in(page, northside.staff_email, northside.password)
    expect(page.get_by_label("Staff", exact=True)).to_have_count(0)
    staff_column = set(_column(page, 5))
    assert staff_column <= {northside.staff_email, "—"}
    assert_accessible(page)


def test_filters_work_without_javascript(browser, live_server, northside):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = _signed_in(context.new_page(), northside.admin_email, northside.password)
    page.get_by_label("Role", exact=True).select_option("staff")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"role=staff"))
    assert set(_column(page, 2)) == {"Staff"}
    context.close()


def test_narrow_screen_keeps_the_table_usable(admin_page):
    admin_page.set_viewport_size({"width": 420, "height": 900})
    admin_page.reload()
    expect(admin_page.locator("table.clients")).to_be_visible()
    # The table scrolls inside its card; the page itself never scrolls sideways.
    assert admin_page.evaluate("document.documentElement.scrollWidth") <= 420
    screenshot(admin_page, "clients-mobile")


def _first_client_id(northside) -> str:
    for item in Account.role_name.query(f"{northside.org_id}#client#L", limit=1):
        return item.account_id
    raise AssertionError("the demo has clients")


def test_invite_users_opens_from_the_table_and_rows_resend_or_revoke(admin_page, northside):
    from chalicelib.invitations import invites
    from chalicelib.people.accounts import Viewer

    admin = Account.get(northside.org_id, next(
        a.account_id for a in Account.role_name.query(f"{northside.org_id}#admin#L")))
    invites.invite_many(Viewer.of(admin), ["aaron.aardvark@example.org", "aaron.abbott@example.org"])
    _PUMP.drain()  # the stream adds their search words
    page = admin_page
    page.get_by_role("link", name="Invite users").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("textbox", name="Organisation account link")).to_have_value(
        re.compile(rf"/join/{northside.join_token}$"))
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    dialog.get_by_text("Regenerate link").click()  # asks first: the current link would stop working
    expect(dialog.get_by_text("The current link stops working at once")).to_be_visible()
    screenshot(page, "invite-users-regenerate")
    dialog.get_by_text("Regenerate link").click()
    expect(dialog.get_by_text("The current link stops working at once")).to_be_hidden()
    assert_accessible(page)
    screenshot(page, "invite-users-window")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_label("Search", exact=True).fill("aaron")
    _wait_for(page, r"q=aaron")
    expect(page.locator(".invite-state").first).to_have_text("Invited")
    page.get_by_label("Select aaron.aardvark@example.org").check()
    page.get_by_label("Select aaron.abbott@example.org").check()
    page.get_by_role("button", name="Revoke invite").first.click()
    expect(page.get_by_role("status").filter(has_text="Revoked 2 of 2 invitations.")).to_be_visible()
    expect(page.locator(".invite-state").first).to_have_text("Revoked")
    row = page.locator("table.clients tbody tr").first
    row.get_by_label(re.compile("Actions for")).click()
    row.get_by_role("menuitem", name="Resend invite").click()
    expect(page.get_by_role("status").filter(has_text="Resent 1 of 1 invitation.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "clients-invitations")
