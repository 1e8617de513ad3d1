"""Invite Users: address parsing, invite_many, the JSON API and the plain page,
the invitation lifecycle (accept, expiry, resend, revoke), suppression, costs."""
import json
import re
import threading
from collections import Counter
from datetime import timedelta

import botocore.client
import pytest

from app import app
from chalicelib.core.errors import ValidationError
from chalicelib.core.models import Account, Lookup, utcnow
from chalicelib.core.tokens import hash_token, new_id
from chalicelib.invitations import invites, lifecycle
from chalicelib.invitations.addresses import (
    MAX_ADDRESSES,
    check_address,
    check_addresses,
    split_addresses,
)
from chalicelib.invitations.suppression import mark_suppressed
from chalicelib.people.accounts import Viewer, email_lookup_key
from tests.conftest import _PUMP, make_account, reply_json
from tools.local import outbox

LINK = re.compile(r"/invite/([A-Za-z0-9_-]{40,})")


def fresh(name="person") -> str:
    return f"{name}.{new_id()[:10]}@example.org"


def accounts_for(org_id: str, email: str) -> list:
    """Full accounts (the by_email index projects keys only)."""
    return [Account.get(a.org_id, a.account_id, consistent_read=True)
            for a in Account.by_email.query(email) if a.org_id == org_id]


def mail_to(email: str) -> list:
    """What SES sent to `email`, once the mail queue has been delivered."""
    _PUMP.drain()
    return [m for m in outbox.sent_messages() if m["to"] == email]


def token_for(email: str) -> str:
    """The link in the newest invitation email to `email`, as the person would click it."""
    return LINK.search(mail_to(email)[0]["text"]).group(1)


def invite_api(http, emails, **extra):
    return http.json("POST", "/api/v1/invites", {"emails": emails, **extra})


# --------------------------------------------------------------------------- addresses (pure)

def test_split_addresses_on_commas_semicolons_spaces_and_newlines():
    assert split_addresses("a@x.org, b@x.org;c@x.org d@x.org\ne@x.org\r\n\tf@x.org,,") == [
        "a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org", "f@x.org"]


def test_a_header_line_stays_one_invalid_entry():
    entries = split_addresses("a@x.org\nBcc: evil@y.org, other@y.org")
    assert entries == ["a@x.org", "Bcc: evil@y.org, other@y.org"]
    assert not check_address(entries[1]).valid


@pytest.mark.parametrize("raw,reason", [
    ("a@x.org\r\nBcc: evil@y.org", "line break"),
    ("a@x.org\nb@x.org", "line break"),
    ("Bcc:evil@y.org", "Bcc:"),
    ("a@x.org bcc: evil@y.org", "Bcc:"),
    ("no-at-sign", "must have an @-sign"),  # one short sentence per problem
    ("two@@x.org", "after the @-sign contains invalid characters"),
    ("a@x", "after the @-sign is not valid"),
    ("a@x.org,b@x.org", "single email address"),
    ("<a@x.org>", "single email address"),
])
def test_bad_addresses_are_invalid_with_a_reason(raw, reason):
    entry = check_address(raw)
    assert not entry.valid and reason in entry.reason


def test_duplicates_are_merged_case_insensitively():
    entries = check_addresses(["Ana@Example.org", "ana@example.ORG", "bob@example.org"])
    assert [e.email for e in entries] == ["ana@example.org", "ana@example.org", "bob@example.org"]
    assert [e.duplicate for e in entries] == [False, True, False]


@pytest.mark.parametrize("raws,code", [
    ([], "no_addresses"),
    (["  ", ""], "no_addresses"),
    ([f"p{i}@example.org" for i in range(MAX_ADDRESSES + 1)], "too_many_addresses"),
    ("a@x.org", "invalid"),
    ([1, 2], "invalid"),
])
def test_lists_that_cannot_be_invited(raws, code):
    with pytest.raises(ValidationError) as caught:
        check_addresses(raws)
    assert caught.value.code == code and caught.value.field == "emails" and caught.value.message


# --------------------------------------------------------------------------- invite_many (domain)

def test_invite_many_reports_each_address(org):
    new, upper = fresh("new"), fresh("dup")
    report = invites.invite_many(Viewer.of(org.admin), [new, "not-an-address", upper.upper(), upper,
                                                        org.client.email.upper()])
    by_input = {o.input: o for o in report.outcomes}
    assert [o.status for o in report.outcomes] == ["invited", "invalid", "invited", "exists"]
    assert by_input["not-an-address"].message == "An email address must have an @-sign."
    assert by_input[upper.upper()].email == upper  # merged with its later copy, stored lower-case
    assert report.counts == {"invited": 2, "exists": 1, "invalid": 1, "suppressed": 0}
    assert Account.get(org.org_id, by_input[new].account_id).invite_state == "queued"  # the email is on its way
    _PUMP.drain()
    account = Account.get(org.org_id, by_input[new].account_id)
    assert account.status == "provisioned" and account.role == "client" and account.invite_state == "invited"
    assert account.created_by == org.admin.account_id


def test_invitation_token_is_stored_only_as_hash_and_lasts_seven_days(org):
    email = fresh()
    invites.invite_many(Viewer.of(org.admin), [email])
    token = token_for(email)
    assert len(token) >= 22  # ≥ 128 bits in URL-safe base64
    account = accounts_for(org.org_id, email)[0]
    assert account.invite_hash == hash_token(token)
    lookup = Lookup.get(f"invite#{hash_token(token)}")
    assert lookup.account_id == account.account_id
    assert timedelta(days=6, hours=23) < lookup.valid_until - utcnow() <= timedelta(days=7)
    assert token not in json.dumps(lookup.attribute_values, default=str)
    assert token not in json.dumps(account.attribute_values, default=str)


def test_the_email_is_rendered_by_the_app_in_html_and_text(org):
    email = fresh()
    invites.invite_many(Viewer.of(org.admin), [email])
    message = mail_to(email)[0]
    assert message["subject"] == f"You're invited to {org.name} on Caseload"
    assert f"Ada Admin invited you to join {org.name}" in message["text"]
    assert "http://127.0.0.1" in message["text"] and "{{" not in message["text"] + message["html"]
    assert 'href="http://127.0.0.1' in message["html"] and "Accept invitation" in message["html"]


def test_inviting_the_same_address_twice_creates_one_account(org):
    email = fresh()
    first = invites.invite_many(Viewer.of(org.admin), [email])
    second = invites.invite_many(Viewer.of(org.admin), [email.upper()])
    assert first.outcomes[0].status == "invited" and second.outcomes[0].status == "exists"
    assert len(accounts_for(org.org_id, email)) == 1
    assert len(mail_to(email)) == 1


def test_concurrent_invites_of_one_address_create_one_account(org):
    email, results, failures = fresh("race"), [], []
    barrier = threading.Barrier(6)

    def invite():
        try:
            barrier.wait()
            results.append(invites.invite_many(Viewer.of(org.admin), [email, fresh("other")]).outcomes[0].status)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=invite) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(results) == ["exists"] * 5 + ["invited"]
    found = accounts_for(org.org_id, email)
    assert len(found) == 1
    assert Lookup.get(email_lookup_key(org.org_id, email)).account_id == found[0].account_id


def test_the_same_address_in_another_organisation_is_a_separate_account(org, other_org):
    email = fresh()
    invites.invite_many(Viewer.of(org.admin), [email])
    assert invites.invite_many(Viewer.of(other_org.admin), [email]).outcomes[0].status == "invited"


def test_staff_invite_clients_into_their_own_caseload(org):
    email = fresh()
    report = invites.invite_many(Viewer.of(org.staff), [email])
    account = Account.get(org.org_id, report.outcomes[0].account_id)
    assert account.role == "client" and account.staff_id == org.staff.account_id
    assert account.staff_email == org.staff.email


def test_admin_sets_role_group_and_staff(org, group):
    client, admin = fresh("client"), fresh("admin")
    invites.invite_many(Viewer.of(org.admin), [client], "client", group.group_id, org.staff.account_id)
    invites.invite_many(Viewer.of(org.admin), [admin], "admin", None, org.staff.account_id)
    made = accounts_for(org.org_id, client)[0]
    assert (made.group_id, made.staff_id) == (group.group_id, org.staff.account_id)
    made_admin = accounts_for(org.org_id, admin)[0]
    assert made_admin.role == "admin" and made_admin.staff_id is None  # staff is for Clients only


def test_without_send_email_accounts_are_created_and_nobody_is_mailed(org):
    email = fresh()
    report = invites.invite_many(Viewer.of(org.admin), [email], send_email=False)
    assert report.outcomes[0].status == "invited" and "no email" in report.outcomes[0].message
    account = accounts_for(org.org_id, email)[0]
    assert account.status == "provisioned" and account.invite_hash is None
    assert mail_to(email) == []


def test_suppressed_addresses_are_not_mailed_or_created(org):
    email = fresh("bounced")
    mark_suppressed(email, "bounced", "550 no such user")
    report = invites.invite_many(Viewer.of(org.admin), [email])
    assert report.outcomes[0].status == "suppressed" and "bounced" in report.outcomes[0].message
    assert accounts_for(org.org_id, email) == [] and mail_to(email) == []


def test_costs_are_batched_not_per_address(org, monkeypatch):
    calls = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        calls[(self.meta.service_model.service_name, operation)] += 1
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    n = 120
    report = invites.invite_many(Viewer.of(org.admin), [fresh(f"bulk{i}") for i in range(n)])
    assert report.counts["invited"] == n
    dynamodb = sum(v for (service, _op), v in calls.items() if service == "dynamodb")
    assert calls[("sqs", "SendMessage")] == 3  # 50 recipients per mail-queue message
    invited_calls = Counter(calls)
    _PUMP.drain()  # the mail queue's consumer sends them (and the stream counts them)
    ses = calls[("ses", "SendBulkTemplatedEmail")]
    calls = invited_calls
    print(f"\ninvite {n}: DynamoDB requests {dynamodb} ({dict((k[1], v) for k, v in calls.items() if k[0] == 'dynamodb')}), "
          f"SES bulk sends {ses}")
    assert calls[("dynamodb", "BatchGetItem")] == 3  # 240 keys, 100 per call
    assert calls[("dynamodb", "TransactWriteItems")] == 5  # 25 people (claim, account, token, timeline event) per call
    assert ses == 3  # 50 destinations per call
    assert dynamodb <= -(-n // 25) + -(-n // 100) + 4


# --------------------------------------------------------------------------- JSON API

def test_api_invites_and_reports_per_address(http, org):
    http.sign_in(org.admin)
    email = fresh()
    response = invite_api(http, [email, "a@x.org\r\nBcc: evil@y.org", "Bcc: evil@y.org", org.staff.email])
    assert response.status_code == 200
    body = reply_json(response)
    assert [r["status"] for r in body["results"]] == ["invited", "invalid", "invalid", "exists"]
    assert "line break" in body["results"][1]["message"] and "Bcc:" in body["results"][2]["message"]
    assert body["counts"] == {"invited": 1, "exists": 1, "invalid": 2, "suppressed": 0}
    assert mail_to("evil@y.org") == []


@pytest.mark.parametrize("body,status,code,field", [
    ({"emails": []}, 400, "no_addresses", "emails"),
    ({"emails": [f"p{i}@example.org" for i in range(MAX_ADDRESSES + 1)]}, 400, "too_many_addresses", "emails"),
    ({"emails": ["a@example.org"], "group_id": "nope"}, 400, "unknown_group", "group_id"),
    ({"emails": ["a@example.org"], "staff_id": "nope"}, 400, "unknown_staff", "staff_id"),
    ({"emails": "a@example.org"}, 422, "invalid", "emails"),
    ({"emails": None}, 422, "invalid", "emails"),
    ({"emails": [{"a": 1}]}, 422, "invalid", "emails.0"),
    ({"emails": ["a@example.org", 5]}, 422, "invalid", "emails.1"),
    ({}, 422, "invalid", "emails"),
    ({"emails": ["a@example.org"], "role": "owner"}, 422, "invalid", "role"),
    ({"emails": ["a@example.org"], "role": None}, 422, "invalid", "role"),
    ({"emails": ["a@example.org"], "group_id": 7}, 422, "invalid", "group_id"),
    ({"emails": ["a@example.org"], "send_email": "yes"}, 422, "invalid", "send_email"),
    ({"emails": ["a@example.org"], "send_email": 1}, 422, "invalid", "send_email"),
    ({"emails": ["a@example.org"], "bcc": "x@y.org"}, 422, "unknown_field", "bcc"),
])
def test_api_bad_requests_get_a_code_and_a_message(http, org, body, status, code, field):
    http.sign_in(org.admin)
    response = http.json("POST", "/api/v1/invites", body)
    assert response.status_code == status, response.body
    error = reply_json(response)
    assert (error["code"], error.get("field")) == (code, field) and error["message"]
    assert not accounts_for(org.org_id, "a@example.org")  # nothing written


def test_api_staff_cannot_invite_admins_and_clients_cannot_invite(http, org, chalice_client):
    from tests.conftest import Http

    http.sign_in(org.staff)
    response = invite_api(http, [fresh()], role="admin")
    assert response.status_code == 400 and reply_json(response)["code"] == "forbidden_role"
    client = Http(chalice_client)
    client.sign_in(org.client)
    response = invite_api(client, [fresh()])
    assert response.status_code == 403 and reply_json(response)["code"] == "forbidden"


def test_api_needs_sign_in_and_csrf(http, org):
    response = http.json("POST", "/api/v1/invites", {"emails": [fresh()]})
    assert response.status_code == 401
    http.sign_in(org.admin)
    response = http.json("POST", "/api/v1/invites", {"emails": [fresh()]}, csrf=False)
    assert response.status_code == 403 and reply_json(response)["code"] == "csrf_failed"


def test_api_check_validates_like_the_chips_input(http, org):
    http.sign_in(org.admin)
    body = reply_json(http.json("POST", "/api/v1/invites/check", {"emails": ["A@x.org", "a@X.org", "nope"]}))
    assert [(e["valid"], e["duplicate"]) for e in body["entries"]] == [(True, False), (True, True), (False, False)]
    assert body["entries"][2]["message"]


# --------------------------------------------------------------------------- the page without JavaScript

def test_invite_page_shows_the_window(http, org):
    http.sign_in(org.admin)
    page = http.get("/invite").body.decode()
    for text in ("Invite Users", "Invite emails", "Send invite email", ">Invite</button>", 'name="emails"'):
        assert text in page
    assert 'role="switch" name="send_email" checked' in page
    fragment = http.get("/invite", headers={"x-fragment": "1"}).body.decode()
    assert "<html" not in fragment and "Send invite email" in fragment


def test_staff_get_only_the_client_role(http, org):
    http.sign_in(org.staff)
    page = http.get("/invite").body.decode()
    assert 'value="client"' in page and 'value="admin"' not in page


def test_invite_form_posts_and_shows_results(http, org):
    http.sign_in(org.admin)
    email = fresh()
    response = http.post_form("/invite", {"emails": f"{email}, nope\n{org.client.email}", "role": "client",
                                          "send_email": "on"})
    assert response.status_code == 200
    page = response.body.decode()
    assert "1 invited" in page and "1 already a member" in page and "1 address to fix" in page
    shown = re.sub(r"data-[a-z-]+=\"[^\"]*\"", "", page)  # the words people read, not the keys of data- attributes
    assert "must have an @-sign." in page and "suppressed" not in shown  # plain words, only when non-zero
    assert ">nope</textarea>" in page  # the address that failed stays in the field
    assert len(mail_to(email)) == 1


def test_invite_form_errors_are_shown_next_to_the_field(http, org):
    http.sign_in(org.admin)
    response = http.post_form("/invite", {"emails": "  ", "role": "client"})
    assert response.status_code == 400
    assert 'id="f-emails-error" role="alert">Enter at least one email address.' in response.body.decode()
    response = http.post_form("/invite", {"emails": " ".join(f"p{i}@x.org" for i in range(MAX_ADDRESSES + 1))})
    assert response.status_code == 400 and "Upload them as a CSV file instead." in response.body.decode()


def test_invite_form_without_send_email_sends_nothing(http, org):
    http.sign_in(org.admin)
    email = fresh()
    assert http.post_form("/invite", {"emails": email, "role": "client"}).status_code == 200
    assert accounts_for(org.org_id, email)[0].invite_hash is None and mail_to(email) == []


def test_clients_cannot_open_the_invite_page(http, org):
    http.sign_in(org.client)
    assert http.get("/invite").status_code == 403


# --------------------------------------------------------------------------- accepting

def invited(org, email=None):
    email = email or fresh()
    invites.invite_many(Viewer.of(org.admin), [email])
    return email, token_for(email)


def test_accepting_signs_in_and_activates(http, org):
    email, token = invited(org)
    page = http.get(f"/invite/{token}")
    assert page.status_code == 200 and org.name in page.body.decode() and email in page.body.decode()
    response = http.post_form(f"/invite/{token}", {"name": "Nia New", "password": "a-sturdy-passphrase-7"})
    assert response.status_code == 303 and response.headers["Location"] == "/home"
    account = accounts_for(org.org_id, email)[0]
    assert account.status == "activated" and account.name == "Nia New" and account.invite_state == "accepted"
    me = reply_json(http.json("GET", "/api/v1/me"))
    assert me["email"] == email and me["status"] == "activated"


def test_a_used_link_says_so(http, org):
    _email, token = invited(org)
    http.post_form(f"/invite/{token}", {"name": "Nia", "password": "a-sturdy-passphrase-7"})
    response = http.get(f"/invite/{token}")
    assert response.status_code == 410 and "already been used" in response.body.decode()
    again = http.post_form(f"/invite/{token}", {"name": "Eve", "password": "another-passphrase-8"})
    assert again.status_code == 410


def test_accept_form_errors(http, org):
    _email, token = invited(org)
    response = http.post_form(f"/invite/{token}", {"name": "Nia", "password": "short"})
    assert response.status_code == 400 and "Use at least 8 characters." in response.body.decode()
    response = http.post_form(f"/invite/{token}", {"name": "", "password": "a-sturdy-passphrase-7"})
    assert response.status_code == 400 and "Enter a name." in response.body.decode()


def test_an_expired_link_says_so(http, org):
    _email, token = invited(org)
    lookup = Lookup.get(f"invite#{hash_token(token)}")
    lookup.update(actions=[Lookup.valid_until.set(utcnow() - timedelta(seconds=1))])
    response = http.get(f"/invite/{token}")
    assert response.status_code == 410 and "This invitation has expired" in response.body.decode()
    assert http.post_form(f"/invite/{token}", {"name": "N", "password": "a-sturdy-passphrase-7"}).status_code == 410


@pytest.mark.parametrize("token", ["x" * 43, "short", "a" * 300])
def test_an_unknown_link_says_so(http, token):
    response = http.get(f"/invite/{token}")
    assert response.status_code == 404 and "This invitation link is not valid" in response.body.decode()


def test_resend_makes_a_new_link_and_kills_the_old_one(http, org):
    email, old = invited(org)
    account = accounts_for(org.org_id, email)[0]
    http.sign_in(org.admin)
    body = reply_json(http.json("POST", "/api/v1/invites/resend", {"account_ids": [account.account_id, "nope"]}))
    assert [r["status"] for r in body["results"]] == ["sent", "not_found"]
    new = token_for(email)
    assert new != old and len(mail_to(email)) == 2
    response = http.get(f"/invite/{old}")
    assert response.status_code == 410 and "A newer invitation" in response.body.decode()
    assert http.get(f"/invite/{new}").status_code == 200


def test_revoke_kills_the_link_and_resend_brings_it_back(http, org):
    email, token = invited(org)
    account = accounts_for(org.org_id, email)[0]
    http.sign_in(org.admin)
    body = reply_json(http.json("POST", "/api/v1/invites/revoke",
                                {"account_ids": [account.account_id, org.client.account_id]}))
    assert [r["status"] for r in body["results"]] == ["revoked", "not_provisioned"]
    response = http.get(f"/invite/{token}")
    assert response.status_code == 410 and "withdrawn" in response.body.decode()
    revoked = accounts_for(org.org_id, email)[0]
    assert revoked.status == "provisioned" and lifecycle.invitation_state(revoked) == "revoked"
    http.json("POST", "/api/v1/invites/resend", {"account_ids": [account.account_id]})
    assert http.get(f"/invite/{token_for(email)}").status_code == 200


def test_resend_and_revoke_forms_take_selected_rows(http, org):
    email, _token = invited(org)
    account = accounts_for(org.org_id, email)[0]
    http.sign_in(org.admin)
    response = http.post_form("/invites/resend", {"account_id": account.account_id, "next": "/clients?status=p"})
    assert response.status_code == 303 and response.headers["Location"] == "/clients?status=p"
    sent = "A new invitation is on its way; the previous link no longer works."
    assert sent in http.get("/clients?status=p").body.decode()  # a one-shot banner
    assert sent not in http.get("/clients?status=p").body.decode()
    response = http.post_form("/invites/revoke", {"account_id": account.account_id, "next": "https://evil.example"})
    assert response.status_code == 200 and "Invitation revoked: its link no longer works." in response.body.decode()
    response = http.post_form("/invites/revoke", {})
    assert response.status_code == 400 and "Choose at least one person." in response.body.decode()
    two = [account.account_id, accounts_for(org.org_id, invited(org)[0])[0].account_id]
    response = http.post_form("/invites/revoke", {"account_id": two, "next": "/clients"})
    assert "Revoked 2 of 2 invitations." in http.get("/clients").body.decode()


def test_resend_and_revoke_ask_first_then_answer_where_the_admin_is(http, org, other_org):
    email, _token = invited(org)
    account = accounts_for(org.org_id, email)[0]
    http.sign_in(org.admin)
    # Without JavaScript: the question is a page of its own, its Cancel goes back to the table.
    page = http.get(f"/invites/revoke?account_id={account.account_id}&next=/clients%3Fstatus%3Dprovisioned")
    body = page.body.decode()
    assert page.status_code == 200 and f"Revoke the invitation of {email}?" in body
    assert 'class="btn btn-danger" type="submit">Revoke invite</button>' in body
    assert 'href="/clients?status=provisioned" data-cancel>Cancel</a>' in body
    assert "The link in earlier invitation emails stops working at once." in http.get(
        f"/invites/resend?account_id={account.account_id}").body.decode()
    signed_in = http.get(f"/invites/revoke?account_id={org.client.account_id}").body.decode()
    assert "has already signed in: there is no invitation to revoke." in signed_in
    assert "btn-danger" not in signed_in
    # The table's dialog asks for the part only.
    part = http.get(f"/invites/resend?account_id={account.account_id}", headers={"X-Fragment": "1"})
    assert part.status_code == 200 and "<html" not in part.body.decode()
    assert f"Resend the invitation to {email}?" in part.body.decode()
    # Another organisation's person, or nobody: not found, like any unknown id.
    for missing in (other_org.client.account_id, "nope", ""):
        assert http.get(f"/invites/revoke?account_id={missing}").status_code == 404
    # A script's POST gets the notice alone (shown as a toast on the table), a refusal too.
    done = http.post_form("/invites/revoke", {"account_id": account.account_id, "next": "/clients"},
                          headers={"X-Fragment": "1"})
    assert done.status_code == 200 and "<html" not in done.body.decode()
    assert 'data-notice>Invitation revoked: its link no longer works.</div>' in done.body.decode()
    refused = http.post_form("/invites/resend", {"next": "/clients"}, headers={"X-Fragment": "1"})
    assert refused.status_code == 400 and 'data-notice>Choose at least one person.</div>' in refused.body.decode()


def test_staff_resend_only_in_their_caseload(http, org):
    email = fresh()
    invites.invite_many(Viewer.of(org.admin), [email])  # no staff member: not in Sam's caseload
    account = accounts_for(org.org_id, email)[0]
    http.sign_in(org.staff)
    body = reply_json(http.json("POST", "/api/v1/invites/resend", {"account_ids": [account.account_id]}))
    assert body["results"][0]["status"] == "not_found"


def test_resend_and_revoke_bad_requests(http, org, other_org):
    http.sign_in(org.admin)
    for path in ("/api/v1/invites/revoke", "/api/v1/invites/resend"):
        for body, status, code in (({"account_ids": []}, 400, "nothing_selected"),
                                   ({"account_ids": "x"}, 422, "invalid"), ({"account_ids": None}, 422, "invalid"),
                                   ({"account_ids": [1]}, 422, "invalid"), ({}, 422, "invalid"),
                                   ({"account_ids": ["x"], "all": True}, 422, "unknown_field")):
            response = http.json("POST", path, body)
            assert response.status_code == status and reply_json(response)["code"] == code, (path, body)
    body = reply_json(http.json("POST", "/api/v1/invites/revoke", {"account_ids": [other_org.client.account_id]}))
    assert body["results"][0]["status"] == "not_found"  # another organisation's account does not exist here


def test_invitation_state_on_provisioned_rows(org):
    email, _token = invited(org)
    account = accounts_for(org.org_id, email)[0]
    assert lifecycle.invitation_state(account) == "invited"
    assert lifecycle.invitation_state(account, utcnow() + timedelta(days=8)) == "expired"
    mark_suppressed(email, "bounced")
    assert lifecycle.invitation_state(Account.get(org.org_id, account.account_id)) == "bounced"


# --------------------------------------------------------------------------- SES feedback

def test_ses_bounce_notification_suppresses_and_marks_the_row(org):
    email, _token = invited(org)
    message = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [
        {"emailAddress": email, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}}
    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:x",
                          "Sns": {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:x:1:t",
                                  "Subject": None, "Message": json.dumps(message), "Timestamp": "2026-01-01T00:00:00Z",
                                  "MessageAttributes": {}}}]}
    app.handler_map["ses_feedback"](event, None)
    app.handler_map["ses_feedback"](event, None)  # at-least-once delivery: harmless twice
    assert accounts_for(org.org_id, email)[0].invite_state == "bounced"
    other = invites.invite_many(Viewer.of(make_account(org.org_id, "admin")), [email])
    assert other.outcomes[0].status == "exists"
    assert Lookup.get(f"suppressed#{email}").suppression.reason == "bounced"


def test_transient_bounces_and_junk_are_ignored(org):
    email, _token = invited(org)
    from chalicelib.invitations.suppression import handle_ses_notification

    assert handle_ses_notification({"notificationType": "Bounce", "bounce": {
        "bounceType": "Transient", "bouncedRecipients": [{"emailAddress": email}]}}) == []
    assert handle_ses_notification({"notificationType": "Complaint", "complaint": {
        "complainedRecipients": [{"emailAddress": 5}, "x"]}}) == []
    assert accounts_for(org.org_id, email)[0].invite_state == "invited"


def test_a_refused_email_is_reported_and_the_account_kept_for_resend(org, monkeypatch):
    email = fresh()
    monkeypatch.setenv("CASELOAD_MAIL_SENDER", "Nobody <nobody@unverified.example>")  # SES refuses the sender
    report = invites.invite_many(Viewer.of(org.admin), [email])
    assert report.outcomes[0].status == "invited" and "on its way" in report.outcomes[0].message
    assert mail_to(email) == []
    account = accounts_for(org.org_id, email)[0]
    assert account.invite_state == "not_sent" and "SES rejected it" in account.invite_error
    assert lifecycle.invitation_state(account) == "not_sent"
    monkeypatch.undo()
    assert lifecycle.resend(Viewer.of(org.admin), [account.account_id])[0]["status"] == "sent"
    assert len(mail_to(email)) == 1
    account = accounts_for(org.org_id, email)[0]
    assert account.invite_state == "invited" and account.invite_error is None


def test_resend_skips_suppressed_addresses(org):
    email, _token = invited(org)
    account = accounts_for(org.org_id, email)[0]
    mark_suppressed(email, "complained")
    assert lifecycle.resend(Viewer.of(org.admin), [account.account_id])[0]["status"] == "suppressed"
    assert len(mail_to(email)) == 1
