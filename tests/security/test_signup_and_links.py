"""Issue 13, items 3 and 10, and the token and enumeration cases of "Keep it fixed":
sign-up proves the address before anything exists; links say who is signed in."""
from datetime import timedelta

import pytest

from chalicelib.core.models import Account, Lookup, Session, utcnow
from chalicelib.core.tokens import hash_token, new_id
from chalicelib.invitations import invites, links
from chalicelib.people import organisations
from chalicelib.people.accounts import Viewer
from tests.conftest import Http, join_and_confirm, mailed_link

FIELDS = {"mode": "signup", "name": "Vic Victim", "password": "a-long-passphrase-9"}
CONFIRM = r"/signup/confirm/([A-Za-z0-9_-]+)"


def _accounts(org_id, email):
    return [a for a in Account.query(org_id) if a.email == email]


def test_signing_up_someone_elses_address_creates_nothing_and_mails_only_them(http, org):
    victim = f"victim-{new_id()[:6]}@example.org"
    response = http.post_form(f"/join/{org.join_token}", {**FIELDS, "email": victim})
    assert response.status_code == 200 and "Check your email" in response.body.decode()
    assert "caseload_session" not in http.cookies and not _accounts(org.org_id, victim)
    assert mailed_link(victim, CONFIRM)  # the link went to the address, not to the person who typed it


def test_the_domain_rule_applies_to_the_verified_address(http, org):
    organisation = organisations.get_organisation(org.org_id)
    links.set_allowed_domains(organisation, "partner.example")
    assert http.post_form(f"/join/{org.join_token}", {**FIELDS, "email": "me@gmail.com"}).status_code == 400
    email = f"p-{new_id()[:6]}@partner.example"
    assert http.post_form(f"/join/{org.join_token}", {**FIELDS, "email": email}).status_code == 200
    token = mailed_link(email, CONFIRM)
    links.set_allowed_domains(organisation, "other.example")  # the rule changed before the link was used
    response = http.post_form(f"/signup/confirm/{token}", {})
    assert response.status_code == 400 and not _accounts(org.org_id, email)


def test_known_and_unknown_addresses_get_the_same_page(http, org, chalice_client):
    known = Http(chalice_client).post_form(f"/join/{org.join_token}", {**FIELDS, "email": org.staff.email})
    unknown = Http(chalice_client).post_form(f"/join/{org.join_token}",
                                             {**FIELDS, "email": "nobody-here@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.body.decode().replace(org.staff.email, "X") == unknown.body.decode().replace(
        "nobody-here@example.org", "X").replace(
        *_csrf_pair(known.body.decode(), unknown.body.decode()))
    assert "/signin" in mailed_link(org.staff.email, r"(https?://\S+/signin)")
    assert Account.get(org.org_id, org.staff.account_id).name == "Sam Staff"  # nothing changed


def _csrf_pair(a, b):
    import re

    pattern = r'name="csrf-token" content="([^"]+)"'
    return re.search(pattern, b).group(1), re.search(pattern, a).group(1)


def test_confirmation_makes_an_activated_client_and_is_single_use(http, org, chalice_client):
    email = f"new-{new_id()[:6]}@example.org"
    assert join_and_confirm(http, org.join_token, {**FIELDS, "email": email}).status_code == 303
    (account,) = _accounts(org.org_id, email)
    assert account.status == "activated" and account.role == "client"
    token = mailed_link(email, CONFIRM)
    again = Http(chalice_client)
    assert again.get(f"/signup/confirm/{token}").status_code == 410
    assert again.post_form(f"/signup/confirm/{token}", {}).status_code == 410
    assert "caseload_session" not in again.cookies


def test_confirmation_tokens_truncated_expired_or_from_a_dead_link_are_refused(http, org):
    emails = [f"t{n}-{new_id()[:6]}@example.org" for n in range(3)]
    tokens = []
    for email in emails:
        http.post_form(f"/join/{org.join_token}", {**FIELDS, "email": email})
        tokens.append(mailed_link(email, CONFIRM))
    assert http.post_form(f"/signup/confirm/{tokens[0][:-4]}", {}).status_code == 404  # truncated
    item = Lookup.get(f"signup#{hash_token(tokens[1])}")
    item.update(actions=[Lookup.valid_until.set(utcnow() - timedelta(seconds=1))])
    assert http.post_form(f"/signup/confirm/{tokens[1]}", {}).status_code == 410  # expired
    links.regenerate_join_link(organisations.get_organisation(org.org_id))  # the link was replaced
    assert http.post_form(f"/signup/confirm/{tokens[2]}", {}).status_code == 404
    assert not any(_accounts(org.org_id, e) for e in emails)


def test_a_confirmation_link_from_another_organisation_joins_only_its_own(http, org, other_org):
    email = f"x-{new_id()[:6]}@example.org"
    assert join_and_confirm(http, other_org.join_token, {**FIELDS, "email": email}).status_code == 303
    assert _accounts(other_org.org_id, email) and not _accounts(org.org_id, email)


# ------------------------------------------------------------------ 10: links opened while someone is signed in

def _invite(org):
    email = f"inv-{new_id()[:6]}@example.org"
    invites.invite_many(Viewer.of(org.admin), [email])
    return email, mailed_link(email, r"/invite/([A-Za-z0-9_-]+)")


@pytest.mark.parametrize("kind", ["invite", "join"])
def test_a_link_opened_while_signed_in_says_who_and_offers_to_sign_out(http, org, kind):
    _email, token = _invite(org)
    path = f"/invite/{token}" if kind == "invite" else f"/join/{org.join_token}"
    http.sign_in(org.staff)
    page = http.get(path).body.decode()
    assert "You are signed in as" in page and org.staff.email in page and "Sign out" in page
    assert f'name="next" value="{path}"' in page
    out = http.post_form("/signout", {"next": path})
    assert out.status_code == 303 and out.headers["Location"] == path
    assert "You are signed in as" not in http.get(path).body.decode()


def test_accepting_while_signed_in_ends_the_other_session(http, org):
    email, token = _invite(org)
    http.sign_in(org.staff)
    old = http.cookies["caseload_session"]
    response = http.post_form(f"/invite/{token}", {"name": "New Person", "password": "a-long-passphrase-9"})
    assert response.status_code == 303
    assert Session.get(hash_token(old)).ended_at is not None
    assert http.cookies["caseload_session"] != old
