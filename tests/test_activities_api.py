"""POST /api/v1/activities with organisation API keys, and the keys' admin page."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.activity import api_keys
from chalicelib.core.models import Account
from chalicelib.metrics import counters, store
from chalicelib.people.accounts import Viewer
from tests.conftest import Http, reply_json


def _key(org, label="Learning platform") -> str:
    return api_keys.create_key(Viewer.of(org.admin), label)[1]


def _post(http, key, body, **headers):
    return http.json("POST", "/api/v1/activities", body, csrf=False,
                     headers={"authorization": f"Bearer {key}", **headers})


def test_an_activity_moves_last_visit_and_engagement(http, org, pump):
    key = _key(org)
    pump.drain()
    response = _post(http, key, {"email": org.client.email, "kind": "course_completed",
                                 "description": "Interview skills, module 2"})
    assert response.status_code == 201
    assert reply_json(response)["account_id"] == org.client.account_id
    client = Account.get(org.org_id, org.client.account_id)
    assert client.last_visit and datetime.now(timezone.utc) - client.last_visit < timedelta(minutes=1)
    pump.drain()
    boxes = counters.boxes(store.read_counters(org.org_id, counters.combo_key(role="client")))
    assert boxes.engaged == 1
    http.sign_in(org.admin)
    timeline = reply_json(http.json("GET", f"/api/v1/clients/{org.client.account_id}/activities"))["events"]
    assert timeline[0]["kind"] == "activity" and timeline[0]["detail"]["activity"] == "course_completed"
    assert timeline[0]["detail"]["source"] == "Learning platform"


def test_an_older_activity_never_moves_last_visit_back(http, org):
    key = _key(org)
    _post(http, key, {"account_id": org.client.account_id, "kind": "login"})
    latest = Account.get(org.org_id, org.client.account_id).last_visit
    old = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    assert _post(http, key, {"account_id": org.client.account_id, "kind": "login", "occurred_at": old}).status_code == 201
    assert Account.get(org.org_id, org.client.account_id).last_visit == latest


def test_the_same_idempotency_key_records_once(http, org):
    key = _key(org)
    body = {"account_id": org.client.account_id, "kind": "workshop_attended"}
    assert _post(http, key, body, **{"idempotency-key": "evt-42"}).status_code == 201
    again = _post(http, key, body, **{"idempotency-key": "evt-42"})
    assert again.status_code == 200 and reply_json(again)["duplicate"] is True
    assert _activities(org) == 1


def test_a_key_past_its_window_is_a_new_request_before_ttl_removes_it(http, org):
    from chalicelib.activity.platform_api import REMEMBER_KEYS
    from chalicelib.core.models import IdempotencyKey

    key = _key(org)
    body = {"account_id": org.client.account_id, "kind": "workshop_attended"}
    assert _post(http, key, body, **{"idempotency-key": "evt-old"}).status_code == 201
    stored = IdempotencyKey.get(f"{org.org_id}#evt-old")
    stored.update(actions=[IdempotencyKey.created_at.set(stored.created_at - REMEMBER_KEYS - timedelta(minutes=1))])
    again = _post(http, key, body, **{"idempotency-key": "evt-old"})  # the item is still stored: TTL is lazy
    assert again.status_code == 201 and reply_json(again)["duplicate"] is False
    assert _activities(org) == 2


def _activities(org) -> int:
    from chalicelib.activity.timeline import account_key
    from chalicelib.core.models import Activity

    return sum(1 for a in Activity.query(account_key(org.org_id, org.client.account_id)) if a.kind == "activity")


def test_the_same_key_with_another_body_is_refused_and_records_nothing(http, org):
    key = _key(org)
    first = {"account_id": org.client.account_id, "kind": "workshop_attended"}
    assert _post(http, key, first, **{"idempotency-key": "evt-7"}).status_code == 201
    other = _post(http, key, {**first, "kind": "course_completed"}, **{"idempotency-key": "evt-7"})
    assert other.status_code == 422
    assert reply_json(other)["code"] == "idempotency_mismatch" and "different request body" in reply_json(other)["message"]
    assert _activities(org) == 1


def test_a_crash_after_recording_then_a_retry_records_once_and_answers_as_first(http, org, monkeypatch):
    """The key, the activity and the visit are one transaction: a crash before it records
    nothing (the retry records once); a crash after it (the answer lost) is answered from the key."""
    from chalicelib.activity import platform_api

    key = _key(org)
    body = {"account_id": org.client.account_id, "kind": "workshop_attended",
            "occurred_at": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}
    real = platform_api.TransactWrite

    class CrashBefore(real):
        def __exit__(self, *args):
            raise ConnectionError("Lambda killed before the commit")

    monkeypatch.setattr(platform_api, "TransactWrite", CrashBefore)
    with pytest.raises(ConnectionError):
        platform_api.record(api_keys.Caller(org.org_id, "k", "Platform"), body, "evt-9")
    assert _activities(org) == 0

    class CrashAfter(real):
        def __exit__(self, *args):
            super().__exit__(*args)
            raise ConnectionError("Lambda killed after the commit, before answering")

    monkeypatch.setattr(platform_api, "TransactWrite", CrashAfter)
    with pytest.raises(ConnectionError):
        platform_api.record(api_keys.Caller(org.org_id, "k", "Platform"), body, "evt-9")
    monkeypatch.undo()
    assert _activities(org) == 1
    retry = _post(http, key, body, **{"idempotency-key": "evt-9"})
    assert retry.status_code == 200
    answer = reply_json(retry)
    assert answer["duplicate"] is True and answer["kind"] == "workshop_attended"
    assert answer["occurred_at"] == datetime.fromisoformat(body["occurred_at"]).isoformat()
    assert _activities(org) == 1


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer cl_nope", "Basic abc", "Bearer " + "x" * 5000])
def test_without_a_valid_key_nothing_is_recorded(http, org, authorization):
    response = http.json("POST", "/api/v1/activities", {"account_id": org.client.account_id, "kind": "x"},
                         csrf=False, headers={"authorization": authorization} if authorization else {})
    assert response.status_code in (401, 403)
    assert Account.get(org.org_id, org.client.account_id).last_visit is None


@pytest.mark.parametrize("body, status, code", [
    ({"kind": "x"}, 400, "missing_account"),
    ({"account_id": "a", "email": "b@example.org", "kind": "x"}, 400, "missing_account"),
    ({"account_id": "0" * 32, "kind": "x"}, 404, "not_found"),
    ({"email": "nobody@example.org", "kind": "x"}, 404, "not_found"),
    ({"email": "not an email", "kind": "x"}, 400, None),
    ({"account_id": "CLIENT", "kind": "Bad Kind!"}, 400, "invalid_kind"),
    ({"account_id": "CLIENT", "kind": "x", "occurred_at": "yesterday"}, 400, "invalid_time"),
    ({"account_id": "CLIENT", "kind": "x", "occurred_at": "2026-01-01T00:00:00"}, 400, "invalid_time"),
    ({"account_id": "CLIENT", "kind": "x", "occurred_at": "2099-01-01T00:00:00Z"}, 400, "invalid_time"),
    ({"account_id": "CLIENT", "kind": "x", "description": "y" * 501}, 400, None),
    ({"account_id": "CLIENT", "kind": "x", "surprise": 1}, 422, "unknown_field"),
    ({"account_id": "CLIENT", "kind": 5}, 422, "invalid"),
    ({"account_id": "CLIENT", "kind": None}, 422, "invalid"),
    ({"account_id": "CLIENT"}, 422, "invalid"),
    ({"account_id": ["CLIENT"], "kind": "x"}, 422, "invalid"),
    ({"account_id": "CLIENT", "kind": "x", "description": 7}, 422, "invalid"),
    ({"account_id": "CLIENT", "kind": "x", "occurred_at": 1700000000}, 422, "invalid"),
])
def test_bad_bodies_get_clear_errors(http, org, body, status, code):
    key = _key(org)
    body = {k: (org.client.account_id if v == "CLIENT" else v) for k, v in body.items()}
    response = _post(http, key, body)
    assert response.status_code == status, response.body
    reply = reply_json(response)
    assert reply["message"] and (code is None or reply["code"] == code)
    assert Account.get(org.org_id, org.client.account_id).last_visit is None


def test_a_key_only_reaches_its_own_organisation(http, org, other_org):
    key = _key(org)
    assert _post(http, key, {"account_id": other_org.client.account_id, "kind": "x"}).status_code == 404
    assert _post(http, key, {"email": other_org.client.email, "kind": "x"}).status_code == 404


def test_admins_create_and_revoke_keys_on_their_page(http, org):
    http.sign_in(org.admin)
    page = http.get("/settings/api-keys")
    assert page.status_code == 200 and "No keys yet" in page.body.decode()
    created = http.post_form("/settings/api-keys", {"label": "Job board",
                                                    "csrf_token": http.csrf("/settings/api-keys")})
    text = created.body.decode()
    secret = re.search(r'<code class="secret">([^<]+)</code>', text).group(1)
    assert created.status_code == 201 and "Job board" in text
    assert _post(http, secret, {"account_id": org.client.account_id, "kind": "x"}).status_code == 201
    key_id = api_keys.list_keys(org.org_id)[0].key_id
    revoked = http.post_form(f"/settings/api-keys/{key_id}/revoke",
                             {"csrf_token": http.csrf("/settings/api-keys")})
    assert revoked.status_code == 303
    assert _post(http, secret, {"account_id": org.client.account_id, "kind": "x"}).status_code == 401
    assert "No keys yet" in http.get("/settings/api-keys").body.decode()
    empty = http.post_form("/settings/api-keys", {"label": "  ", "csrf_token": http.csrf("/settings/api-keys")})
    assert empty.status_code == 400 and "Enter a name." in empty.body.decode()


def test_staff_and_clients_cannot_manage_keys(chalice_client, org):
    for person in (org.staff, org.client):
        http = Http(chalice_client)
        http.sign_in(person)
        assert http.get("/settings/api-keys").status_code == 403
        with pytest.raises(Exception):
            api_keys.create_key(Viewer.of(person), "sneaky")
    assert api_keys.list_keys(org.org_id) == []


def test_revoking_an_unknown_key_is_a_404(http, org):
    http.sign_in(org.admin)
    response = http.post_form("/settings/api-keys/" + "0" * 32 + "/revoke",
                              {"csrf_token": http.csrf("/settings/api-keys")})
    assert response.status_code == 404
