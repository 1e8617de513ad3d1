"""The help-centre article followed by keyboard alone (issue 15), at 1280x800 and 390x844:
View Clients, a filter and the search, Invite Users, Manage Groups, the Actions menu
(View Activities, Edit, Assign staff/group, Archive) and Export CSV. After sign-in only
page.keyboard is used (Tab, Shift+Tab, Enter, Space, Escape, arrows); after every window
closes, focus is on something, never lost on <body>."""
import re

import pytest
from playwright.sync_api import expect

from chalicelib.core.tokens import new_id
from tests.browser.conftest import assert_accessible, screenshot, sign_in_as
from tests.browser.test_groups import SIZES, _focused, tab_to as _tab_to
from tests.conftest import make_account



def _focus_kept(page) -> None:
    """Focus is on a real control: not <body>, not nothing."""
    tag = page.evaluate("document.activeElement ? document.activeElement.tagName : 'NONE'")
    assert tag not in ("BODY", "NONE", "HTML"), f"focus lost on {tag}"


def _escape_back_to(page, dialog, opener: str) -> None:
    """Escape closes the window and gives focus back to the control that opened it."""
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    _focus_kept(page)
    assert _focused(page) == opener


def _start(page) -> None:
    """From the top of the page, as after a load: Tab starts at the skip link."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def tab_to(page, name: str, limit: int = 150) -> None:
    _tab_to(page, name, limit)


def _select_by_arrows(page, label: str, option: str, limit: int = 12) -> None:
    """On a focused <select>, ArrowDown until the option shows (a closed select changes with arrows)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement.selectedOptions[0].textContent.trim()") == option:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{label}: never reached {option!r}")


def _rows(page):
    return page.locator("table.clients tbody tr")


def _open_menu_of(page, name: str) -> None:
    _start(page)
    tab_to(page, f"Actions for {name}")
    page.keyboard.press("Enter")
    menu = _rows(page).filter(has_text=name).get_by_role("menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem", name="View Activities")).to_be_focused()


def _choose(page, name: str, item: str) -> None:
    _open_menu_of(page, name)
    for _ in range(6):
        if _focused(page) == item:
            page.keyboard.press("Enter")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no {item!r} in the menu")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_article_by_keyboard_alone(browser, live_server, org, group, pump, size):
    tag = new_id()[:6]
    make_account(org.org_id, "client", name=f"Kim Keyboard{tag}", staff_id=org.staff.account_id,
                 staff_email=org.staff.email)
    pump.drain()  # the stream adds the search words
    viewport = SIZES[size]
    context = browser.new_context(base_url=live_server, viewport=viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in_as(page, org.admin)  # the mouse ends here
        page.goto("/home")

        # 1. View Clients, from the sidebar
        _start(page)
        tab_to(page, "View Clients")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="View Clients")).to_be_visible()
        expect(_rows(page).filter(has_text="Cleo Client")).to_have_count(1)

        # a filter (Role: Staff) and the search
        _start(page)
        if size == "phone":
            tab_to(page, "Filters")
            page.keyboard.press("Enter")
            expect(page.get_by_label("Role", exact=True)).to_be_focused()
        else:
            tab_to(page, "Role")
        _select_by_arrows(page, "Role", "Staff")
        expect(page).to_have_url(re.compile(r"role=staff"))
        expect(_rows(page)).to_have_count(1)
        expect(_rows(page).first).to_contain_text("Sam Staff")
        page.keyboard.press("Home")  # back to All roles
        expect(page).not_to_have_url(re.compile(r"role="))
        if size == "phone":
            tab_to(page, "Show results")
            page.keyboard.press("Enter")
            _focus_kept(page)
        _start(page)
        tab_to(page, "Search")
        page.keyboard.type(f"keyboard{tag}")
        expect(page).to_have_url(re.compile(rf"q=keyboard{tag}"))
        expect(_rows(page)).to_have_count(1)
        expect(_rows(page).first).to_contain_text(f"Kim Keyboard{tag}")
        page.keyboard.press("Control+A")
        page.keyboard.press("Backspace")
        expect(page).not_to_have_url(re.compile(r"q="))
        expect(_rows(page).filter(has_text="Cleo Client")).to_have_count(1)
        screenshot(page, f"kbd-clients-{size}")

        # 2. Invite Users
        _start(page)
        tab_to(page, "Invite users")
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Invite Users")
        expect(dialog).to_be_visible()
        expect(page.locator("#invite-dialog .chips-entry")).to_be_focused()
        page.keyboard.type(f"kbd.{tag}.{size}@example.org, ")
        page.keyboard.type(f"kbd2.{tag}.{size}@example.org")
        page.keyboard.press("Enter")
        expect(dialog.locator(".chip")).to_have_count(2)
        tab_to(page, "Invite")
        page.keyboard.press("Enter")
        expect(dialog.locator("[data-invite-results]")).to_contain_text("2 invited")
        assert_accessible(page)
        screenshot(page, f"kbd-invite-{size}")
        _escape_back_to(page, dialog, "Invite users")

        # 3. Manage Groups: + Add group, rename (pencil), delete (trash) with its confirmation
        _start(page)
        tab_to(page, "Manage Groups")
        page.keyboard.press("Space")  # drawn as a button: Space presses it, as Enter does
        groups = page.get_by_role("dialog", name="Manage Groups")
        expect(groups.get_by_label("New group name")).to_be_focused()
        page.keyboard.type(f"Keys {tag}")
        tab_to(page, "+ Add group")
        page.keyboard.press("Space")
        expect(groups.get_by_role("status")).to_contain_text(f"Group “Keys {tag}” added.")
        tab_to(page, f"Rename Keys {tag}")
        page.keyboard.press("Enter")
        expect(groups.get_by_label(f"New name for Keys {tag}")).to_be_focused()
        page.keyboard.press("Control+A")
        page.keyboard.type(f"Keys2 {tag}")
        page.keyboard.press("Enter")
        expect(groups.get_by_role("status")).to_contain_text(f"Group renamed to “Keys2 {tag}”.")
        tab_to(page, f"Delete Keys2 {tag}")
        page.keyboard.press("Enter")
        expect(groups.get_by_role("button", name="Delete group")).to_be_focused()
        page.keyboard.press("Enter")
        expect(groups.get_by_role("status")).to_contain_text(f"Group “Keys2 {tag}” deleted")
        _focus_kept(page)
        screenshot(page, f"kbd-groups-{size}")
        _escape_back_to(page, groups, "Manage Groups")

        # 4. The Actions menu: arrows, Escape returns focus; View Activities and back
        _open_menu_of(page, "Cleo Client")
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("menuitem", name="Edit")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.get_by_role("button", name="Actions for Cleo Client")).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # View Activities is first
        expect(page.get_by_role("heading", name=re.compile("Cleo Client"))).to_be_visible()
        expect(page).to_have_url(re.compile(r"/activities"))
        _start(page)
        tab_to(page, "View Clients")  # back, by the link (the breadcrumb names the same page)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="View Clients")).to_be_visible()

        # Edit
        _choose(page, "Cleo Client", "Edit")
        expect(page.get_by_role("heading", name="Edit Cleo Client")).to_be_visible()
        _start(page)
        tab_to(page, "Phone")
        page.keyboard.press("Control+A")
        page.keyboard.type("+44 20 7946 0099")
        page.keyboard.press("Enter")
        expect(page.locator(".alert-success")).to_contain_text("Saved the changes to Cleo Client")
        _focus_kept(page)

        # Assign staff/group
        _choose(page, "Cleo Client", "Assign staff/group")
        expect(page.get_by_role("heading", name="Assign Cleo Client")).to_be_visible()
        _start(page)
        tab_to(page, "Group")
        _select_by_arrows(page, "Group", "Job Club")
        tab_to(page, "Save assignment")
        page.keyboard.press("Enter")
        expect(page.locator(".alert-success")).to_contain_text("Assigned Cleo Client")
        expect(_rows(page).filter(has_text="Cleo Client").locator(".c-group")).to_have_text("Job Club")
        _focus_kept(page)

        # Archive with its confirmation
        _choose(page, "Cleo Client", "Archive")
        expect(page.get_by_role("heading", name="Archive Cleo Client?")).to_be_visible()
        _start(page)
        tab_to(page, "Archive")
        page.keyboard.press("Enter")
        expect(page.locator(".alert-success")).to_contain_text("Archived Cleo Client")
        expect(_rows(page).filter(has_text="Cleo Client")).to_have_count(0)
        _focus_kept(page)

        # 5. Export CSV
        _start(page)
        tab_to(page, "Export CSV")
        with page.expect_download() as caught:
            page.keyboard.press("Enter")
        assert re.fullmatch(r"clients-\d{4}-\d{2}-\d{2}\.csv", caught.value.suggested_filename)
        _focus_kept(page)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
        screenshot(page, f"kbd-done-{size}")
    finally:
        context.close()
