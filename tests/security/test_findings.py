"""Issue 13, findings 5, 7, 8, 9 and the international addresses of 11: each test failed before its fix."""
import base64
import json

import pytest

from chalicelib.activity import api_keys
from chalicelib.core import tokens
from chalicelib.core.models import Account, Activity
from chalicelib.people import accounts
from chalicelib.people.accounts import Viewer
from tests.conftest import make_account, reply_json


# ------------------------------------------------------------------ 5: Authorization never rides on the cookie

def test_a_bearer_header_does_not_switch_off_csrf_for_a_cookie_session(http, org):
    http.sign_in(org.admin)
    response = http.json("PATCH", "/api/v1/me", {"name": "Renamed By Attacker"}, csrf=False,
                         headers={"authorization": "Bearer anything"})
    # The CSRF check itself refuses it (the cookie not counting beside the header is a second defence).
    assert response.status_code == 403 and reply_json(response)["code"] == "csrf_failed"
    assert Account.get(org.org_id, org.admin.account_id).name == "Ada Admin"


def test_a_request_with_an_authorization_header_is_never_signed_in_by_the_cookie(http, org):
    http.sign_in(org.admin)
    response = http.json("GET", "/api/v1/me", headers={"authorization": "Basic abc"})
    assert response.status_code == 401


@pytest.mark.parametrize("authorization", [None, "", "Bearer cl_nope"])
def test_a_missing_or_wrong_key_on_the_key_route_answers_401_not_csrf(http, org, authorization):
    headers = {} if authorization is None else {"authorization": authorization}
    response = http.json("POST", "/api/v1/activities", {"email": org.client.email, "kind": "x"}, csrf=False,
                         headers=headers)
    assert response.status_code == 401 and reply_json(response)["code"] == "unauthenticated"
    http.sign_in(org.admin)  # a session cookie does not stand in for the key
    response = http.json("POST", "/api/v1/activities", {"email": org.client.email, "kind": "x"}, csrf=False,
                         headers=headers)
    assert response.status_code == 401
    assert not [a for a in Activity.query(f"{org.org_id}#{org.client.account_id}") if a.kind == "activity"]


def test_the_key_route_works_with_a_key_and_no_csrf(http, org):
    key = api_keys.create_key(Viewer.of(org.admin), "LMS")[1]
    response = http.json("POST", "/api/v1/activities", {"email": org.client.email, "kind": "course_done"},
                         csrf=False, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 201


# ------------------------------------------------------------------ 7: banners cannot be forged from the URL

@pytest.mark.parametrize("path", ["/clients", "/invite", "/groups", "/exports"])
def test_a_notice_in_the_url_is_never_shown(http, org, path):
    http.sign_in(org.admin)
    page = http.get(f"{path}?notice=Your+session+expired+-+call+0800+666").body.decode()
    assert "call 0800" not in page


def test_a_forged_notice_cookie_is_ignored(http, org):
    http.sign_in(org.admin)
    http.cookies["caseload_notice"] = base64.urlsafe_b64encode(b'"Call 0800 666"').decode()
    assert "Call 0800" not in http.get("/clients").body.decode()
    http.cookies["caseload_notice"] = tokens.seal("cursor", "Call 0800 666")  # sealed for another purpose
    assert "Call 0800" not in http.get("/clients").body.decode()


def test_regenerating_the_link_shows_its_banner_once(http, org):
    http.sign_in(org.admin)
    response = http.post_form("/invite/link/regenerate", {})
    assert response.status_code == 303 and "notice" not in response.headers["Location"]
    assert "A new organisation link was made" in http.get("/invite").body.decode()
    assert "A new organisation link was made" not in http.get("/invite").body.decode()


# ------------------------------------------------------------------ 8: no invisible characters in names

@pytest.mark.parametrize("raw,named", [
    ("Ada\u202eecalevol", "U+202E (Right-To-Left Override)"),
    ("Ada\u200bLovelace", "U+200B (Zero Width Space)"),
    ("Ada\x7f", "U+007F (a control character)"),
    ("Ada\U000e0041", "U+E0041 (Tag Latin Capital Letter A)"),
    ("Ada\u2066x", "U+2066 (Left-To-Right Isolate)"),
    ("Ada\ufeff", "U+FEFF (Zero Width No-Break Space)"),
])
def test_names_with_invisible_characters_are_refused_naming_the_character(http, org, raw, named):
    with pytest.raises(Exception) as caught:
        accounts.clean_name(raw)
    assert named in caught.value.message
    http.sign_in(org.client)
    response = http.json("PATCH", "/api/v1/me", {"name": raw})
    assert response.status_code == 400 and named in reply_json(response)["message"]
    assert Account.get(org.org_id, org.client.account_id).name == "Cleo Client"


def test_names_are_nfc_and_keep_the_joiners():
    assert accounts.clean_name("Rene\u0301e") == "Ren\u00e9e"
    assert accounts.clean_name("\U0001f469\u200d\U0001f4bb Dev") == "\U0001f469\u200d\U0001f4bb Dev"
    assert accounts.clean_name("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == \
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ in Persian


# ------------------------------------------------------------------ 9: cursors are opaque

def test_cursors_cannot_be_read(http, org, pump):
    for n in range(25):
        make_account(org.org_id, name=f"Zelda Secretname {n:02d}")
    pump.drain()
    http.sign_in(org.admin)
    body = reply_json(http.json("GET", "/api/v1/clients?size=25&sort=name"))
    cursor = body["next_cursor"]
    assert cursor
    for decoded in (cursor, base64.urlsafe_b64decode(cursor.split(".")[0] + "===").decode("latin-1")):
        assert "Secretname" not in decoded and org.org_id not in decoded and "Ada" not in decoded
    following = reply_json(http.json("GET", f"/api/v1/clients?size=25&sort=name&cursor={cursor}"))
    assert following["rows"] and following["rows"] != body["rows"]


def test_a_sealed_value_is_bound_to_its_purpose_and_refuses_tampering():
    sealed = tokens.seal("cursor", {"n": "Zelda"})
    assert tokens.unseal("cursor", sealed) == {"n": "Zelda"}
    assert tokens.unseal("history", sealed) is None
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert tokens.unseal("cursor", flipped) is None
    assert tokens.unseal("cursor", "x" * 10_000) is None and tokens.unseal("cursor", "!!") is None
    assert json.dumps({"n": "Zelda"}) not in sealed and sealed != tokens.seal("cursor", {"n": "Zelda"})


# ------------------------------------------------------------------ 11: international addresses, one rule everywhere

def test_international_domains_are_stored_and_sent_as_punycode(http, org):
    assert accounts.normalise_email("Jo@B\u00fccher.de") == "jo@xn--bcher-kva.de"
    http.sign_in(org.admin)
    checked = http.json("POST", "/api/v1/invites/check", {"emails": ["jo@b\u00fccher.de", "j\u00f6rg@x.de"]})
    assert checked.status_code == 200  # the chips' check: the same rule as the API and the CSV
    entries = reply_json(checked)["entries"]
    assert entries[0]["email"] == "jo@xn--bcher-kva.de"
    assert "before the @" in entries[1]["message"]


def test_a_non_ascii_local_part_is_refused_with_a_reason():
    with pytest.raises(Exception) as caught:
        accounts.normalise_email("j\u00f6rg@example.org")
    assert "before the @" in caught.value.message and caught.value.code == "unsupported_address"


# ------------------------------------------------------------------ 11: a hyphenated email found by its prefix

def test_a_hyphenated_email_is_found_when_a_later_part_is_the_longest_word(http, org, pump):
    make_account(org.org_id, name="Jo Bloggs", email=f"jo-annabel@{org.org_id[:8]}.example.org")
    make_account(org.org_id, name="Annabel Other")
    pump.drain()
    http.sign_in(org.admin)
    for query in ("jo-annab", "jo-annabel@", "jo-a"):
        rows = reply_json(http.json("GET", f"/api/v1/clients?q={query}"))["rows"]
        assert [r["name"] for r in rows] == ["Jo Bloggs"], query


# ------------------------------------------------------------------ 11: a staff member is not one of their clients

def test_a_staff_members_own_account_is_not_counted_among_their_clients(http, org, pump):
    second = make_account(org.org_id, name="Cora Client", staff_id=org.staff.account_id)
    make_account(org.org_id, name="Nell Nobody")  # nobody's client
    pump.drain()
    mine = {org.client.account_id, second.account_id}
    http.sign_in(org.staff)
    listed = reply_json(http.json("GET", "/api/v1/clients"))
    assert {r["account_id"] for r in listed["rows"]} == mine
    assert listed["stats"]["total"] == 2
    page = http.get("/clients").body.decode()
    assert '<span class="stat-value" data-stat="total">2</span>' in page
    http.sign_in(org.admin)  # the admin's Staff filter: the same two, not the staff member
    filtered = reply_json(http.json("GET", f"/api/v1/clients?staff={org.staff.account_id}"))
    assert {r["account_id"] for r in filtered["rows"]} == mine and filtered["stats"]["total"] == 2
    stored = Account.get(org.org_id, org.staff.account_id)
    assert stored.caseload_id is None and stored.p_staff.endswith("#-#L")


# ------------------------------------------------------------------ 11: activities only for activated accounts

@pytest.mark.parametrize("status", ["provisioned", "archived"])
def test_activities_are_refused_for_accounts_that_are_not_activated(http, org, status):
    from tests.security.test_isolation_and_csrf import _state

    person = make_account(org.org_id, status=status, name="Not Active")
    key = api_keys.create_key(Viewer.of(org.admin), "LMS")[1]
    before = _state(org.org_id)
    for who in ({"account_id": person.account_id}, {"email": person.email}):
        response = http.json("POST", "/api/v1/activities", {**who, "kind": "course_done"}, csrf=False,
                             headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 400 and reply_json(response)["code"] == "account_not_active", who
        assert status in reply_json(response)["message"]
    assert not [a for a in Activity.query(f"{org.org_id}#{person.account_id}") if a.kind == "activity"]
    assert _state(org.org_id) == before


# ------------------------------------------------------------------ 11: outbox previews styled under a policy of their own

def test_outbox_previews_are_framed_with_a_policy_that_allows_their_inline_styles(http, org, pump):
    from chalicelib.invitations import invites

    invites.invite_many(Viewer.of(org.admin), [f"preview-{org.org_id[:6]}@example.org"])
    pump.drain()  # the mail queue's consumer sends it, as Lambda would
    page = http.get("/dev/outbox")
    body = page.body.decode()
    assert '<iframe class="mail-frame" sandbox src="/dev/outbox/0"' in body
    assert "style-src 'self'" in page.headers["Content-Security-Policy"] and "<td style=" not in body
    mail = http.get("/dev/outbox/0")
    policy = mail.headers["Content-Security-Policy"]
    assert mail.status_code == 200 and "style=" in mail.body.decode()
    assert "style-src 'unsafe-inline'" in policy and "script" not in policy and "sandbox" in policy
    assert mail.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert http.get("/dev/outbox/99999").status_code == 404 and http.get("/dev/outbox/x").status_code == 404


def test_an_email_sent_on_its_own_is_previewed_as_the_reader_sees_it(http, org):
    """Sign-up and password emails go out one by one (SendEmail): the outbox frames their HTML, as it
    does the invitations', instead of printing its source."""
    from chalicelib.invitations import mailer

    assert mailer.send_one(org.admin.email, "password_reset", link="https://caseload.test/reset/t0k3n",
                           expires_at="10:00") == ""
    listing = http.get("/dev/outbox").body.decode()
    newest = listing[listing.index('class="mail'):]
    assert newest.startswith('class="mail-frame" sandbox src="/dev/outbox/0"'), newest[:200]
    mail = http.get("/dev/outbox/0").body.decode()
    assert "Choose a new password" in mail and "https://caseload.test/reset/t0k3n" in mail

