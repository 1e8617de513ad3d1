"""Row actions over HTTP: the plain pages and forms (errors next to fields,
303 on success), the Actions menu, and the /api/v1 twins (codes, 404 for
another organisation, 422 for bad bodies, OpenAPI)."""
import pytest

from chalicelib.core.models import Account
from chalicelib.core.tokens import new_id
from tests.conftest import Http, make_account, reply_json
from tests.test_account_writes import assert_keys_consistent, stored


def _admin(chalice_client, org) -> Http:
    http = Http(chalice_client)
    http.sign_in(org.admin)
    return http


def _notice(http, reply) -> str:
    """The banner the next page shows after a form's 303."""
    import html
    import re
    assert reply.status_code == 303, reply.body
    page = _page(http, reply.headers["Location"])
    found = re.search(r'<div class="alert alert-success" role="status"[^>]*>(.*?)</div>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def _page(http, path) -> str:
    response = http.get(path)
    assert response.status_code == 200, response.body
    return response.body.decode()


def test_the_menu_offers_every_action_as_a_link_or_form(chalice_client, org):
    http = _admin(chalice_client, org)
    page = _page(http, "/clients")
    client = org.client.account_id
    for path in (f"/clients/{client}/activities", f"/clients/{client}/edit", f"/clients/{client}/assign",
                 f"/clients/{client}/archive", f"/clients/{org.staff.account_id}/transfer"):
        assert f'href="{path}"' in page or f'href="{path}?next=' in page
    assert f'href="/clients/{org.admin.account_id}/archive"' not in page  # not yourself
    assert ">Edit<" in page and ">Assign staff/group<" in page and ">Archive<" in page
    assert "/static/actions.js" in page


def test_edit_page_saves_and_redirects(chalice_client, org):
    http = _admin(chalice_client, org)
    page = _page(http, f"/clients/{org.client.account_id}/edit")
    assert 'name="version" value="1"' in page and 'name="role"' in page
    reply = http.post_form(f"/clients/{org.client.account_id}/edit", {
        "name": "Cleo Edited", "email": org.client.email, "phone": "+44 20 7946 0002", "role": "client",
        "version": "1", "seen_name": "Cleo Client", "csrf_token": http.csrf("/home")})
    assert _notice(http, reply) == "Saved the changes to Cleo Edited."
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.name, raw.phone) == ("Cleo Edited", "+44 20 7946 0002")


def test_every_action_brings_the_person_back_to_the_table_as_they_left_it(chalice_client, org, pump):
    """Filters, search and sort travel as `next` from the row menu through the action's page and its form."""
    import html
    import re
    from urllib.parse import unquote

    http = _admin(chalice_client, org)
    client = org.client.account_id
    pump.drain()  # the search words, as the stream writes them within a second
    page = _page(http, "/clients?role=client&q=cleo&sort=created")
    link = re.search(rf'href="(/clients/{client}/edit\?next=[^"]+)"', page).group(1)
    back = unquote(html.unescape(link).split("next=", 1)[1])
    assert back.startswith("/clients?") and {"role=client", "q=cleo", "sort=created"} <= set(back[9:].split("&"))
    for action in ("edit", "assign", "archive"):
        assert f'href="/clients/{client}/{action}?next=' in page
    edit_page = _page(http, html.unescape(link))
    assert f'href="{html.escape(back)}">Cancel</a>' in edit_page and f'name="next" value="{html.escape(back)}"' in edit_page
    saved = http.post_form(f"/clients/{client}/edit", {
        "name": "Cleo Client", "email": org.client.email, "phone": "", "role": "client", "version": "1",
        "seen_name": "Cleo Client", "next": back, "csrf_token": http.csrf("/home")})
    assert saved.status_code == 303 and saved.headers["Location"] == back
    version = str(Account.get(org.org_id, client).version)
    archived = http.post_form(f"/clients/{client}/archive", {"version": version, "next": back,
                                                              "csrf_token": http.csrf("/home")})
    assert archived.status_code == 303 and archived.headers["Location"] == back, archived.body
    restored = http.post_form(f"/clients/{client}/restore", {"next": "//evil.example/x",
                                                              "csrf_token": http.csrf("/home")})
    assert restored.status_code == 303 and restored.headers["Location"] == "/clients"  # never off the site


@pytest.mark.parametrize("fields, field, message", [
    ({"name": ""}, "name", "Enter a name."),
    ({"email": "not-an-address"}, "email", "not a valid email"),
    ({"role": "owner"}, "role", "Choose Admin, Staff or Client."),
    ({"phone": "call me"}, "phone", "phone number"),
])
def test_edit_errors_show_next_to_the_field_and_keep_the_input(chalice_client, org, fields, field, message):
    http = _admin(chalice_client, org)
    base = {"name": "Typed Name", "email": org.client.email, "phone": "", "role": "client", "version": "1"}
    reply = http.post_form(f"/clients/{org.client.account_id}/edit", {**base, **fields, "csrf_token": http.csrf("/home")})
    assert reply.status_code == 400
    page = reply.body.decode()
    assert f'id="f-{field}-error"' in page and message in page
    assert 'value="Typed Name"' in page or field == "name"
    assert stored(org.org_id, org.client.account_id).version == 1


def test_a_taken_email_and_a_stale_version_are_explained(chalice_client, org):
    http = _admin(chalice_client, org)
    base = {"name": "Cleo Client", "email": org.staff.email, "phone": "", "role": "client", "version": "1",
            "csrf_token": http.csrf("/home")}
    reply = http.post_form(f"/clients/{org.client.account_id}/edit", base)
    assert reply.status_code == 409 and "already has this email" in reply.body.decode()
    other = Http(chalice_client)
    other.sign_in(org.admin)
    other.post_form(f"/clients/{org.client.account_id}/edit", {**base, "email": org.client.email,
                                                               "name": "Someone Else", "csrf_token": other.csrf("/home")})
    stale = http.post_form(f"/clients/{org.client.account_id}/edit", {
        **base, "email": org.client.email, "phone": "+44 1234 5678", "seen_name": "Cleo Client"})
    page = stale.body.decode()
    assert stale.status_code == 409 and "Changed by someone else" in page and "Someone Else" in page
    assert 'name="version" value="2"' in page  # the form now carries the current version
    assert stored(org.org_id, org.client.account_id).phone is None


def test_assign_archive_restore_and_transfer_pages(chalice_client, org, group):
    http = _admin(chalice_client, org)
    assert "Job Club" in _page(http, f"/clients/{org.client.account_id}/assign")
    reply = http.post_form(f"/clients/{org.client.account_id}/assign", {
        "staff_id": org.staff.account_id, "group_id": group.group_id, "csrf_token": http.csrf("/home")})
    assert reply.status_code == 303
    assert stored(org.org_id, org.client.account_id).group_id == group.group_id
    bad = http.post_form(f"/clients/{org.client.account_id}/assign", {
        "staff_id": org.client.account_id, "group_id": "", "csrf_token": http.csrf("/home")})
    assert bad.status_code == 400 and 'id="f-staff_id-error"' in bad.body.decode()
    # archiving a staff member who still has clients offers the transfer
    receiver = make_account(org.org_id, "staff", name="Rita Receiver")
    page = _page(http, f"/clients/{org.staff.account_id}/archive")
    assert "still has 1 client" in page and "Transfer caseload to" in page
    reply = http.post_form(f"/clients/{org.staff.account_id}/archive", {
        "transfer_to": receiver.account_id, "csrf_token": http.csrf("/home")})
    assert reply.status_code == 303
    assert stored(org.org_id, org.staff.account_id).archived
    assert stored(org.org_id, org.client.account_id).staff_id == receiver.account_id
    reply = http.post_form(f"/clients/{org.staff.account_id}/restore", {"csrf_token": http.csrf("/home")})
    assert reply.status_code == 303 and stored(org.org_id, org.staff.account_id).status == "activated"
    # transfer from the row, back again
    assert "Move all 1 client" in _page(http, f"/clients/{receiver.account_id}/transfer")
    reply = http.post_form(f"/clients/{receiver.account_id}/transfer", {
        "to_id": org.staff.account_id, "csrf_token": http.csrf("/home")})
    assert reply.status_code == 303
    assert stored(org.org_id, org.client.account_id).staff_id == org.staff.account_id
    bad = http.post_form(f"/clients/{org.staff.account_id}/transfer", {"to_id": "", "csrf_token": http.csrf("/home")})
    assert bad.status_code == 400 and 'id="f-to_id-error"' in bad.body.decode()


def test_an_archived_persons_cookie_is_refused_on_its_next_request(chalice_client, org):
    person = Http(chalice_client)
    person.sign_in(org.staff)
    assert person.get("/clients").status_code == 200
    http = _admin(chalice_client, org)
    assert http.post_form(f"/clients/{org.staff.account_id}/archive",
                          {"csrf_token": http.csrf("/home")}).status_code == 303
    assert person.get("/clients").status_code == 303  # back to sign-in
    assert person.post_form("/signin", {"email": org.staff.email, "password": "x"}).status_code == 401


def test_forms_need_csrf_and_a_team_role(chalice_client, org):
    http = _admin(chalice_client, org)
    assert http.post_form(f"/clients/{org.client.account_id}/archive", {"csrf_token": "forged"}).status_code == 403
    client = Http(chalice_client)
    client.sign_in(org.client)
    assert client.get(f"/clients/{org.client.account_id}/edit").status_code == 403
    assert not stored(org.org_id, org.client.account_id).archived


def test_bulk_form_applies_to_the_selected_rows(chalice_client, org, group):
    from urllib.parse import urlencode
    http = _admin(chalice_client, org)
    people = [make_account(org.org_id, "client") for _ in range(3)]
    body = urlencode([("csrf_token", http.csrf("/home")), ("bulk_action", "assign"), ("group_id", group.group_id),
                      ("staff_id", "keep")] + [("account_id", p.account_id) for p in people])
    reply = http.request("POST", "/clients/bulk", body.encode(),
                         {"content-type": "application/x-www-form-urlencoded"})
    assert _notice(http, reply) == "Bulk Assign staff/group: 3 changed."
    for person in people:
        assert assert_keys_consistent(org.org_id, person.account_id).group_id == group.group_id
    other_admin = make_account(org.org_id, "admin")
    body = urlencode([("csrf_token", http.csrf("/home")), ("bulk_action", "archive"),
                      ("account_id", people[0].account_id), ("account_id", other_admin.account_id)])
    reply = http.request("POST", "/clients/bulk", body.encode(), {"content-type": "application/x-www-form-urlencoded"})
    assert _notice(http, reply) == ("Bulk Archive: 1 changed, 1 refused. "
                                    "Not changed: Archive admins one at a time, from their row (1).")
    assert stored(org.org_id, other_admin.account_id).status == "activated"


# --------------------------------------------------------------------------- API

def test_api_edit_assign_archive_restore(chalice_client, org, group):
    http = _admin(chalice_client, org)
    base = f"/api/v1/clients/{org.client.account_id}"
    edited = reply_json(http.json("PATCH", base, {"name": "Api Name", "phone": None, "version": 1}))
    assert (edited["name"], edited["version"]) == ("Api Name", 2)
    assigned = reply_json(http.json("POST", f"{base}/assign", {"group_id": group.group_id}))
    assert (assigned["group_id"], assigned["staff_id"]) == (group.group_id, org.staff.account_id)
    assert reply_json(http.json("POST", f"{base}/archive", {}))["status"] == "archived"
    assert reply_json(http.json("POST", f"{base}/restore", {}))["status"] == "activated"
    assert_keys_consistent(org.org_id, org.client.account_id)


@pytest.mark.parametrize("body, status, code", [
    ({"role": "owner"}, 422, None),
    ({"version": "1"}, 422, None),
    ({"unknown": 1}, 422, None),
    ({"version": 99, "name": "X"}, 409, "stale_version"),
    ({"email": "taken"}, 409, "email_taken"),
])
def test_api_edit_bad_input(chalice_client, org, body, status, code):
    http = _admin(chalice_client, org)
    if body.get("email") == "taken":
        body = {"email": org.staff.email}
    reply = http.json("PATCH", f"/api/v1/clients/{org.client.account_id}", body)
    assert reply.status_code == status, reply.body
    answer = reply_json(reply)
    assert answer["message"] and (code is None or answer["code"] == code)
    assert stored(org.org_id, org.client.account_id).version == 1


def test_api_another_organisation_answers_like_nothing(chalice_client, org, other_org):
    http = _admin(chalice_client, org)
    for target in (other_org.client.account_id, new_id()):
        for method, suffix, body in (("PATCH", "", {"name": "X"}), ("POST", "/assign", {"group_id": None}),
                                     ("POST", "/archive", {}), ("POST", "/restore", {})):
            reply = http.json(method, f"/api/v1/clients/{target}{suffix}", body)
            assert reply.status_code == 404 and reply_json(reply) == {"code": "not_found", "message": "No such account."}
    assert stored(other_org.org_id, other_org.client.account_id).version == 1


def test_api_archive_yourself_and_bulk_and_transfer(chalice_client, org, other_org):
    http = _admin(chalice_client, org)
    reply = http.json("POST", f"/api/v1/clients/{org.admin.account_id}/archive", {})
    assert reply.status_code == 400 and reply_json(reply)["code"] == "archive_self"
    reply = http.json("POST", "/api/v1/clients/bulk", {"action": "archive", "account_ids": [
        org.client.account_id, other_org.client.account_id]})
    answer = reply_json(reply)
    assert answer["counts"] == {"changed": 1, "not_found": 1}
    assert {r["account_id"]: r["status"] for r in answer["results"]} == {
        org.client.account_id: "changed", other_org.client.account_id: "not_found"}
    by_filters = reply_json(http.json("POST", "/api/v1/clients/bulk", {"action": "restore", "filters": {
        "status": "archived"}}))  # a page or less: done in the request, each person reported too
    assert by_filters["counts"] == {"changed": 1} and by_filters["job_id"] is None
    assert [(r["account_id"], r["status"]) for r in by_filters["results"]] == [(org.client.account_id, "changed")]
    assert http.json("POST", "/api/v1/clients/bulk", {"action": "delete", "account_ids": ["x"]}).status_code == 422
    receiver = make_account(org.org_id, "staff")
    moved = reply_json(http.json("POST", f"/api/v1/clients/{org.staff.account_id}/transfer",
                                 {"to_id": receiver.account_id}))
    assert moved["changed"] == 1
    reply = http.json("POST", f"/api/v1/clients/{org.staff.account_id}/transfer", {"to_id": org.client.account_id})
    assert reply.status_code == 400 and reply_json(reply)["field"] == "to_id"


def test_api_is_documented(chalice_client, org):
    http = Http(chalice_client)
    paths = reply_json(http.get("/api/v1/openapi.json"))["paths"]
    assert "patch" in paths["/api/v1/clients/{account_id}"]
    for path in ("assign", "archive", "restore", "transfer"):
        assert "post" in paths[f"/api/v1/clients/{{account_id}}/{path}"]
    assert "post" in paths["/api/v1/clients/bulk"]


def test_bulk_on_all_rows_matching_the_filters(chalice_client, org, group, monkeypatch, pump):
    from urllib.parse import urlencode

    from chalicelib.actions import bulk
    http = _admin(chalice_client, org)
    people = [make_account(org.org_id, "client") for _ in range(3)]
    fields = [("csrf_token", http.csrf("/home")), ("bulk_action", "assign"), ("group_id", group.group_id),
              ("staff_id", "keep"), ("scope", "matching"), ("f_role", "client"), ("matching_total", "4")]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    monkeypatch.setattr(bulk, "INLINE", 3)  # more than a page: a background job with its own page
    started = http.request("POST", "/clients/bulk", urlencode(fields).encode(), headers)
    assert started.status_code == 303 and started.headers["Location"].startswith("/jobs/")
    assert "Bulk Assign staff/group of 4 people is running" in _notice(http, started)
    pump.drain()
    done = _page(http, started.headers["Location"])
    assert "Done." in done and "Summary" in done and "Back to the Clients Table" in done
    for person in people + [org.client]:
        assert assert_keys_consistent(org.org_id, person.account_id).group_id == group.group_id
    assert stored(org.org_id, org.staff.account_id).group_id is None
    monkeypatch.setattr(bulk, "INLINE", 100)  # within a page: done in the request
    again = http.request("POST", "/clients/bulk", urlencode(fields).encode(), headers)
    assert _notice(http, again) == "Bulk Assign staff/group: 4 already so."
    bad = http.request("POST", "/clients/bulk", urlencode(fields[:5] + [("f_role", "owner")]).encode(), headers)
    assert "Unknown role" in _notice(http, bad)