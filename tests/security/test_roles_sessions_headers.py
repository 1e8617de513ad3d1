"""Issue 13 "Keep it fixed": role isolation (generated from the route table), sessions, mass
assignment, headers and escaping."""
from datetime import timedelta

import pytest

from chalicelib.actions import rows
from chalicelib.core.models import Account, Session, utcnow
from chalicelib.core.tokens import hash_token
from chalicelib.people import sessions
from chalicelib.people.accounts import Viewer
from tests.conftest import Http, make_account, reply_json
from tests.security.routes import fill, routes
from tests.security.test_isolation_and_csrf import _state

# What a Client may open: their own pages, and the public ones (tokens are their own secret).
CLIENT_ROUTES = {"/", "/home", "/api/v1/me", "/signin", "/signout", "/forgot", "/reset/{token}",
                 "/join/{token}", "/signup/confirm/{token}", "/invite/{token}", "/api/v1/openapi.json",
                 "/dev/outbox", "/api/v1/activities"}
TEAM_ONLY = [(p, m) for p, m in routes() if p not in CLIENT_ROUTES]


@pytest.mark.parametrize("path,method", TEAM_ONLY)
def test_a_client_is_refused_on_every_team_route(http, org, path, method):
    http.sign_in(org.client)
    before = _state(org.org_id)
    target = fill(path, org.client.account_id)
    if method == "GET":
        response = http.get(target, headers={"accept": "application/json"})
    elif path.startswith("/api/"):
        response = http.json(method, target, {"name": "x", "emails": ["a@example.org"], "role": "admin"})
    else:
        response = http.post_form(target, {"name": "x", "emails": "a@example.org", "role": "admin"})
    assert response.status_code in (403, 404), (method, path, response.status_code)
    assert _state(org.org_id) == before


def test_staff_see_only_their_own_clients(http, org):
    mine = org.client
    theirs = make_account(org.org_id, "client", name="Not Mine")
    http.sign_in(org.staff)
    assert http.json("GET", f"/api/v1/clients/{mine.account_id}/activities").status_code == 200
    foreign = http.json("GET", f"/api/v1/clients/{theirs.account_id}/activities")
    missing = http.json("GET", "/api/v1/clients/" + "0" * 32 + "/activities")
    assert foreign.status_code == missing.status_code == 404


# ------------------------------------------------------------------ sessions

def test_the_session_id_is_rotated_at_sign_in_and_dead_after_sign_out(http, org):
    http.get("/signin")
    http.cookies["caseload_session"] = "planted-by-attacker-0123456789"
    http.sign_in(org.admin)
    first = http.cookies["caseload_session"]
    assert first != "planted-by-attacker-0123456789"
    http.post_form("/signout", {})
    replay = Http(http.client)
    replay.cookies["caseload_session"] = first
    assert replay.json("GET", "/api/v1/me").status_code == 401


@pytest.mark.parametrize("moved", [sessions.IDLE_TIMEOUT + timedelta(seconds=1),
                                   sessions.ABSOLUTE_TIMEOUT + timedelta(seconds=1)])
def test_idle_and_absolute_expiry(http, org, monkeypatch, moved):
    http.sign_in(org.admin)
    if moved >= sessions.ABSOLUTE_TIMEOUT:  # kept busy: touched just before, started long ago
        session = Session.get(hash_token(http.cookies["caseload_session"]))
        session.update(actions=[Session.started_at.set(utcnow() - moved),
                                Session.last_seen.set(utcnow())])
    else:
        later = utcnow() + moved
        monkeypatch.setattr(sessions, "utcnow", lambda: later)
    assert http.json("GET", "/api/v1/me").status_code == 401


def test_an_archived_accounts_sessions_die_at_once(http, org):
    http.sign_in(org.client)
    assert http.json("GET", "/api/v1/me").status_code == 200
    rows.archive(Viewer.of(org.admin), org.client.account_id)
    assert http.json("GET", "/api/v1/me").status_code == 401
    assert http.post_form("/signin", {"email": org.client.email,
                                      "password": "correct-horse-battery-staple"}).status_code == 401


# ------------------------------------------------------------------ mass assignment

@pytest.mark.parametrize("field,value", [("org_id", "x" * 32), ("role", "admin"), ("status", "activated"),
                                         ("created_at", "2020-01-01T00:00:00Z"), ("account_id", "0" * 32)])
def test_fields_that_may_not_be_set_are_refused(http, org, field, value):
    http.sign_in(org.client)
    response = http.json("PATCH", "/api/v1/me", {"name": "Cleo Client", field: value})
    assert response.status_code == 422 and reply_json(response)["field"] == field
    stored = Account.get(org.org_id, org.client.account_id)
    assert (stored.role, stored.status, stored.org_id) == ("client", "activated", org.org_id)
    form = http.post_form("/home", {"name": "Cleo Client", field: value})
    assert form.status_code in (303, 400)
    stored = Account.get(org.org_id, org.client.account_id)
    assert (stored.role, stored.status, stored.org_id) == ("client", "activated", org.org_id)


# ------------------------------------------------------------------ headers and escaping

SCRIPT = "<script>alert(1)</script>"


def test_html_and_json_responses_carry_the_security_headers(http, org):
    http.sign_in(org.admin)
    for response in (http.get("/clients"), http.json("GET", "/api/v1/me"), http.get("/signin")):
        headers = response.headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"


def test_a_script_name_is_escaped_on_every_page_that_shows_names(http, org, pump):
    evil = make_account(org.org_id, "client", name=SCRIPT, email=f"evil@{org.org_id[:8]}.example.org",
                        staff_id=org.staff.account_id,
                        staff_email=org.staff.email)
    pump.drain()
    http.sign_in(org.admin)
    pages = ["/clients", f"/clients?q=script", f"/clients/{evil.account_id}/activities", "/invite"]
    for path in pages:
        body = http.get(path).body.decode()
        assert SCRIPT not in body, path
    assert "&lt;script&gt;" in http.get("/clients").body.decode()
    own = Http(http.client)
    own.sign_in(evil)
    assert SCRIPT not in own.get("/home").body.decode()
    assert reply_json(own.json("GET", "/api/v1/me"))["name"] == SCRIPT  # JSON carries it as data
