"""Invite Users in a real browser: chips typed with comma, space and Enter, the
email in the local outbox, accepting it, and the modal window."""
import re
import time

import pytest

from playwright.sync_api import expect

from chalicelib.core.models import Account
from chalicelib.core.tokens import new_id
from chalicelib.web.render import environment
from tests.browser.conftest import VIEWPORTS, assert_accessible, assert_fits, screenshot, sign_in_as


def _accounts(org_id, email):
    return [Account.get(a.org_id, a.account_id, consistent_read=True)
            for a in Account.by_email.query(email) if a.org_id == org_id]


def test_invite_by_typed_addresses_then_accept_from_the_outbox(page, browser, live_server, org, sign_in):
    tag = new_id()[:8]
    ana, bo = f"ana.{tag}@example.org", f"bo.{tag}@example.org"
    sign_in(org.admin)
    page.goto("/invite")
    entry = page.get_by_label("Email addresses")
    entry.press_sequentially(f"{ana},")
    entry.press_sequentially(f"{bo} ")
    entry.press_sequentially("not-an-address")
    entry.press("Enter")
    chips = page.locator(".chip")
    assert chips.count() == 3
    invalid = page.locator(".chip-invalid")
    invalid.wait_for()
    expect(invalid).to_contain_text("not-an-address")
    expect(invalid.locator(".chip-reason")).to_have_text(re.compile(r"^[^:]+\.$"))  # one short sentence
    expect(page.locator(".chips-summary")).to_contain_text("1 address needs fixing")
    live = page.locator("[data-chips-live]")  # what screen readers announce
    expect(live).to_contain_text("not-an-address is not valid")
    entry.press_sequentially(f"{ana.upper()},")  # the same address in capitals: merged
    assert chips.count() == 3
    expect(live).to_contain_text("already in the list")
    assert_accessible(page)
    screenshot(page, "invite-chips")
    page.get_by_role("button", name="Remove not-an-address").focus()
    page.keyboard.press("Delete")  # keyboard-removable
    expect(chips).to_have_count(2)
    expect(page.locator("[data-chips-notes]")).to_contain_text("Dropped")  # the merged duplicate said so
    expect(page.locator(".chip-invalid")).to_have_count(0)
    expect(live).to_contain_text("Removed not-an-address")
    assert page.get_by_role("switch", name="Send invite email").is_checked()
    page.get_by_role("button", name="Invite", exact=True).click()
    page.wait_for_load_state()
    results = page.locator("#invite-results")
    assert "2 invited" in results.inner_text()
    assert ana in results.inner_text() and bo in results.inner_text()
    screenshot(page, "invite-results")

    from tests.conftest import _PUMP

    _PUMP.drain()  # the mail queue, delivered as `make run`'s pump does in the background
    page.goto("/dev/outbox")
    mail = page.locator("article.mail", has_text=f"to {ana}").first
    link = mail.frame_locator("iframe.mail-frame").get_by_role("link", name="Accept invitation").get_attribute("href")
    assert "/invite/" in link

    invitee = browser.new_context(base_url=live_server).new_page()
    try:
        invitee.goto(link)
        assert invitee.get_by_role("heading", name=f"Join {org.name}").is_visible()
        assert_accessible(invitee)
        screenshot(invitee, "invite-accept")
        invitee.get_by_label("Full name").fill("Ana Newcomer")
        invitee.get_by_label("Password").fill("a-sturdy-passphrase-7")
        invitee.get_by_role("button", name="Accept and sign in").click()
        invitee.wait_for_url("**/home")
        invitee.get_by_role("heading", name="Welcome, Ana Newcomer").wait_for()
        account = _accounts(org.org_id, ana)[0]
        assert account.status == "activated" and account.name == "Ana Newcomer"

        invitee.goto(link)  # the link works once
        assert invitee.get_by_role("heading", name="This invitation has already been used").is_visible()
        assert_accessible(invitee)
    finally:
        invitee.context.close()


def test_paste_splits_on_commas_semicolons_spaces_and_newlines(page, org, sign_in):
    sign_in(org.admin)
    page.goto("/invite")
    entry = page.get_by_label("Email addresses")
    entry.focus()
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.setData('text/plain', 'a@example.org; b@example.org\\nc@example.org, d@example.org e@example.org');
        document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true,
                                                                          cancelable: true}));
    }""")
    assert page.locator(".chip").count() == 5
    assert page.locator(".chips-summary").inner_text().startswith("5 addresses")


def test_the_modal_window_traps_focus_closes_on_escape_and_returns_focus(page, org, sign_in):
    """The lead includes templates/invites/_dialog.html on the Clients Table; here
    it is put on a page the same way, with the button that opens it."""
    sign_in(org.admin)
    page.goto("/invite")
    dialog_html = environment().get_template("invites/_dialog.html").render()
    page.evaluate("""html => {
        const holder = document.createElement('div');
        holder.innerHTML = '<a class="btn btn-primary" href="/invite" data-open-invite>Invite users</a>' + html;
        document.querySelector('main').prepend(holder);
    }""", dialog_html)
    opener = page.get_by_role("link", name="Invite users")
    opener.click()
    dialog = page.get_by_role("dialog", name="Invite Users")
    dialog.wait_for()
    page.locator("#invite-dialog .chips-entry").wait_for()
    expect(page.locator("#invite-dialog .chips-entry")).to_be_focused()
    for _ in range(15):  # Tab never leaves the window
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('#invite-dialog')")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("!!document.activeElement.closest('#invite-dialog')")
    assert_accessible(page)

    email = f"dialog.{new_id()[:8]}@example.org"
    entry = page.locator("#invite-dialog .chips-entry")
    entry.press_sequentially(email)
    entry.press("Enter")
    dialog.get_by_role("button", name="Invite", exact=True).click()
    dialog.locator("[data-invite-results]").wait_for()
    assert "1 invited" in dialog.locator("[data-invite-results]").inner_text()
    assert page.url.endswith("/invite")  # stayed on the page: the window updated in place
    screenshot(page, "invite-dialog")

    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Invite users"


def test_bulk_csv_dry_run_then_import(page, org, sign_in):
    from app import app
    from tools.local import emulator

    with emulator.EventPump(app, interval=0.2).running() as pump:  # S3 → SQS → handler, as Lambda would
        tag = new_id()[:8]
        emails = [f"csv{i}.{tag}@example.org" for i in range(3)]
        content = ("Email,First name,Last name\n" + "".join(f"{e},Person,{i}\n" for i, e in enumerate(emails))
                   + f"not-an-address,Bad,Row\n{emails[0].upper()},Again,Dup\n").encode()
        sign_in(org.admin)
        page.goto("/invite")
        section = page.locator("#invite-csv")
        section.get_by_label("CSV file").set_input_files(
            files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": content}])
        status = section.locator("[data-csv-status]")
        expect(status).to_contain_text("Dry run of people.csv: nobody has been invited yet", timeout=15_000)
        expect(section.locator("[data-count=rows]")).to_have_text("5")
        expect(section.locator("[data-count=would_invite]")).to_have_text("3")
        expect(section.locator("[data-count=invalid]")).to_have_text("1")
        expect(section.locator("[data-count=duplicates]")).to_have_text("1")
        expect(section.locator(".csv-errors")).to_contain_text("Row 5 (not-an-address)")
        expect(section.get_by_role("link", name="Download the error report (CSV)")).to_be_visible()
        assert _accounts(org.org_id, emails[0]) == []  # nothing written by the dry run
        assert_accessible(page)
        screenshot(page, "invite-csv-dry-run")
        section.get_by_role("button", name="Invite").click()
        expect(status).to_be_focused()  # the pressed button hid: focus stays on what happens next
        # The pump also serves the jobs other tests in this process left queued.
        expect(status).to_contain_text("Import finished: 3 invited.", timeout=60_000)
        expect(section.locator("progress")).to_have_attribute("value", "100")
        expect(section.locator("[data-count=invited]")).to_have_text("3")
        screenshot(page, "invite-csv-done")
        assert all(_accounts(org.org_id, e)[0].status == "provisioned" for e in emails)
        assert not pump.errors


def _assert_accessible_with_script(browser, live_server, org, url):
    """axe-core runs as a script: check the same page in a context that allows one."""
    checker = browser.new_context(base_url=live_server)
    try:
        page = sign_in_as(checker.new_page(), org.admin)
        page.goto(url)
        assert_accessible(page)
    finally:
        checker.close()


def _press_until(page, link: str, done, seconds: float = 90) -> None:
    """Press `link` until `done()`: each press waits for the next page to load before it is read
    (read too early, the old page still shows the link's state and the next press finds no link)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"still not done after pressing {link!r} for {seconds} s"
        page.wait_for_timeout(500)
        with page.expect_navigation():
            page.get_by_role("link", name=link).click()


def test_a_file_with_nobody_to_invite_offers_no_invite(page, org, sign_in):
    from app import app
    from tools.local import emulator

    with emulator.EventPump(app, interval=0.2).running():
        sign_in(org.admin)
        page.goto("/invite")
        section = page.locator("#invite-csv")
        section.get_by_label("CSV file").set_input_files(files=[{
            "name": "known.csv", "mimeType": "text/csv", "buffer": f"email\n{org.client.email}\nnot-an-address\n".encode()}])
        status = section.locator("[data-csv-status]")
        expect(status).to_contain_text("nobody in it can be invited", timeout=15_000)
        expect(section.locator("[data-count=would_invite]")).to_have_text("0")
        expect(section.get_by_role("button", name="Invite", exact=True)).to_be_hidden()
        section.get_by_role("button", name="Cancel").click()
        expect(status).to_be_focused()
        expect(status).to_contain_text("Cancelled: nobody was invited from known.csv.")


def test_bulk_csv_without_javascript(browser, live_server, org):
    """The file goes to S3 in a plain form; S3 sends the browser back to the job's page."""
    from app import app
    from tools.local import emulator

    pump = emulator.EventPump(app, interval=0.2)
    pump.start()
    context = browser.new_context(base_url=live_server, java_script_enabled=False,
                                  viewport={"width": 1360, "height": 860})
    try:
        tag = new_id()[:8]
        emails = [f"plain{i}.{tag}@example.org" for i in range(2)]
        page = sign_in_as(context.new_page(), org.admin)
        page.goto("/invite")
        page.get_by_role("button", name="Upload a CSV file").click()
        expect(page.get_by_role("heading", name="Upload CSV")).to_be_visible()
        screenshot(page, "invite-csv-nojs-upload")
        _assert_accessible_with_script(browser, live_server, org, page.url)
        page.get_by_label("CSV file").set_input_files(files=[{
            "name": "plain.csv", "mimeType": "text/csv",
            "buffer": ("email,name\n" + "".join(f"{e},Plain {i}\n" for i, e in enumerate(emails)) + "=cmd(),Bad\n").encode()}])
        page.get_by_role("button", name="Upload").click()
        expect(page).to_have_url(re.compile(r"/invites/uploads/[0-9a-f]{32}\?uploaded=1"))
        # No script polls here: the person presses Check again, every half second for up to 90 s
        # (the pump also serves jobs other tests left in this process's queues).
        _press_until(page, "Check again", lambda: page.get_by_role("button", name="Invite").count())
        expect(page.locator("[data-count=would_invite]")).to_have_text("2")
        expect(page.locator("[data-count=invalid]")).to_have_text("1")
        expect(page.locator(".csv-errors")).to_contain_text("Row 4")
        assert _accounts(org.org_id, emails[0]) == []  # nothing written by the dry run
        screenshot(page, "invite-csv-nojs-dry-run")
        _assert_accessible_with_script(browser, live_server, org, page.url)
        page.get_by_role("button", name="Invite").click()
        _press_until(page, "Check progress", lambda: page.get_by_text("Import finished: 2 invited.").count())
        expect(page.locator("[data-count=invited]")).to_have_text("2")
        screenshot(page, "invite-csv-nojs-done")
        assert all(_accounts(org.org_id, e)[0].status == "provisioned" for e in emails)
        assert not pump.errors
    finally:
        context.close()
        pump.stop()


def _open_window_from_the_table(page):
    page.goto("/clients")
    page.get_by_role("link", name="Invite users").click()
    dialog = page.get_by_role("dialog", name="Invite Users")
    page.locator("#invite-dialog .chips-entry").wait_for()
    return dialog


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_the_invite_window_puts_invite_first_and_fits(page, org, sign_in, width, height):
    page.set_viewport_size({"width": width, "height": height})
    sign_in(org.admin)
    dialog = _open_window_from_the_table(page)
    expect(page.locator("#invite-dialog .chips-entry")).to_be_focused()  # first focus: the first field
    invite = dialog.get_by_role("button", name="Invite", exact=True)
    assert_fits(page, width, height, invite)  # Invite is on screen without scrolling, on a phone too
    # The organisation link is a short copy row; its settings wait behind a disclosure.
    expect(dialog.get_by_role("textbox", name="Organisation account link")).to_be_visible()
    expect(dialog.get_by_text("Regenerate link")).to_be_hidden()
    dialog.get_by_text("Link settings").click()
    expect(dialog.get_by_text("Regenerate link")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = page.locator("#invite-dialog").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    if width < 1280:  # a full-height sheet
        assert box["y"] <= 1 and box["height"] >= height - 2
    assert_accessible(page)
    screenshot(page, f"invite-window-{width}")


def test_invite_is_refused_while_an_address_needs_fixing_and_failures_stay(page, org, sign_in):
    sign_in(org.admin)
    dialog = _open_window_from_the_table(page)
    entry = page.locator("#invite-dialog .chips-entry")
    dialog.get_by_role("button", name="Invite", exact=True).click()  # nothing typed: the server says so
    expect(dialog.get_by_text("Enter at least one email address.")).to_be_visible()
    entry = page.locator("#invite-dialog .chips-entry")  # the window's part came back
    entry.press_sequentially("someone@example.org ")
    expect(dialog.get_by_text("Enter at least one email address.")).to_have_count(0)  # no longer true: gone
    dialog.get_by_role("button", name="Remove someone@example.org").click()
    good = f"fine.{new_id()[:8]}@example.org"
    entry.press_sequentially(f"{good} broken@ {org.staff.email} ")
    expect(dialog.locator(".chip-member")).to_contain_text("Already a member")  # before sending
    expect(dialog.locator(".chip-invalid")).to_have_count(1)
    dialog.get_by_role("button", name="Invite", exact=True).click()
    expect(dialog.locator("[data-invite-blocked]")).to_contain_text("1 address needs fixing")
    expect(dialog.get_by_role("button", name="Remove broken@")).to_be_focused()
    assert not _accounts(org.org_id, good)  # nothing sent

    page.keyboard.press("Escape")  # typed work survives: asks first
    expect(dialog.get_by_text("Discard 3 addresses?")).to_be_visible()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep editing").click()
    expect(dialog.locator(".chip")).to_have_count(3)

    # Sent without JavaScript's check: the server names the bad entry and keeps it in the field.
    page.evaluate("""() => { const t = document.querySelector('#invite-dialog textarea[data-chips]');
        t.chips.chips.forEach((c) => { c.reason = ''; }); }""")
    dialog.get_by_role("button", name="Invite", exact=True).click()
    results = dialog.locator("[data-invite-results]")
    expect(results).to_contain_text("1 invited")
    expect(results).to_contain_text("1 already a member")
    expect(results).to_contain_text("1 address to fix")
    expect(results).not_to_contain_text("suppressed")  # plain words, only when non-zero
    expect(dialog.locator(".chip")).to_have_count(1)  # the failed address stays in the field
    expect(dialog.locator(".chip-text")).to_have_text("broken@")
    screenshot(page, "invite-results-in-window")
    dialog.get_by_role("button", name="Remove broken@").click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".toast")).to_contain_text("1 invited")  # the table behind was refreshed
    expect(page.locator(".toast").get_by_role("link", name="View")).to_be_visible()


def test_link_settings_errors_stay_in_the_window_naming_every_field(page, org, sign_in):
    sign_in(org.admin)
    dialog = _open_window_from_the_table(page)
    dialog.get_by_text("Link settings").click()
    dialog.get_by_label("Expires after (days)").fill("0")
    dialog.get_by_label("Use limit (optional)").fill("0")
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("#f-link-days-error")).to_be_visible()
    expect(dialog.locator("#f-link-max_uses-error")).to_be_visible()  # every bad field at once
    assert page.url.endswith("/clients")  # still on the table, in the window
    expect(dialog.get_by_label("Expires after (days)")).to_be_focused()

    dialog.locator("summary", has_text="Turn link off").click()  # destructive: asks first, in danger colours
    expect(dialog.get_by_text("Nobody can sign up with the link while it is off")).to_be_visible()
    dialog.get_by_role("button", name="Turn link off").click()
    expect(dialog.locator("[data-notice]")).to_contain_text("off")  # the result shows in place
    expect(dialog.get_by_text("The link is turned off")).to_be_visible()
    expect(dialog.get_by_text("Anyone with this link")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "invite-link-off")
