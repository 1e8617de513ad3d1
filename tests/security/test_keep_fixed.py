"""Issue 13 "Keep it fixed", the cases the other files left thin: autoescaping on every HTML page of the
route table, invite tokens (used twice, expired, revoked, truncated, another organisation's),
enumeration at sign-in, mass assignment on every API body and the sign-up form, dead sessions that
try to write, and the CSV upload end to end (oversized file, a key outside the organisation's prefix).
Each asserts the safe answer and that nothing changed in the tables."""
import re
from datetime import timedelta

import pytest

from chalicelib.actions import rows
from chalicelib.activity import api_keys, timeline
from chalicelib.core.models import Account, Group, Job, Session, utcnow
from chalicelib.core.tokens import hash_token, new_id
from chalicelib.invitations import acceptance, imports, invites, lifecycle
from chalicelib.people import sessions
from chalicelib.people.accounts import Viewer
from chalicelib.web import api
from tests.conftest import Http, join_and_confirm, mailed_link, make_account, reply_json
from tests.security.routes import fill, routes
from tests.security.test_isolation_and_csrf import _state

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# ------------------------------------------------------------------ escaping: every HTML page of the route table

@pytest.fixture
def evil(http, org, pump):
    """An organisation's people, group and audit entries all named with a script."""
    domain = f"{org.org_id[:8]}.example.org"
    staff = make_account(org.org_id, "staff", name=f"{SCRIPT} Staff", email=f"evil.staff@{domain}")
    client = make_account(org.org_id, "client", name=SCRIPT, staff_id=staff.account_id, staff_email=staff.email,
                          email=f"evil.client@{domain}")
    invited = make_account(org.org_id, "client", status="provisioned", name=f"{SCRIPT} Invitee",
                           email=f"evil.invitee@{domain}")
    group = Group(org_id=org.org_id, group_id=new_id(), name=f"{SCRIPT} Group")
    group.save()
    timeline.audit(org.org_id, "group_created", Viewer.of(staff), target=(group.group_id, group.name))
    lifecycle.resend(Viewer.of(org.admin), [invited.account_id])
    token = mailed_link(invited.email, r"/invite/([A-Za-z0-9_-]+)")
    pump.drain()
    return {"staff": staff, "client": client, "group": group, "invite_token": token}


def _filled(path: str, org, evil) -> str:
    ids = {"account_id": evil["client"].account_id, "group_id": evil["group"].group_id,
           "token": evil["invite_token"] if path.startswith("/invite/") else org.join_token, "number": "0"}
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "0" * 32), path)


HTML_PAGES = [p for p, _m in routes({"GET"}) if not p.startswith("/api/")]
SHOWS_THE_NAME = {"/clients", "/clients/{account_id}/activities", "/clients/{account_id}/edit",
                  "/clients/{account_id}/archive", "/clients/{account_id}/assign", "/audit", "/groups",
                  "/invite", "/invite/{token}"}


def test_a_script_name_is_escaped_on_every_html_page(http, org, evil):
    """Every GET page of the route table (one test: the named people are made once)."""
    http.sign_in(org.admin)
    before = _state(org.org_id)
    for path in HTML_PAGES:
        response = http.get(_filled(path, org, evil))
        body = response.body.decode("utf-8", "replace")
        assert response.status_code < 500 and SCRIPT not in body and "<script>alert" not in body, path
        if path in SHOWS_THE_NAME:
            assert ESCAPED in body, f"{path} should show the name, escaped"
    assert len(HTML_PAGES) >= 20 and _state(org.org_id) == before


def test_every_get_route_answers_with_the_security_headers(http, org, evil):
    """HTML and JSON alike, every GET of the route table (the outbox's framed email has its own
    sandboxed policy and may be framed by the outbox page only)."""
    http.sign_in(org.admin)
    for path, _method in routes({"GET"}):
        response = http.get(_filled(path, org, evil), headers={"accept": "application/json"}
                            if path.startswith("/api/") else {})
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "default-src" in headers["Content-Security-Policy"] or "sandbox" in headers["Content-Security-Policy"]
        if path == "/dev/outbox/{number}":
            assert headers["X-Frame-Options"] == "SAMEORIGIN", path
        else:
            assert headers["X-Frame-Options"] == "DENY", path
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path


def test_a_script_name_is_escaped_where_a_link_says_who_is_signed_in_and_in_the_mail(http, org, evil, pump):
    own = Http(http.client)
    own.sign_in(evil["staff"])
    for path in (f"/join/{org.join_token}", f"/invite/{evil['invite_token']}", "/home", "/clients"):
        body = own.get(path).body.decode()
        assert SCRIPT not in body and ESCAPED in body, path
    address = f"mailed-{new_id()[:6]}@example.org"
    invites.invite_many(Viewer.of(evil["staff"]), [address])
    pump.drain()  # the mail queue's consumer sends it, as Lambda would
    listing = http.get("/dev/outbox").body.decode()
    mail = http.get("/dev/outbox/0").body.decode()  # the newest
    assert address in listing and SCRIPT not in listing
    assert SCRIPT not in mail and ESCAPED in mail  # the inviter's name, escaped in the invitation


# ------------------------------------------------------------------ role isolation: another staff member's client

ACCOUNT_ROUTES = [(p, m) for p, m in routes() if "{account_id}" in p and p.count("{") == 1]


def _body_for(method: str, path: str, staff_id: str) -> dict:
    """A body the route's model accepts, so the answer is about the account, not the body."""
    model = next((op.body for op in api.REGISTRY if op.path == path and op.method == method), None)
    fields = model.model_fields if model else {}
    return {name: value for name, value in (("name", "Taken Over"), ("to_id", staff_id)) if name in fields}


@pytest.mark.parametrize("path,method", ACCOUNT_ROUTES)
def test_another_staff_members_client_answers_like_a_nonexistent_one(http, org, path, method):
    """Generated from the route table: every route that takes an account id, asked by a staff member
    for a client of another staff member, answers exactly as for an id that does not exist."""
    from tests.security.test_isolation_and_csrf import _normalised

    colleague = make_account(org.org_id, "staff", name="Colleague Staff")
    theirs = make_account(org.org_id, "client", name="Their Client", staff_id=colleague.account_id,
                          staff_email=colleague.email)
    http.sign_in(org.staff)
    before = _state(org.org_id)
    answers = []
    for account_id in (theirs.account_id, new_id()):
        target = fill(path, account_id)
        if method == "GET":
            response = http.get(target, headers={"accept": "application/json"} if path.startswith("/api/") else {})
        elif path.startswith("/api/"):
            response = http.json(method, target, _body_for(method, path, org.staff.account_id))
        else:
            response = http.post_form(target, {"name": "Taken Over", "staff_id": org.staff.account_id})
        answers.append(_normalised(response, [account_id]))
    assert answers[0] == answers[1], f"{method} {path}: {answers[0][0]} vs {answers[1][0]}"
    assert answers[0][0] in (403, 404), answers[0]
    assert _state(org.org_id) == before


# ------------------------------------------------------------------ invite tokens

def _invited(org):
    email = f"tok-{new_id()[:6]}@example.org"
    invites.invite_many(Viewer.of(org.admin), [email])
    return email, mailed_link(email, r"/invite/([A-Za-z0-9_-]+)")


def _accept(http, token):
    return http.post_form(f"/invite/{token}", {"name": "Taken Over", "password": "a-long-passphrase-9"})


@pytest.mark.parametrize("case", ["used twice", "expired", "revoked", "truncated", "replaced"])
def test_a_bad_invite_token_is_refused_and_changes_nothing(http, org, monkeypatch, case):
    email, token = _invited(org)
    if case == "used twice":
        assert _accept(Http(http.client), token).status_code == 303
    elif case == "expired":
        later = utcnow() + timedelta(days=400)
        monkeypatch.setattr(acceptance, "utcnow", lambda: later)
    elif case == "revoked":
        lifecycle.revoke(Viewer.of(org.admin), [Account.by_email.query(email).next().account_id])
    elif case == "truncated":
        token = token[:-3]
    elif case == "replaced":
        lifecycle.resend(Viewer.of(org.admin), [Account.by_email.query(email).next().account_id])
    before = _state(org.org_id)
    page = http.get(f"/invite/{token}")
    response = _accept(http, token)
    assert page.status_code == response.status_code and response.status_code in (404, 410)
    assert "caseload_session" not in http.cookies and 'name="password"' not in response.body.decode()
    assert _state(org.org_id) == before


def test_another_organisations_invite_token_only_ever_opens_its_own_account(http, org, other_org):
    email, token = _invited(other_org)
    before = _state(org.org_id)
    assert _accept(http, token).status_code == 303
    account = Account.get(other_org.org_id, Account.by_email.query(email).next().account_id)
    assert account.status == "activated" and account.org_id == other_org.org_id
    assert _state(org.org_id) == before
    assert reply_json(http.json("GET", "/api/v1/me"))["email"] == email


# ------------------------------------------------------------------ enumeration at sign-in

def _without_tokens(body: bytes) -> str:
    return re.sub(r'(name="csrf-token" content="|name="csrf_token" value=")[^"]+', r"\1T", body.decode())


def test_sign_in_answers_alike_for_a_known_and_an_unknown_address(chalice_client, org):
    answers = []
    for email in (org.admin.email, f"nobody-{new_id()[:6]}@example.org"):
        browser = Http(chalice_client)
        before = _state(org.org_id)
        response = browser.post_form("/signin", {"email": email, "password": "wrong-password-123"},
                                     headers={"x-forwarded-for": f"198.51.100.{len(answers) + 20}"})
        answers.append((response.status_code, _without_tokens(response.body).replace(email, "EMAIL")))
        assert _state(org.org_id) == before and "caseload_session" not in browser.cookies
    assert answers[0] == answers[1] and answers[0][0] == 401


# ------------------------------------------------------------------ mass assignment on every API body

FORBIDDEN = {"org_id": "0" * 32, "role": "admin", "status": "activated", "created_at": "2020-01-01T00:00:00Z"}
BODIES = [(op.method, op.path, field) for op in api.REGISTRY if op.body is not None
          for field in FORBIDDEN if field not in op.body.model_fields]


@pytest.mark.parametrize("method,path,field", BODIES)
def test_fields_a_body_does_not_take_are_refused_on_every_api_route(http, org, method, path, field):
    http.sign_in(org.admin)
    key = {"authorization": f"Bearer {api_keys.create_key(Viewer.of(org.admin), 'Mass')[1]}"}
    before = _state(org.org_id)
    by_key = next(op.security == api.API_KEY for op in api.REGISTRY if op.path == path and op.method == method)
    response = http.json(method, fill(path, org.client.account_id), {field: FORBIDDEN[field]},
                         csrf=not by_key, headers=key if by_key else None)
    assert response.status_code == 422, (path, response.body)
    assert reply_json(response)["code"] == "unknown_field" and reply_json(response)["field"] == field
    assert _state(org.org_id) == before


def test_a_role_status_or_organisation_sent_with_sign_up_is_ignored(http, org, other_org):
    email = f"joiner-{new_id()[:6]}@example.org"
    fields = {"name": "Jo Joiner", "email": email, "password": "a-long-passphrase-9", "role": "admin",
              "status": "archived", "org_id": other_org.org_id, "created_at": "2001-01-01T00:00:00Z"}
    before = _state(other_org.org_id)
    assert join_and_confirm(http, org.join_token, fields).status_code == 303
    joined = Account.get(org.org_id, Account.by_email.query(email).next().account_id)
    assert (joined.role, joined.status, joined.org_id) == ("client", "activated", org.org_id)
    assert joined.created_at.year == utcnow().year
    assert _state(other_org.org_id) == before


# ------------------------------------------------------------------ dead sessions cannot write

def _dead(how: str, http, org, monkeypatch):
    if how == "signed out":
        cookie = http.cookies["caseload_session"]
        http.post_form("/signout", {})
        http.cookies["caseload_session"] = cookie
    elif how == "archived":
        rows.archive(Viewer.of(org.admin), org.staff.account_id)
    elif how == "idle":
        later = utcnow() + sessions.IDLE_TIMEOUT + timedelta(seconds=1)
        monkeypatch.setattr(sessions, "utcnow", lambda: later)
    else:  # absolute: kept busy, started long ago
        Session.get(hash_token(http.cookies["caseload_session"])).update(actions=[
            Session.started_at.set(utcnow() - sessions.ABSOLUTE_TIMEOUT - timedelta(seconds=1)),
            Session.last_seen.set(utcnow())])


@pytest.mark.parametrize("how", ["signed out", "archived", "idle", "absolute"])
def test_a_dead_session_cannot_read_or_write(http, org, monkeypatch, how):
    http.sign_in(org.staff)
    csrf = http.csrf("/home")
    _dead(how, http, org, monkeypatch)
    before = _state(org.org_id)
    read = http.json("GET", "/api/v1/clients")
    write = http.json("PATCH", f"/api/v1/clients/{org.client.account_id}", {"name": "Changed By A Ghost"},
                      csrf=False, headers={"x-csrf-token": csrf})
    page = http.get("/clients")
    assert read.status_code == 401 and write.status_code in (401, 403), (read.status_code, write.status_code)
    assert page.status_code in (302, 303) and "/signin" in page.headers["Location"]
    assert _state(org.org_id) == before


# ------------------------------------------------------------------ CSV upload end to end

def test_an_oversized_upload_fails_as_too_large_and_creates_nobody(http, pump, org):
    from tests.test_imports import checked

    http.sign_in(org.admin)
    before = _state(org.org_id)
    state = checked(http, pump, b"email,name\n" + b"someone@example.org,Some One\n" * (11 * 1024 * 1024 // 28 + 1))
    assert state["status"] == "failed" and "larger than 10 MB" in state["message"]
    assert _state(org.org_id) == before


def test_an_object_outside_the_organisations_prefix_starts_nothing(org, other_org):
    job = imports.start_upload(Viewer.of(org.admin), "x.csv")
    waiting = (Job.get(job["job_id"]).status, Job.get(job["job_id"]).phase)
    assert waiting[1] == "upload"  # the job looks for its file until it arrives
    before, before_other = _state(org.org_id), _state(other_org.org_id)
    for key in (f"uploads/{other_org.org_id}/{job['job_id']}.csv", f"uploads/{org.org_id}/../{other_org.org_id}/x.csv",
                f"elsewhere/{org.org_id}/{job['job_id']}.csv", f"uploads/{org.org_id}/{new_id()}.csv"):
        assert imports.check_upload(key) is None, key
    assert (Job.get(job["job_id"]).status, Job.get(job["job_id"]).phase) == waiting
    assert _state(org.org_id) == before and _state(other_org.org_id) == before_other
