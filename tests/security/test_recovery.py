"""Issue 15's sign-in page: empty fields say what is missing, and Forgot password? (an emailed
single-use expiring link stored as a hash, the same answer for known and unknown addresses,
every session of the account ended on reset)."""
from datetime import timedelta

from chalicelib.core.models import Account, Lookup, Session, utcnow
from chalicelib.core.tokens import hash_token
from chalicelib.people import passwords
from tests.conftest import PASSWORD, Http, mailed_link

RESET = r"/reset/([A-Za-z0-9_-]+)"
NEW = "a-brand-new-passphrase-4"


def test_empty_sign_in_fields_say_what_is_missing(http):
    both = http.post_form("/signin", {"email": "", "password": ""})
    assert both.status_code == 400 and "Enter your email address and your password." in both.body.decode()
    email = http.post_form("/signin", {"email": " ", "password": "x"})
    assert "Enter your email address." in email.body.decode() and 'aria-invalid="true"' in email.body.decode()
    password = http.post_form("/signin", {"email": "a@example.org", "password": ""})
    assert "Enter your password." in password.body.decode()


def test_the_sign_in_page_offers_forgot_password(http):
    page = http.get("/signin").body.decode()
    assert 'href="/forgot"' in page and "Forgot password?" in page


def test_known_and_unknown_addresses_get_the_same_answer(chalice_client, org):
    known = Http(chalice_client).post_form("/forgot", {"email": org.staff.email})
    unknown = Http(chalice_client).post_form("/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.body.decode().replace(e, "X").split('name="csrf-token"')[1].split(">", 1)[1]  # noqa: E731
    assert strip(known, org.staff.email) == strip(unknown, "nobody@example.org")
    assert mailed_link(org.staff.email, RESET)
    bad = Http(chalice_client).post_form("/forgot", {"email": "not an address"})
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.body.decode()


def test_reset_sets_the_password_ends_every_session_and_works_once(chalice_client, org):
    elsewhere = Http(chalice_client)
    elsewhere.sign_in(org.client)
    old_session = elsewhere.cookies["caseload_session"]
    visitor = Http(chalice_client)
    visitor.post_form("/forgot", {"email": org.client.email})
    token = mailed_link(org.client.email, RESET)
    assert Lookup.get(f"reset#{hash_token(token)}").account_id == org.client.account_id  # only the hash stored
    assert visitor.get(f"/reset/{token}").status_code == 200
    short = visitor.post_form(f"/reset/{token}", {"password": "short"})
    assert short.status_code == 400 and "at least 8" in short.body.decode()
    done = visitor.post_form(f"/reset/{token}", {"password": NEW})
    assert done.status_code == 303 and done.headers["Location"] == "/signin"
    assert "Your password was changed" in visitor.get("/signin").body.decode()
    assert passwords.verify_password(Account.get(org.org_id, org.client.account_id).password_hash, NEW)
    assert Session.get(hash_token(old_session)).ended_at is not None
    assert elsewhere.get("/api/v1/me", headers={"accept": "application/json"}).status_code == 401
    assert visitor.post_form(f"/reset/{token}", {"password": "another-passphrase-5"}).status_code == 410
    assert visitor.post_form("/signin", {"email": org.client.email, "password": PASSWORD}).status_code == 401
    assert visitor.post_form("/signin", {"email": org.client.email, "password": NEW}).status_code == 303


def test_expired_truncated_and_archived_reset_links_are_refused(http, org):
    http.post_form("/forgot", {"email": org.staff.email})
    token = mailed_link(org.staff.email, RESET)
    assert http.get(f"/reset/{token[:-3]}").status_code == 404
    Lookup.get(f"reset#{hash_token(token)}").update(
        actions=[Lookup.valid_until.set(utcnow() - timedelta(seconds=1))])
    assert http.post_form(f"/reset/{token}", {"password": NEW}).status_code == 410
    assert passwords.verify_password(Account.get(org.org_id, org.staff.account_id).password_hash, PASSWORD)
