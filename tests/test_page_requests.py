"""Issue 14's request bounds, counted on the app's own AWS clients: a sign-in
makes at most 4 DynamoDB requests, a Clients Table load at most 5 for any
filter combination (4 without one: the staff menu rides on the counters'
read); the session cookie names its account, and a cookie edited to name
another account signs nobody in."""
from contextlib import contextmanager

from botocore.client import BaseClient

from chalicelib.core.models import Session
from chalicelib.core.tokens import hash_token, new_token
from chalicelib.people import sessions
from tests.conftest import make_account


@contextmanager
def dynamodb_requests():
    """Count DynamoDB requests of every client (boto3's and each pynamodb connection's)."""
    seen = []
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        if client.meta.service_model.service_name == "dynamodb":
            seen.append(operation)
        return original(client, operation, params)

    BaseClient._make_api_call = counted
    try:
        yield seen
    finally:
        BaseClient._make_api_call = original


def test_sign_in_makes_at_most_four_requests(http, org):
    with dynamodb_requests() as seen:
        reply = http.sign_in(org.admin)
    assert reply.status_code == 303
    assert len(seen) <= 4, seen
    assert seen.count("TransactWriteItems") == 1  # account, session and timeline together


def test_a_clients_table_load_reads_session_and_person_at_once(http, org, pump):
    pump.drain()  # the counters and the staff menu exist
    http.sign_in(org.admin)
    http.get("/clients")  # warm
    # session + person, (planner counts + boxes + staff menu), Query, rows (+ boxes + menu), groups
    for path, headers, bound in [("/clients", {}, 4), ("/clients?role=client&status=activated", {}, 5),
                                 ("/clients?q=cl&role=client", {}, 5),
                                 ("/clients", {"x-requested-with": "caseload"}, 4),
                                 ("/api/v1/clients", {"accept": "application/json"}, 5)]:
        with dynamodb_requests() as seen:
            assert http.get(path, headers).status_code == 200
        assert len(seen) <= bound, (path, seen)
        assert "GetItem" not in seen, (path, seen)  # session + account: one BatchGetItem


def test_the_session_cookie_names_its_account_and_is_stored_only_as_a_hash(http, org):
    http.sign_in(org.admin)
    value = http.cookies["caseload_session"]
    org_id, account_id, secret = value.split(".")
    assert (org_id, account_id) == (org.admin.org_id, org.admin.account_id) and len(secret) >= 43
    assert Session.get(hash_token(value)).account_id == account_id


def test_a_cookie_edited_to_name_another_account_signs_nobody_in(http, org):
    http.sign_in(org.admin)
    _, _, secret = http.cookies["caseload_session"].split(".")
    other = make_account(org.org_id, "staff")
    http.cookies["caseload_session"] = f"{org.org_id}.{other.account_id}.{secret}"
    reply = http.get("/clients")
    assert reply.status_code in (302, 303) and "/signin" in reply.headers["Location"]
    assert sessions.load(f"{org.org_id}.{other.account_id}.{secret}") is None
    assert sessions.load("a.b." + "x" * 300) is None  # too long: not even looked up


def test_a_session_whose_cookie_is_a_bare_token_still_loads(org):
    token = new_token()
    Session(session_hash=hash_token(token), account_key=f"{org.org_id}#{org.admin.account_id}",
            org_id=org.org_id, account_id=org.admin.account_id, csrf_secret=new_token()).save()
    loaded = sessions.load(token)
    assert loaded is not None and loaded.account_id == org.admin.account_id


def test_a_filter_pair_with_its_own_index_is_planned_without_counts(org):
    from chalicelib.people.accounts import Viewer
    from chalicelib.table import planner
    from chalicelib.table.filters import parse_filters

    viewer = Viewer.of(org.admin)
    staff = make_account(org.org_id, "staff")
    exact = parse_filters({"status": "provisioned", "staff": staff.account_id}, viewer)
    assert planner.plan(org.org_id, exact) == {"st": f"{org.org_id}#provisioned#{staff.account_id}"}
    archived = parse_filters({"status": "archived", "staff": staff.account_id}, viewer)
    assert len(planner.plan(org.org_id, archived)) == 1  # the archived partition of that caseload
    by_name_only = parse_filters({"status": "provisioned", "staff": staff.account_id, "sort": "created"}, viewer)
    assert len(planner.plan(org.org_id, by_name_only)) == 2  # pairs exist in name order only: counts decide
    both = parse_filters({"role": "client", "status": "activated"}, viewer)
    assert set(planner.plan(org.org_id, both)) == {"role", "status"}
