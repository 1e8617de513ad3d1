"""The Clients Table in a real browser, on the demo organisation: filters, search, pages, boxes, View Activities."""
import re

import pytest
from playwright.sync_api import expect

from chalicelib.core.models import Account, Group
from tests.browser.conftest import VIEWPORTS, assert_accessible, assert_fits, screenshot
from tests.conftest import _PUMP
from tools.local import demo


@pytest.fixture(scope="module")
def northside(live_server):
    return demo.seed(clients=120, seed_value=7, org_name="Northside Browser Centre")


def _signed_in(page, email: str, password: str):
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():  # to the table's load: the URL changes before the page is parsed
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
    expect(page.get_by_role("heading", name="View Clients")).to_be_visible()
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
    _wait_for(page, rf"q={surname[:3].lower()}")
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

    page.get_by_role("link", name="New Clients").click()
    _wait_for(page, r"box=new")
    expect(page.locator(".filter-chip")).to_contain_text("New Clients only")
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


def _first_client_id(northside) -> str:
    for item in Account.role_name.query(f"{northside.org_id}#client#L", limit=1):
        return item.account_id
    raise AssertionError("the demo has clients")


def _client_with_sessions(northside) -> str:
    """A client of the demo with sessions to show (earlier tests may have changed the first ones)."""
    from chalicelib.core.models import Session

    for item in Account.role_name.query(f"{northside.org_id}#client#L"):
        if item.status == "activated" and list(Session.by_account.query(f"{northside.org_id}#{item.account_id}", limit=1)):
            return item.account_id
    raise AssertionError("the demo has clients with sessions")


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
    dialog.get_by_text("Link settings").click()  # behind a disclosure: inviting by email comes first
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
    expect(page.locator(".invite-state").first).to_have_text("Invitation sent")
    bar = page.locator("[data-bulk-bar]")
    expect(bar).to_be_hidden()  # the bulk bar appears only once rows are selected
    page.get_by_label("Select aaron.aardvark@example.org").check()
    expect(bar).to_contain_text("1 selected")
    page.get_by_label("Select every row on this page").check()
    expect(bar).to_contain_text("2 selected")
    bar.get_by_text("Revoke invite").click()  # destructive: asks first, in danger colours
    expect(bar.get_by_text("Revoke the selected invitations?")).to_be_visible()
    url_before = page.url
    bar.get_by_role("button", name="Revoke invitations").click()
    # Answered on the table: a toast, the rows refreshed, no other page.
    expect(page.locator(".toast").filter(has_text="Revoked 2 of 2 invitations.")).to_be_visible()
    expect(page.locator(".invite-state").first).to_have_text("Invitation revoked")
    assert page.url == url_before
    expect(page.get_by_label("Select every row on this page")).to_be_focused()
    # The row menu's Resend and Revoke ask first too, in a dialog over the table, in danger colours.
    row = page.locator("table.clients tbody tr").first
    menu_button = row.get_by_label(re.compile("Actions for"))
    menu_button.click()
    row.get_by_role("menuitem", name="Revoke invite").click()
    question = page.get_by_role("dialog", name=re.compile(r"Revoke the invitation of aaron\.aa"))
    expect(question).to_be_visible()
    expect(question.get_by_role("link", name="Cancel")).to_be_focused()  # starts on the safe answer
    page.keyboard.press("Escape")
    expect(question).to_have_count(0)
    expect(menu_button).to_be_focused()
    menu_button.press("Enter")
    row.get_by_role("menuitem", name="Resend invite").click()
    question = page.get_by_role("dialog", name=re.compile("Resend the invitation to"))
    expect(question.get_by_text("The link in earlier invitation emails stops working at once.")).to_be_visible()
    danger = question.get_by_role("button", name="Resend invite")
    assert "btn-danger" in danger.get_attribute("class")
    assert_accessible(page)
    screenshot(page, "clients-resend-confirm")
    danger.click()
    expect(page.locator(".toast").filter(has_text="A new invitation is on its way")).to_be_visible()
    expect(page.locator(".invite-state").first).to_have_text(re.compile("Invitation (queued|sent)"))
    expect(page.locator("table.clients tbody tr").first.get_by_label(re.compile("Actions for"))).to_be_focused()
    assert page.url == url_before
    assert_accessible(page)
    screenshot(page, "clients-invitations")


def _every_column_shows(page, width: int) -> None:
    wrap = page.locator(".table-wrap").first
    sizes = wrap.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    widths = page.locator("table.clients thead th").evaluate_all(
        "(cells) => cells.map((c) => [c.textContent.trim(), Math.round(c.getBoundingClientRect().width)])")
    assert sizes[0] <= sizes[1], (sizes, widths)
    right = wrap.bounding_box()["x"] + wrap.bounding_box()["width"]
    for header in ("Date created", "Last visit", "Assigned staff email"):
        box = page.locator("table.clients thead th").filter(has_text=header).bounding_box()
        assert box["x"] + box["width"] <= right, (header, widths)
    dots = page.locator("table.clients tbody tr").first.get_by_label(re.compile("Actions for")).bounding_box()
    assert dots["x"] + dots["width"] <= min(right, width)


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_the_table_fits_the_screen(admin_page, width, height):
    page = admin_page
    page.set_viewport_size({"width": width, "height": height})
    page.reload()
    screenshot(page, f"clients-table-{width}")
    assert_fits(page, width, height, page.get_by_role("link", name="Invite users"))
    rows = page.locator("table.clients tbody tr")
    if width >= 1280:
        # The boxes and at least 8 rows above the fold.
        assert page.locator(".stats").bounding_box()["y"] < height
        assert rows.nth(7).bounding_box()["y"] + rows.nth(7).bounding_box()["height"] <= height
        # Every column, Date created and the three dots included, without sideways scroll in the
        # table either: on the default page and on invitations (two badges in Status).
        for query in ("", "?status=provisioned"):
            page.goto(f"/clients{query}")
            _every_column_shows(page, width)
    else:
        # Rows are cards: name, status and the menu button side by side, all on screen.
        first = rows.first
        for part in (first.locator(".person"), first.locator(".c-status .badge").first,
                     first.locator(".row-actions .menu-button, .row-actions summary").first):
            box = part.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
        # Every column of the table is in the card, labelled.
        for column in (".c-role", ".c-group", ".c-staff", ".c-visit", ".c-created"):
            cell = first.locator(column)
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (column, box)
        label = first.locator(".c-visit").evaluate("(td) => getComputedStyle(td, '::before').content")
        assert label == '"Last visit: "', label
        # A card shows the whole name and email (wrapped, never cut off with an ellipsis).
        cut = page.locator("table.clients .person-name, table.clients .person-email").evaluate_all(
            "(spans) => spans.filter((s) => s.scrollWidth > s.clientWidth + 1).map((s) => s.textContent)")
        assert not cut, cut
        # The filters wait behind one button that opens a sheet.
        expect(page.get_by_label("Role", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Filters").click()
        expect(page.get_by_label("Role", exact=True)).to_be_focused()
        # Stacked in the sheet, each filter is as tall as its label and control, no taller.
        heights = page.locator(".filter-fields .field").evaluate_all("(fs) => fs.map((f) => f.offsetHeight)")
        assert heights and max(heights) <= 72, heights
        page.get_by_label("Role", exact=True).select_option("client")
        _wait_for(page, r"role=client")
        page.get_by_role("button", name="Show results").click()
        expect(page.get_by_role("button", name="Filters (1)")).to_be_focused()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert_accessible(page)
    screenshot(page, f"clients-table-{width}")


# A select shows its chosen text between its padding and Chromium's arrow (~20 px).
OPTION_FITS = """(select) => [...select.options].filter((option) => {
    const style = getComputedStyle(select), text = document.createElement('canvas').getContext('2d');
    text.font = style.font;
    const needed = text.measureText(option.text).width + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) + 20;
    return needed > select.clientWidth; }).map((option) => option.text)"""


@pytest.mark.parametrize("width", [1280, 1440])
def test_every_fixed_filter_choice_shows_in_full(admin_page, width):
    """Role, Status and Last visit offer words of ours: each choice reads in full once chosen
    ("No visit in 90 days" used to show as "No visit in" at 1280 px), and the bar stays one row."""
    page = admin_page
    page.set_viewport_size({"width": width, "height": 860})
    for name in ("Role", "Status", "Last visit"):
        assert page.get_by_label(name, exact=True).evaluate(OPTION_FITS) == [], name
    search, role = page.locator(".filter-search").bounding_box(), page.get_by_label("Role", exact=True).bounding_box()
    assert abs(search["y"] - page.locator(".filter-sheet").bounding_box()["y"]) < 1  # one row
    assert page.get_by_label("Search", exact=True).bounding_box()["x"] + search["width"] <= role["x"]


def test_search_explains_itself(admin_page, northside):
    page = admin_page
    expect(page.get_by_text("Start of a name or email; 2+ characters")).to_be_visible()
    page.get_by_label("Search", exact=True).fill("a")  # one letter: said, not silently ignored
    expect(page.locator("#q-error")).to_contain_text("at least 2 letters")
    expect(page.locator("[data-results-status]")).to_contain_text("at least 2 letters")
    page.get_by_label("Search", exact=True).fill("da")
    _wait_for(page, r"q=da")
    expect(page.locator("#q-error")).to_be_hidden()
    expect(page.get_by_label("Sort by")).to_have_value("Best match")
    expect(page.get_by_label("Sort by")).to_be_disabled()


def test_sort_and_box_filters_survive_other_changes(admin_page):
    page = admin_page
    page.get_by_label("Last visit", exact=True).select_option("30")
    _wait_for(page, r"no_visit=30")
    expect(page.get_by_label("Sort by")).to_have_value("visit")  # no visit: longest-absent first
    page.get_by_label("Sort by").select_option("name")  # the admin's choice sticks
    _wait_for(page, r"no_visit=30.*sort=name|sort=name.*no_visit=30")
    expect(page.locator("[data-results-status]")).to_have_text(re.compile(r"clients? shown, sorted by name"))
    page.reload()
    expect(page.get_by_label("Sort by")).to_have_value("name")

    page.get_by_label("Last visit", exact=True).select_option("0")
    _wait_for(page, r"^(?!.*no_visit)")
    page.get_by_role("link", name="New Clients").click()
    _wait_for(page, r"box=new")
    expect(page.get_by_label("Sort by")).to_have_value("Date created, newest first")  # the sort applied
    expect(page.locator(".stat.is-current")).to_contain_text("New Clients")
    page.get_by_label("Role", exact=True).select_option("client")
    _wait_for(page, r"role=client")
    assert "box=new" in page.url  # another filter keeps the box...
    page.get_by_role("link", name="Show all rows, not only New Clients").click()  # ...shown as a removable chip
    _wait_for(page, r"^(?!.*box=)")
    expect(page.locator(".filter-chip")).to_have_count(0)


def test_stat_boxes_explain_themselves_on_touch_and_keyboard(admin_page):
    page = admin_page
    info = page.get_by_label("What is Engagement?")
    info.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Share of the accounts shown that signed in")).to_be_visible()
    expect(page.get_by_text("Weekly active, last 12 weeks")).to_be_visible()
    expect(page.locator(".stat-wide .stat-change")).to_contain_text("pts")  # change in the headline's unit


def test_pages_say_where_they_are_and_reach_the_last(admin_page):
    page = admin_page
    total = _total(page)
    expect(page.locator(".pager")).to_contain_text(f"1–25 of {total:,}")
    page.get_by_role("link", name="Last", exact=True).click()
    _wait_for(page, r"cursor=")
    expect(page.locator(".pager")).to_contain_text(f"{total - 24:,}–{total:,} of {total:,}")
    expect(page.get_by_role("link", name="Next", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Previous", exact=True).click()
    expect(page.locator(".pager")).to_contain_text(f"{total - 49:,}–{total - 25:,} of {total:,}")


def test_tab_reaches_the_page_before_sign_out(admin_page):
    page = admin_page
    order = page.evaluate("""() => [...document.querySelectorAll('a[href], button, input, select')]
        .filter((el) => el.offsetParent !== null).map((el) => el.textContent.trim() || el.name || el.id)""")
    assert order.index("Sign out") > order.index("Invite users"), order
    assert order.index("Sign out") == len(order) - 1, order


def test_empty_selection_without_javascript_stays_on_the_table(browser, live_server, northside):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = _signed_in(context.new_page(), northside.admin_email, northside.password)
    page.get_by_label("Status", exact=True).select_option("provisioned")
    page.get_by_role("button", name="Apply").click()
    page.locator("[data-bulk-bar]").get_by_text("Resend invite").click()  # asks first
    page.locator("[data-bulk-bar]").get_by_role("button", name="Resend invitations").click()
    expect(page).to_have_url(re.compile(r"/clients\?"))
    expect(page.get_by_role("status").filter(has_text="Choose at least one person.")).to_be_visible()
    expect(page.get_by_role("heading", name="View Clients")).to_be_visible()
    context.close()


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_view_activities_fits_the_screen(admin_page, northside, width, height):
    page = admin_page
    page.set_viewport_size({"width": width, "height": height})
    person = _client_with_sessions(northside)
    page.goto(f"/clients/{person}/activities")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    assert_fits(page, width, height, page.get_by_role("link", name="View Clients").last)
    # One date format with the year on the whole page.
    dates = page.locator("main time").all_inner_texts()
    assert dates and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", d) for d in dates), dates
    expect(page.locator(".timeline-kind").filter(has_text=re.compile(r"role: ", re.I))).to_have_count(0)
    # Every session column in view, without scrolling the table sideways.
    wrap = page.locator(".sessions").locator("xpath=..")
    assert wrap.evaluate("(w) => w.scrollWidth <= w.clientWidth + 1"), wrap.evaluate("(w) => [w.scrollWidth, w.clientWidth]")
    assert_accessible(page)
    screenshot(page, f"view-activities-{width}")


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_the_upload_page_fits_the_screen(browser, live_server, admin_page, northside, width, height):
    # Reached without JavaScript (the window's form posts, the page is the upload's own), then
    # looked at with JavaScript on: axe runs as a script.
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    plain = _signed_in(context.new_page(), northside.admin_email, northside.password)
    plain.goto("/invite")
    plain.get_by_role("button", name="Upload a CSV file").click()
    expect(plain.get_by_role("heading", name="Upload CSV")).to_be_visible()
    upload_url = plain.url
    context.close()
    page = admin_page
    page.set_viewport_size({"width": width, "height": height})
    page.goto(upload_url)
    expect(page.get_by_role("heading", name="Upload CSV")).to_be_visible()
    assert_fits(page, width, height, page.get_by_role("button", name="Upload", exact=True))
    assert_accessible(page)
    screenshot(page, f"upload-{width}")


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_sign_in_fits_the_screen(page, live_server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/signin")
    assert_fits(page, width, height, page.get_by_role("button", name="Sign in"))
    assert_accessible(page)
    screenshot(page, f"sign-in-{width}")
