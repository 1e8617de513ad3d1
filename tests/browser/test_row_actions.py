"""The Actions menu and the row actions in a real browser: keyboard-only use of
the menu button, Edit, Assign staff/group, Archive with Transfer caseload,
Restore, bulk Assign, the table's reach at 1280 and 390 px, and the pages
without JavaScript."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, lost_first_step_recovered, screenshot
from tests.conftest import PASSWORD, make_account


def _clients(page, sign_in, org):
    sign_in(org.admin)
    expect(page).to_have_url(re.compile(r"/clients"))
    return page


def _menu_button(page, name):
    return page.get_by_role("button", name=f"Actions for {name}")


def test_the_actions_menu_by_keyboard_only(page, sign_in, org):
    _clients(page, sign_in, org)
    button = _menu_button(page, "Cleo Client")
    expect(button).to_have_attribute("aria-haspopup", "menu")
    button.focus()
    page.keyboard.press("Enter")
    menu = page.locator("table.clients tbody tr", has_text="Cleo Client").get_by_role("menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("menuitem", name="View Activities")).to_be_focused()
    assert [t.strip() for t in menu.get_by_role("menuitem").all_inner_texts()] == [
        "View Activities", "Edit", "Assign staff/group", "Archive"]
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Edit")).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(menu.get_by_role("menuitem", name="Archive")).to_be_focused()  # wraps to the last
    page.keyboard.press("Home")
    expect(menu.get_by_role("menuitem", name="View Activities")).to_be_focused()
    assert_accessible(page)
    screenshot(page, "row-menu-open")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    # ArrowUp opens on the last item; a click outside closes
    page.keyboard.press("ArrowUp")
    expect(menu.get_by_role("menuitem", name="Archive")).to_be_focused()
    page.get_by_role("heading", name="Clients").click()
    expect(menu).to_be_hidden()
    # Edit, by keyboard: open, move, Enter
    button.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Edit Cleo Client")).to_be_visible()
    page.get_by_label("Name").fill("Cleo Keyboard")
    page.get_by_label("Phone").fill("+44 20 7946 0003")
    page.get_by_label("Phone").press("Enter")
    expect(page.locator(".alert-success")).to_contain_text("Saved the changes to Cleo Keyboard")
    expect(page.locator("table.clients").get_by_text("Cleo Keyboard")).to_be_visible()


def test_edit_shows_errors_next_to_fields(page, sign_in, org):
    _clients(page, sign_in, org)
    page.goto(f"/clients/{org.client.account_id}/edit")
    page.get_by_label("Email").fill(org.staff.email)
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#f-name-error")).to_have_text("Enter a name.")
    expect(page.get_by_label("Name")).to_be_focused()  # the page comes back where the problem is
    page.get_by_label("Name").fill("Cleo Client")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#f-email-error")).to_contain_text("already has this email")
    expect(page.get_by_label("Email")).to_have_value(org.staff.email)  # refilled
    expect(page.get_by_label("Email")).to_be_focused()
    assert_accessible(page)
    screenshot(page, "edit-error")


def test_assign_archive_transfer_and_restore(page, sign_in, org, group):
    _clients(page, sign_in, org)
    _menu_button(page, "Cleo Client").click()
    page.get_by_role("menuitem", name="Assign staff/group").click()
    expect(page.get_by_role("heading", name="Assign Cleo Client")).to_be_visible()
    page.get_by_label("Group").select_option(label="Job Club")
    assert_accessible(page)
    screenshot(page, "assign")
    page.get_by_role("button", name="Save assignment").click()
    expect(page.locator(".alert-success")).to_contain_text("Assigned Cleo Client")
    row = page.locator("table.clients tbody tr", has_text="Cleo Client")
    expect(row.locator(".c-group")).to_have_text("Job Club")
    # archive the staff member, moving their caseload on the way
    receiver = make_account(org.org_id, "staff", name="Rita Receiver")
    _menu_button(page, "Sam Staff").click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(page.get_by_role("heading", name="Archive Sam Staff?")).to_be_visible()
    page.get_by_label(re.compile("Transfer caseload to")).select_option(receiver.account_id)
    assert_accessible(page)
    screenshot(page, "archive-confirm")
    page.get_by_role("button", name="Archive").click()
    expect(page.locator(".alert-success")).to_contain_text("Archived Sam Staff and moved 1 clients")
    expect(page.locator("table.clients tbody tr", has_text="Sam Staff")).to_have_count(0)
    expect(row.locator(".c-staff")).to_have_text(receiver.email)
    # restore from the Archived filter
    page.get_by_label("Status", exact=True).select_option("archived")
    expect(page).to_have_url(re.compile("status=archived"))
    _menu_button(page, "Sam Staff").click()
    page.get_by_role("menuitem", name="Restore").click()
    expect(page.locator(".alert-success")).to_contain_text("Restored Sam Staff (Activated)")


def test_reach_at_1280_and_390_px(page, sign_in, org, pump):
    for index in range(3):
        make_account(org.org_id, "client", name=f"Averyveryverylongname Person{index}",
                     staff_id=org.staff.account_id, staff_email=org.staff.email)
    pump.drain()  # the boxes count them before the screenshot, as they would within seconds
    page.set_viewport_size({"width": 1280, "height": 800})
    _clients(page, sign_in, org)
    button = _menu_button(page, "Cleo Client")
    box = button.bounding_box()
    assert box and box["x"] + box["width"] <= 1280, box  # the three dots without scrolling sideways
    wrap = page.locator(".table-wrap").bounding_box()
    created = page.locator("table.clients th", has_text="Date created").bounding_box()
    assert created["x"] + created["width"] <= wrap["x"] + wrap["width"] + 1, (created, wrap)  # not scrolled away
    screenshot(page, "clients-1280")
    button.click()
    _assert_menu_items_whole_and_on_top(page, "Cleo Client")
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    button = _menu_button(page, "Cleo Client")
    button.click()
    menu = page.locator("table.clients tbody tr", has_text="Cleo Client").get_by_role("menu")
    expect(menu).to_be_visible()
    menu_box = menu.bounding_box()
    assert menu_box["x"] >= 0 and menu_box["x"] + menu_box["width"] <= 390
    _assert_menu_items_whole_and_on_top(page, "Cleo Client")
    screenshot(page, "clients-390-menu")


def _assert_menu_items_whole_and_on_top(page, name: str) -> None:
    """Each item of the open menu shows its whole label, and a click anywhere along it lands on it
    (not on the next rows' three dots, which once painted over the menu)."""
    menu = page.locator("table.clients tbody tr", has_text=name).get_by_role("menu")
    problems = menu.get_by_role("menuitem").evaluate_all("""(items) => items.flatMap((item) => {
        const r = item.getBoundingClientRect(), y = r.top + r.height / 2;
        const covered = [r.left + 4, r.left + r.width / 2, r.right - 4].filter(
            (x) => !item.contains(document.elementFromPoint(x, y)));
        const cut = item.scrollWidth > item.clientWidth + 1 || r.right > window.innerWidth;
        return covered.length || cut ? [`${item.textContent.trim()}: covered at ${covered}, cut ${cut}`] : [];
    })""")
    assert not problems, problems


def test_bulk_assign_of_selected_rows(page, sign_in, org, group):
    others = [make_account(org.org_id, "client", name=f"Bulk Person{i}") for i in range(2)]
    _clients(page, sign_in, org)
    for person in others:
        page.get_by_label(f"Select {person.name}").check()
    page.get_by_label("Bulk action").select_option("assign")
    page.get_by_label("Group for selected").select_option(label="Job Club")
    page.get_by_role("button", name="Update selected").click()
    expect(page.locator(".alert-success")).to_contain_text("2 changed")
    for person in others:
        expect(page.locator("table.clients tbody tr", has_text=person.name).locator(".c-group")).to_have_text("Job Club")
    assert_accessible(page)


def test_row_actions_work_without_javascript(browser, live_server, org):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    page.goto("/signin")
    page.get_by_label("Email").fill(org.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    row = page.locator("table.clients tbody tr", has_text="Cleo Client")
    row.locator("summary").click()
    row.get_by_role("link", name="Archive").click()
    page.get_by_role("button", name="Archive").click()
    expect(page.locator(".alert-success")).to_contain_text("Archived Cleo Client")
    context.close()


def test_bulk_archive_of_all_matching_runs_as_a_job_with_progress_and_a_summary(page, sign_in, org, monkeypatch,
                                                                                pump):
    """More than a page of people: the bulk action is a background job whose page shows the
    progress, then the summary, and leads back to the table."""
    from chalicelib.actions import bulk
    from tests.test_jobs import purge_jobs_queue

    monkeypatch.setattr(bulk, "INLINE", 2)
    people = [make_account(org.org_id, "client", name=f"Many Person{i}") for i in range(4)]
    pump.drain(rounds=1000)  # the counters (Total Clients Shown, "All N matching") catch up
    _clients(page, sign_in, org)
    page.get_by_label(f"Select {people[0].name}").check()
    page.get_by_label("Bulk action").select_option("archive")
    page.get_by_label(re.compile(r"All \d+ matching")).check()
    purge_jobs_queue()  # nothing runs until the pump starts: the page shows the job working first
    page.get_by_role("button", name="Update selected").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", name="Bulk action")).to_be_visible()
    expect(page.locator(".alert-success")).to_contain_text("Bulk Archive of")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "bulk-job-working")
    with lost_first_step_recovered() as pump:
        expect(page.locator("[data-job-message]")).to_have_text("Done.", timeout=30_000)
        summary = page.locator("[data-job-summary]")
        expect(summary).to_contain_text("Changed")
        expect(summary).to_contain_text("Refused")  # the admin cannot archive themselves
        assert_accessible(page)
        screenshot(page, "bulk-job-done")
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "bulk-job-done-phone")
        page.get_by_role("link", name="Back to the Clients Table").click()
        expect(page).to_have_url(re.compile(r"/clients"))
