"""Issue 13 "Keep it fixed": tenant isolation, CSRF and safe GETs, generated from the route table
(tests/security/routes.py), so a route added later is covered without anyone remembering to."""
import re

import pytest

from chalicelib.activity import api_keys
from chalicelib.core.models import Account
from chalicelib.core.tokens import new_id
from chalicelib.invitations import links
from chalicelib.people import organisations
from chalicelib.people.accounts import Viewer
from chalicelib.web import guard
from tests.conftest import Http
from tests.security.routes import fill, has_id, routes

TOKEN_PARAMS = {"token"}  # public links: a token is the secret, not an id of a tenant's thing
VOLATILE = ("last_visit", "visit_day", "active_days", "version", "s_visit", "p_visit")
CSRF_META = re.compile(r'(name="csrf-token" content="|name="csrf_token" value=")[^"]+')


def _state(org_id: str) -> list:
    """What must not change: every account of the organisation, visits aside."""
    return sorted(
        (a.account_id, {k: v for k, v in a.attribute_values.items() if not k.startswith(VOLATILE)})
        for a in Account.query(org_id))


def _params(path: str) -> list:
    return re.findall(r"\{([^}]+)\}", path)


def _foreign_ids(other_org) -> dict:
    """Real ids of the other organisation's things, by parameter name (anything else: an account id)."""
    key = api_keys.create_key(Viewer.of(other_org.admin), "Theirs")[0]
    organisation = organisations.get_organisation(other_org.org_id)
    links.create_extra_link(organisation, other_org.admin.account_id, days="7")
    link_id = next(iter(organisations.get_organisation(other_org.org_id).extra_links))
    return {"account_id": other_org.client.account_id, "key_id": getattr(key, "key_id", str(key)),
            "link_id": link_id}


def _normalised(response, ids) -> tuple:
    body = response.body.decode("utf-8", "replace")
    body = CSRF_META.sub(r"\1TOKEN", body)
    for value in ids:
        body = body.replace(value, "ID")
    return response.status_code, body


ID_ROUTES = [(p, m) for p, m in routes() if has_id(p) and not set(_params(p)) & TOKEN_PARAMS]


@pytest.mark.parametrize("path,method", ID_ROUTES)
def test_another_organisations_id_answers_like_a_nonexistent_one(http, org, other_org, path, method):
    foreign = _foreign_ids(other_org)
    http.sign_in(org.admin)
    before = _state(other_org.org_id)
    answers = []
    for source in ("foreign", "missing"):
        values = {name: foreign.get(name, other_org.admin.account_id) if source == "foreign" else new_id()
                  for name in _params(path)}
        target = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)
        headers = {"accept": "application/json"} if path.startswith("/api/") else {}
        if method == "GET":
            response = http.get(target, headers=headers)
        elif path.startswith("/api/"):
            response = http.json(method, target, {}, headers=headers)
        else:
            response = http.post_form(target, {})
        answers.append(_normalised(response, list(values.values())))
    assert answers[0] == answers[1], f"{method} {path}: {answers[0][0]} vs {answers[1][0]}"
    assert answers[0][0] in (400, 403, 404, 405, 410, 422), answers[0]
    assert _state(other_org.org_id) == before


UNSAFE_ROUTES = [(p, m) for p, m in routes({"POST", "PATCH", "PUT", "DELETE"})
                 if (m, p) not in guard.api_key_routes()]


@pytest.mark.parametrize("path,method", UNSAFE_ROUTES)
def test_every_state_changing_route_needs_this_sessions_csrf_token(chalice_client, org, path, method):
    other = Http(chalice_client)
    other.sign_in(org.staff)
    others_token = other.csrf("/home")
    http = Http(chalice_client)
    http.sign_in(org.admin)
    before = _state(org.org_id)
    target = fill(path, org.client.account_id)
    for token in (None, "wrong-token", others_token):
        headers = {"content-type": "application/x-www-form-urlencoded"}
        body = b"name=Changed&role=admin&emails=x%40example.org"
        if token:
            body += b"&csrf_token=" + token.encode()
        response = http.request(method, target, body, headers)
        assert response.status_code == 403 and b"csrf_failed" in response.body or \
            b"did not come from Caseload" in response.body, (path, token, response.status_code)
        json_response = http.request(method, target, b'{"name": "Changed"}',
                                     {"content-type": "application/json", "accept": "application/json",
                                      **({"x-csrf-token": token} if token else {})})
        assert json_response.status_code == 403, (path, token, json_response.status_code)
    assert _state(org.org_id) == before


@pytest.mark.parametrize("path,method", routes({"GET"}))
def test_get_never_changes_state(http, org, path, method):
    http.sign_in(org.admin)
    before = _state(org.org_id)
    http.get(fill(path, org.client.account_id) + "?status=archived&confirm=1&role=admin")
    assert _state(org.org_id) == before
