"""Manage Groups and the Audit log in a real browser: the window used by
keyboard only (create, rename in place, delete after confirmation), the dialog
at phone size, staff read-only, paging and filtering the log, axe at desktop
and phone sizes. (Without JavaScript the window is /groups: tests/test_groups.py.)"""
from playwright.sync_api import expect

from chalicelib.activity import timeline
from chalicelib.core.models import Group
from chalicelib.people.accounts import Viewer
from tests.browser.conftest import assert_accessible, screenshot
from tests.conftest import make_account

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def _focused(page) -> str:
    return page.evaluate("""() => { const e = document.activeElement;
        return (e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent || '').trim(); }""")


def tab_to(page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element is called `name` (keyboard only, as a person would)."""
    for _ in range(limit):
        if _focused(page) == name:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"never reached {name!r} with Tab; ended on {_focused(page)!r}")


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")


def test_manage_groups_window_by_keyboard_only(page, org, sign_in, pump):
    existing = Group(org_id=org.org_id, group_id="f" * 32, name="Digital Skills")
    existing.save()
    sign_in(org.admin)
    page.goto("/clients")
    page.locator("body").focus()
    tab_to(page, "Manage Groups")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Manage Groups")
    expect(dialog).to_be_visible()
    name = dialog.get_by_label("New group name")
    expect(name).to_be_focused()

    page.keyboard.type("Job Club")
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("status")).to_contain_text("Group “Job Club” added.")
    expect(dialog.locator(".group-name")).to_have_text(["Digital Skills", "Job Club"])
    # A duplicate whatever its case: the error is next to the field, the typed name kept.
    name = dialog.get_by_label("New group name")
    page.keyboard.type("JOB CLUB")
    page.keyboard.press("Enter")
    expect(dialog.locator(".field-error")).to_contain_text("already exists")
    expect(dialog.get_by_label("New group name")).to_be_focused()
    expect(dialog.get_by_label("New group name")).to_have_value("JOB CLUB")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    for _ in range(3):
        make_account(org.org_id, group_id=next(g.group_id for g in Group.query(org.org_id) if g.name == "Job Club"))
    pump.drain()
    assert_accessible(page)
    screenshot(page, "groups-window")

    # Rename in place: the pencil turns the row into a field.
    tab_to(page, "Rename Job Club")
    page.keyboard.press("Enter")
    field = dialog.get_by_label("New name for Job Club")
    expect(field).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("Job Club Plus")
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("status")).to_contain_text("Group renamed to “Job Club Plus”.")
    expect(dialog.get_by_role("link", name="Rename Job Club Plus")).to_be_focused()

    # Escape in a rename field cancels the rename, not the window.
    page.keyboard.press("Enter")
    expect(dialog.get_by_label("New name for Job Club Plus")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("link", name="Rename Job Club Plus")).to_be_focused()

    # Delete asks first, saying how many become ungrouped.
    tab_to(page, "Delete Job Club Plus")
    page.keyboard.press("Enter")
    confirm = dialog.locator(".group-confirm")
    expect(confirm).to_contain_text("Its 3 members will become ungrouped.")
    expect(dialog.get_by_role("button", name="Delete group")).to_be_focused()
    assert_accessible(page)
    screenshot(page, "groups-delete-confirm")
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("status")).to_contain_text("Group “Job Club Plus” deleted; 3 members ungrouped.")
    expect(dialog.locator(".group-name")).to_have_text(["Digital Skills"])

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert _focused(page) == "Manage Groups"
    # The Group filter no longer offers it.
    page.reload()
    options = page.locator("#filter-group option").all_inner_texts()
    assert "Job Club Plus" not in options and "Digital Skills" in options


def test_manage_groups_dialog_at_phone_size(browser, live_server, org):
    from tests.browser.conftest import sign_in_as

    Group(org_id=org.org_id, group_id="d" * 32, name="Job Club").save()
    context = browser.new_context(base_url=live_server, viewport=SIZES["phone"])
    phone = context.new_page()
    try:
        sign_in_as(phone, org.admin)
        phone.goto("/clients")
        phone.get_by_role("link", name="Manage Groups").click()
        dialog = phone.get_by_role("dialog", name="Manage Groups")
        expect(dialog.locator(".group-name")).to_have_text(["Job Club"])
        assert_accessible(phone)
        _no_sideways_scroll(phone)
        screenshot(phone, "groups-dialog-phone")
    finally:
        context.close()


def test_staff_see_groups_read_only(page, org, sign_in):
    Group(org_id=org.org_id, group_id="c" * 32, name="Job Club").save()
    sign_in(org.staff)
    page.goto("/clients")
    page.get_by_role("link", name="Manage Groups").click()
    dialog = page.get_by_role("dialog", name="Manage Groups")
    expect(dialog.locator(".group-name")).to_have_text(["Job Club"])
    expect(dialog.get_by_role("button", name="+ Add group")).to_have_count(0)
    expect(dialog.get_by_role("link", name="Rename Job Club")).to_have_count(0)
    expect(dialog).to_contain_text("Only admins can add, rename or delete groups.")


def test_audit_log_paging_and_filters(browser, live_server, org):
    from tests.browser.conftest import sign_in_as

    admin, staff = Viewer.of(org.admin), Viewer.of(org.staff)
    for index in range(55):
        timeline.audit(org.org_id, "group_created", admin, target=(f"g{index}", f"Group {index:02d}"))
    timeline.audit(org.org_id, "invited", staff, role="client", count=2)
    for size_name, size in SIZES.items():
        context = browser.new_context(base_url=live_server, viewport=size)
        page = context.new_page()
        try:
            sign_in_as(page, org.admin)
            page.get_by_role("link", name="Audit log").click()
            expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
            rows = page.locator("table.audit tbody tr")
            expect(rows).to_have_count(50)
            expect(rows.first).to_contain_text("Sam Staff")
            assert_accessible(page)
            _no_sideways_scroll(page)
            screenshot(page, f"audit-log-{size_name}")
            page.get_by_role("link", name="Older entries").click()
            expect(rows).to_have_count(6)
            expect(rows.last).to_contain_text("Group 00")
            page.get_by_role("link", name="Newest").click()
            expect(rows).to_have_count(50)
            # Filters by keyboard: person, then action.
            page.get_by_label("Person").select_option(label="Sam Staff (" + org.staff.email + ")")
            page.get_by_role("button", name="Apply").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Invited people")
            page.get_by_label("Action").select_option("group_created")
            page.get_by_role("button", name="Apply").press("Enter")
            expect(page.get_by_role("heading", name="Nothing matches these filters")).to_be_visible()
            assert_accessible(page)
            if size_name == "desktop":
                screenshot(page, "audit-log-empty")
        finally:
            context.close()


def test_a_stopped_group_delete_says_so_and_continue_ungrouping_finishes_it(page, org, sign_in, group, pump,
                                                                           monkeypatch):
    """A large group's delete runs as a job; cancelled, the window says so and offers to continue."""
    from chalicelib import jobs
    from chalicelib.groups import deletion

    monkeypatch.setattr(deletion, "INLINE_MEMBERS", 1)
    members = [make_account(org.org_id, "client", group_id=group.group_id) for _ in range(3)]
    pump.drain(rounds=1000)  # the member counts the confirmation and the progress use
    deleted = deletion.delete_group(Viewer.of(org.admin), group.group_id)
    sign_in(org.admin)
    page.goto("/groups")
    expect(page.locator("[data-groups-window][data-deleting]")).to_have_count(1)  # running: the dialog polls
    jobs.cancel(Viewer.of(org.admin), deleted.job_id)
    page.goto("/groups")
    row = page.locator(".group-row", has_text="Job Club")
    expect(row).to_contain_text("Being deleted: 1 of 3")
    expect(row).to_contain_text("Cancelled.")
    expect(row.get_by_role("link", name="Progress details")).to_be_visible()
    assert page.locator("[data-groups-window][data-deleting]").count() == 0  # stopped: nothing to poll for
    assert_accessible(page)
    screenshot(page, "groups-delete-stopped")
    row.get_by_role("button", name="Continue ungrouping").click()
    pump.drain(rounds=1000)
    page.goto("/groups")
    expect(page.locator(".group-row", has_text="Job Club")).to_have_count(0)
    assert Group.count(org.org_id) == 0
    from chalicelib.core.models import Account
    assert all(Account.get(org.org_id, m.account_id).group_id is None for m in members)


def test_escape_asks_before_a_typed_group_name_is_lost(page, org, sign_in):
    sign_in(org.admin)
    page.goto("/clients")
    page.get_by_role("link", name="Manage Groups").click()
    dialog = page.get_by_role("dialog", name="Manage Groups")
    name = dialog.get_by_label("New group name")
    expect(name).to_be_focused()
    page.keyboard.type("Half typed")
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()
    question = dialog.get_by_role("alertdialog", name="Discard the group name you typed?")
    expect(question.get_by_role("button", name="Keep editing")).to_be_focused()
    page.keyboard.press("Enter")
    expect(name).to_be_focused()
    expect(name).to_have_value("Half typed")
    dialog.get_by_role("button", name="Close Manage Groups").click()
    question.get_by_role("button", name="Discard").click()
    expect(dialog).to_be_hidden()
    # Nothing typed: Escape simply closes.
    page.get_by_role("link", name="Manage Groups").click()
    expect(dialog.get_by_label("New group name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
