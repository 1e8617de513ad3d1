"""Signing in and out, sign-up through the organisation link, sessions, CSRF, throttling."""
from datetime import timedelta

import pytest

from chalicelib.core.models import Account, Activity, Session, Throttle, utcnow
from chalicelib.core.tokens import hash_token
from chalicelib.people import sessions, throttle
from tests.conftest import PASSWORD, join_and_confirm, mailed_link, make_account, reply_json


def test_sign_in_lands_admin_on_view_clients_and_client_on_home(http, org, chalice_client):
    response = http.sign_in(org.admin)
    assert response.headers["Location"] == "/clients"
    cookie = [c for c in response.headers["Set-Cookie"] if c.startswith("caseload_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Domain" not in cookie
    from tests.conftest import Http

    other = Http(chalice_client)
    assert other.sign_in(org.client).headers["Location"] == "/home"


def test_session_id_is_stored_only_as_hash(http, org):
    http.sign_in(org.admin)
    cookie_value = http.cookies["caseload_session"]
    assert len(cookie_value) >= 32
    stored = Session.get(hash_token(cookie_value))
    assert stored.account_id == org.admin.account_id
    assert Session.count(cookie_value) == 0


def test_first_sign_in_activates_and_records_the_session(http, org):
    provisioned = make_account(org.org_id, "client", status="provisioned")
    http.sign_in(provisioned)
    account = Account.get(org.org_id, provisioned.account_id)
    assert account.status == "activated"
    assert account.last_visit is not None and account.active_days
    kinds = [a.kind for a in Activity.query(f"{org.org_id}#{provisioned.account_id}")]
    assert "activated" in kinds and "signed_in" in kinds
    history = list(sessions.history(org.org_id, provisioned.account_id))
    assert history[0].ip == "203.0.113.9" and history[0].user_agent == "pytest"


@pytest.mark.parametrize("email,password", [
    ("ada.admin@nowhere.example.org", PASSWORD),  # unknown email
    (None, "wrong-password-123"),  # wrong password
    ("not an email", PASSWORD),
])
def test_wrong_credentials_answer_alike(http, org, email, password):
    response = http.post_form("/signin", {"email": email or org.admin.email, "password": password})
    assert response.status_code == 401
    assert "The email or password is not right." in response.body.decode()
    assert "caseload_session" not in http.cookies


def test_empty_password_is_a_field_error(http, org):
    response = http.post_form("/signin", {"email": org.admin.email, "password": ""})
    assert response.status_code == 400
    assert "Enter your password." in response.body.decode()


def test_repeated_failures_are_throttled_with_retry_after(http, org):
    for _ in range(5):
        assert http.post_form("/signin", {"email": org.staff.email, "password": "nope-nope-nope"}).status_code == 401
    response = http.post_form("/signin", {"email": org.staff.email, "password": PASSWORD})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in response.body.decode() and 'name="email"' in response.body.decode()
    # The window is short: once it has passed, the owner gets in.
    for item in Throttle.batch_get(throttle.Keys.of(org.staff.email, "203.0.113.9", None).all()):
        item.update(actions=[Throttle.window_start.set(utcnow() - timedelta(minutes=16))])
    assert http.post_form("/signin", {"email": org.staff.email, "password": PASSWORD}).status_code == 303


def test_sign_out_ends_the_session_on_the_server(http, org):
    http.sign_in(org.admin)
    cookie_value = http.cookies["caseload_session"]
    response = http.post_form("/signout", {})
    assert response.status_code == 303
    assert Session.get(hash_token(cookie_value)).ended_at is not None
    http.cookies["caseload_session"] = cookie_value  # replaying the old cookie
    assert http.get("/home").status_code == 303


def test_expired_and_tampered_sessions_are_signed_out(http, org):
    http.sign_in(org.admin)
    cookie_value = http.cookies["caseload_session"]
    http.cookies["caseload_session"] = cookie_value[:-2] + "xx"
    assert http.get("/home").headers["Location"].startswith("/signin")
    http.cookies["caseload_session"] = cookie_value
    assert http.get("/home").status_code == 200
    session = Session.get(hash_token(cookie_value))
    session.update(actions=[Session.last_seen.set(utcnow() - sessions.IDLE_TIMEOUT - timedelta(seconds=1))])
    assert http.get("/home").headers["Location"].startswith("/signin")


def test_state_change_without_csrf_token_is_refused(http, org):
    http.sign_in(org.client)
    response = http.post_form("/home", {"name": "Changed"}, csrf=False)
    assert response.status_code == 403
    assert "did not come from Caseload" in response.body.decode()
    assert Account.get(org.org_id, org.client.account_id).name == "Cleo Client"
    response = http.post_form("/home", {"name": "Changed", "csrf_token": "forged"})
    assert response.status_code == 403
    api = http.json("PATCH", "/api/v1/me", {"name": "Changed"}, csrf=False)
    assert api.status_code == 403 and reply_json(api)["code"] == "csrf_failed"


def test_sign_in_form_needs_csrf_too(http, org):
    response = http.post_form("/signin", {"email": org.admin.email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 403


def test_client_renames_self_and_bad_names_get_field_errors(http, org):
    http.sign_in(org.client)
    assert http.post_form("/home", {"name": "  Cleo   Clientson "}).status_code == 303
    assert Account.get(org.org_id, org.client.account_id).name == "Cleo Clientson"
    response = http.post_form("/home", {"name": "   "})
    assert response.status_code == 400 and "Enter a name." in response.body.decode()
    response = http.post_form("/home", {"name": "x" * 121})
    assert response.status_code == 400 and "at most 120" in response.body.decode()
    assert Account.get(org.org_id, org.client.account_id).name == "Cleo Clientson"


def test_client_cannot_open_team_pages(http, org):
    http.sign_in(org.client)
    response = http.get("/clients")
    assert response.status_code == 403
    api = http.json("GET", "/api/v1/clients")
    assert api.status_code == 403 and reply_json(api)["code"] == "forbidden"


def test_signed_out_visitors_are_sent_to_sign_in(http):
    response = http.get("/home")
    assert response.status_code == 303 and response.headers["Location"] == "/signin?next=%2Fhome"
    assert reply_json(http.json("GET", "/api/v1/me"))["code"] == "unauthenticated"


def test_next_parameter_never_redirects_off_site(http, org):
    response = http.post_form("/signin", {"email": org.admin.email, "password": PASSWORD,
                                          "next": "//evil.example.com/x"})
    assert response.headers["Location"] == "/clients"


def test_archived_account_cannot_sign_in_and_its_sessions_end(http, org):
    http.sign_in(org.client)
    account = Account.get(org.org_id, org.client.account_id)
    account.status = "archived"
    account.save()
    assert http.get("/home").status_code == 303
    response = http.post_form("/signin", {"email": org.client.email, "password": PASSWORD})
    assert response.status_code == 401


class TestJoinLink:
    def test_sign_up_makes_an_activated_client_and_signs_in(self, http, org):
        page = http.get(f"/join/{org.join_token}")
        assert page.status_code == 200 and org.name in page.body.decode()
        started = http.post_form(f"/join/{org.join_token}", {
            "mode": "signup", "name": "Nia New", "email": "Nia.New@Example.org", "password": "a-long-passphrase-9"})
        assert started.status_code == 200 and "Check your email" in started.body.decode()
        assert "caseload_session" not in http.cookies  # nothing until the address is confirmed
        assert not [a for a in Account.query(org.org_id) if a.email == "nia.new@example.org"]
        response = join_and_confirm(http, org.join_token, {
            "name": "Nia New", "email": "nia.new@example.org", "password": "a-long-passphrase-9"})
        assert response.status_code == 303 and response.headers["Location"] == "/home"
        me = reply_json(http.json("GET", "/api/v1/me"))
        assert me["email"] == "nia.new@example.org" and me["role"] == "client" and me["status"] == "activated"
        assert me["org_id"] == org.org_id

    @pytest.mark.parametrize("fields,field_message", [
        ({"name": "", "email": "a@example.org", "password": "a-long-passphrase-9"}, "Enter a name."),
        ({"name": "A", "email": "not-an-address", "password": "a-long-passphrase-9"}, "not a valid email"),
        ({"name": "A", "email": "a@example.org", "password": "short"}, "at least 8"),
        ({"name": "A", "email": "a@example.org", "password": "password123"}, "too common"),
        ({"name": "A", "email": "a@example.org", "password": "x" * 129}, "at most 128"),
    ])
    def test_bad_sign_up_shows_the_error_next_to_the_field(self, http, org, fields, field_message):
        response = http.post_form(f"/join/{org.join_token}", {"mode": "signup", **fields})
        assert response.status_code == 400
        body = response.body.decode()
        assert field_message in body and 'aria-invalid="true"' in body
        assert "caseload_session" not in http.cookies

    def test_existing_email_gets_the_same_page_and_an_e_mail_to_sign_in(self, http, org):
        response = http.post_form(f"/join/{org.join_token}", {
            "mode": "signup", "name": "Dup", "email": org.client.email, "password": "a-long-passphrase-9"})
        assert response.status_code == 200 and "Check your email" in response.body.decode()
        assert mailed_link(org.client.email, r"(/signin)") == "/signin"

    def test_sign_in_through_the_link(self, http, org):
        response = http.post_form(f"/join/{org.join_token}", {
            "mode": "signin", "email": org.client.email, "password": PASSWORD})
        assert response.status_code == 303

    def test_link_of_one_org_does_not_sign_in_another_orgs_account(self, http, org, other_org):
        response = http.post_form(f"/join/{org.join_token}", {
            "mode": "signin", "email": other_org.client.email, "password": PASSWORD})
        assert response.status_code == 401

    @pytest.mark.parametrize("token", ["wrong-token", "x" * 300])
    def test_wrong_link_is_a_clear_404(self, http, token):
        response = http.get(f"/join/{token}")
        assert response.status_code == 404 and "not valid" in response.body.decode()

    def test_regenerated_or_disabled_link_stops_working(self, http, org):
        from chalicelib.invitations import links
        from chalicelib.people import organisations

        organisation = organisations.get_organisation(org.org_id)
        new_token = links.regenerate_join_link(organisation)
        assert http.get(f"/join/{org.join_token}").status_code == 404
        assert http.get(f"/join/{new_token}").status_code == 200
        organisation.join_enabled = False
        organisation.save()
        assert http.get(f"/join/{new_token}").status_code == 404

    def test_allowed_domains_restrict_sign_up(self, http, org):
        from chalicelib.people import organisations

        organisation = organisations.get_organisation(org.org_id)
        organisation.allowed_domains = ["northside.example.org"]
        organisation.save()
        response = join_and_confirm(http, org.join_token, {
            "name": "Out", "email": "out@gmail.com", "password": "a-long-passphrase-9"})
        assert response.status_code == 400 and "limited to addresses at northside.example.org" in response.body.decode()


def test_passwords_are_argon2id_at_or_above_asvs_parameters(org):
    from chalicelib.people import passwords

    stored = Account.get(org.org_id, org.admin.account_id).password_hash
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) == 1
    long_password = "é" * 128  # 128 characters, 256 bytes: nothing is truncated
    hashed = passwords.hash_password(long_password)
    assert passwords.verify_password(hashed, long_password)
    assert not passwords.verify_password(hashed, long_password[:-1])


def test_a_hash_made_with_other_parameters_is_upgraded_at_the_next_sign_in(http, org):
    from argon2 import PasswordHasher

    from chalicelib.people import passwords

    older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1).hash(PASSWORD)
    Account.get(org.org_id, org.staff.account_id).update(actions=[Account.password_hash.set(older)])
    assert passwords.needs_rehash(older)
    assert http.sign_in(org.staff).headers["Location"] == "/clients"
    upgraded = Account.get(org.org_id, org.staff.account_id).password_hash
    assert upgraded != older and not passwords.needs_rehash(upgraded)
    assert passwords.verify_password(upgraded, PASSWORD)


def test_the_upgrade_never_writes_an_old_password_back_over_a_new_one(org):
    from argon2 import PasswordHasher

    from chalicelib.people import auth, passwords

    older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1).hash(PASSWORD)
    Account.get(org.org_id, org.staff.account_id).update(actions=[Account.password_hash.set(older)])
    signing_in = Account.get(org.org_id, org.staff.account_id)
    reset = passwords.hash_password("a-brand-new-passphrase-7")
    Account.get(org.org_id, org.staff.account_id).update(actions=[Account.password_hash.set(reset)])
    auth._rehash(signing_in, PASSWORD)  # the sign-in read the account before the reset landed
    assert Account.get(org.org_id, org.staff.account_id).password_hash == reset


def test_unknown_email_costs_one_password_verification_like_a_wrong_password(http, org, monkeypatch):
    from chalicelib.people import passwords

    calls = []
    original = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(1) or original(*a))
    http.post_form("/signin", {"email": "nobody@nowhere.example.org", "password": "whatever-123"})
    unknown_calls = len(calls)
    http.post_form("/signin", {"email": org.admin.email, "password": "whatever-123"})
    assert unknown_calls == 1 and len(calls) - unknown_calls == 1


def test_every_sign_in_gets_a_new_session_id(http, org, chalice_client):
    from tests.conftest import Http

    http.sign_in(org.admin)
    first = http.cookies["caseload_session"]
    second_browser = Http(chalice_client)
    second_browser.cookies["caseload_session"] = first  # a fixated id is not reused
    second_browser.sign_in(org.admin)
    assert second_browser.cookies["caseload_session"] != first


def test_last_seen_is_refreshed_at_most_every_few_minutes(http, org):
    http.sign_in(org.admin)
    session = Session.get(hash_token(http.cookies["caseload_session"]))
    http.get("/home")
    assert Session.get(session.session_hash).last_seen == session.last_seen
    session.update(actions=[Session.last_seen.set(utcnow() - sessions.TOUCH_INTERVAL - timedelta(seconds=5))])
    before = Account.get(org.org_id, org.admin.account_id).last_visit
    http.get("/home")
    assert Session.get(session.session_hash).last_seen > utcnow() - timedelta(seconds=30)
    assert Account.get(org.org_id, org.admin.account_id).last_visit >= before
