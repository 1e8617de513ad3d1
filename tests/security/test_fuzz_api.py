"""Issue 13, API fuzzing: schemathesis reads /api/v1/openapi.json as the app serves it and sends
generated requests to the app over loopback HTTP, once signed in as an admin (session cookie +
X-CSRF-Token) and once with an organisation API key. Every answer must be documented: no 5xx, a
documented status code, content type, headers and body schema.

A bounded number of examples per operation (FUZZ_EXAMPLES, the seed fixed) keeps the run short and
repeatable; `FUZZ_EXAMPLES=200 pytest tests/security/test_fuzz_api.py` digs deeper."""
import json
import os
import re

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from chalicelib.activity import api_keys
from chalicelib.core.models import Account
from chalicelib.invitations.addresses import MAX_ADDRESSES
from chalicelib.invitations.invites import MAX_SELECTED
from chalicelib.people import organisations
from chalicelib.people.accounts import Viewer
from tests.conftest import PASSWORD, _free_port, app, make_account, reply_json
from tools.local import emulator

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection")


def _document() -> dict:
    from chalice.test import Client

    with Client(app, stage_name="local") as client:
        response = client.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.body)


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": 13,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {"max-examples": EXAMPLES, "database": "none", "deterministic": True,
                       "with-security-parameters": False},  # the fixtures sign in
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


schema = schemathesis.openapi.from_dict(_document(), config=_config())
SESSION_OPERATIONS = schema.exclude(path="/api/v1/openapi.json")


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    server, _thread = emulator.local_server(app, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def fuzz_org():
    organisation, _token = organisations.create_organisation("Fuzzed Org")
    admin = make_account(organisation.org_id, "admin", name="Fuzz Admin")
    staff = make_account(organisation.org_id, "staff", name="Fuzz Staff")
    make_account(organisation.org_id, "client", name="Fuzz Client", staff_id=staff.account_id,
                 staff_email=staff.email)
    return organisation.org_id, admin


@pytest.fixture(scope="module")
def admin_headers(server, fuzz_org) -> dict:
    """An admin's session cookie and its CSRF token, as the browser sends them."""
    _org_id, admin = fuzz_org
    browser = requests.Session()
    page = browser.get(f"{server}/signin").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    signed = browser.post(f"{server}/signin", data={"email": admin.email, "password": PASSWORD,
                                                     "csrf_token": token}, allow_redirects=False)
    assert signed.status_code == 303
    session = signed.cookies["caseload_session"]
    home = browser.get(f"{server}/home", cookies={"caseload_session": session}).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    return {"cookie": f"caseload_session={session}", "x-csrf-token": token}


@pytest.fixture(scope="module")
def key_headers(fuzz_org) -> dict:
    _org_id, admin = fuzz_org
    secret = api_keys.create_key(Viewer.of(admin), "Fuzzing")[1]
    return {"authorization": f"Bearer {secret}"}


@SESSION_OPERATIONS.parametrize()
def test_the_api_as_an_admin_session_answers_as_documented(case, server, admin_headers):
    case.call_and_validate(base_url=server, headers=admin_headers)


@schema.parametrize()
def test_the_api_with_an_api_key_answers_as_documented(case, server, key_headers):
    case.call_and_validate(base_url=server, headers=key_headers)


# ------------------------------------------------------------------ what the fuzzing found, kept fixed

def _invite_fields(org_id: str, account_id: str) -> tuple:
    stored = Account.get(org_id, account_id, consistent_read=True)
    return stored.status, stored.invite_state, stored.invite_hash, stored.invited_at, stored.version


@pytest.mark.parametrize("action", ["resend", "revoke"])
def test_a_selection_over_the_documented_max_items_is_refused_even_when_it_repeats_one_id(http, org, action):
    invitee = make_account(org.org_id, status="provisioned", name="Ivy Invitee")
    before = _invite_fields(org.org_id, invitee.account_id)
    http.sign_in(org.admin)
    repeated = [invitee.account_id] * (MAX_SELECTED + 1)
    response = http.json("POST", f"/api/v1/invites/{action}", {"account_ids": repeated})
    assert response.status_code == 400
    assert reply_json(response)["field"] == "account_ids" and "at most" in reply_json(response)["message"]
    assert _invite_fields(org.org_id, invitee.account_id) == before


def test_an_address_list_over_the_documented_max_items_is_refused_even_with_blank_entries(http, org):
    address = f"blank-padded@{org.org_id[:8]}.example.org"
    http.sign_in(org.admin)
    for path in ("/api/v1/invites", "/api/v1/invites/check"):
        response = http.json("POST", path, {"emails": [address] + [" "] * MAX_ADDRESSES})
        assert response.status_code == 400 and reply_json(response)["code"] == "too_many_addresses", path
    assert not list(Account.by_email.query(address))


def test_an_empty_query_value_is_documented_as_leaving_it_out(http, org):
    document = _document()
    clients = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/clients"]["get"]["parameters"]}
    audit = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/audit"]["get"]["parameters"]}
    for schema in (clients["dir"], clients["role"], clients["size"], audit["action"]):
        assert {"const": ""}.items() <= schema["anyOf"][1].items()
    assert "anyOf" not in clients["cursor"]  # free text already takes the empty value
    http.sign_in(org.admin)
    assert (reply_json(http.json("GET", "/api/v1/clients?dir=&role=&size="))["rows"]
            == reply_json(http.json("GET", "/api/v1/clients"))["rows"])
    assert http.json("GET", "/api/v1/audit?action=").status_code == 200


def test_a_second_local_server_in_one_process_works(server):
    """The browser tests' server and this one may share a test process (pytest-xdist): Chalice's
    local app class is installed once, not stacked on itself."""
    another, _thread = emulator.local_server(app, "127.0.0.1", _free_port())
    try:
        url = f"http://127.0.0.1:{another.server.server_address[1]}/signin"
        assert requests.get(url, timeout=10).status_code == 200
        assert requests.get(f"{server}/signin", timeout=10).status_code == 200
    finally:
        another.shutdown()
