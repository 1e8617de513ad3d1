"""Issue 13, items 1 and 2: the caller's address cannot be forged, and the sign-in throttle slows
guessing without letting anyone lock the owner out."""
from datetime import timedelta
from types import SimpleNamespace

import pytest

from chalicelib.core.models import Session, Throttle, utcnow
from chalicelib.people import throttle
from chalicelib.web.requests import client_ip
from tests.conftest import PASSWORD, Http


def _request(source, forwarded=None):
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return SimpleNamespace(context={"identity": {"sourceIp": source}}, headers=headers)


def test_the_address_is_api_gateways_source_ip_unless_a_trusted_proxy_forwards(monkeypatch):
    monkeypatch.setenv("CASELOAD_TRUSTED_PROXIES", "")
    assert client_ip(_request("198.51.100.7", "1.2.3.4")) == "198.51.100.7"
    monkeypatch.setenv("CASELOAD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    # right-most untrusted hop: what the client wrote on the left is not believed
    assert client_ip(_request("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9")) == "198.51.100.7"
    assert client_ip(_request("198.51.100.8", "6.6.6.6")) == "198.51.100.8"  # not from a proxy
    assert client_ip(_request("10.1.2.3", "not-an-ip")) == "unknown"
    assert client_ip(_request("10.1.2.3", "")) == "10.1.2.3"
    assert client_ip(_request("garbage")) == "unknown"


def test_rotating_x_forwarded_for_does_not_rotate_the_address(http, org, monkeypatch):
    monkeypatch.setenv("CASELOAD_TRUSTED_PROXIES", "")
    for n in range(throttle.PAIR_LIMIT):
        http.post_form("/signin", {"email": org.staff.email, "password": "wrong-wrong-1"},
                       headers={"x-forwarded-for": f"192.0.2.{n}"})
    response = http.post_form("/signin", {"email": org.staff.email, "password": "wrong-wrong-1"},
                              headers={"x-forwarded-for": "192.0.2.200"})
    assert response.status_code == 429


@pytest.mark.parametrize("length", [2100, 20000])
def test_an_oversized_forwarded_header_is_not_a_500(http, org, length):
    forged = ("1" * length)
    response = http.post_form("/signin", {"email": org.staff.email, "password": "wrong-wrong-1"},
                              headers={"x-forwarded-for": forged})
    assert response.status_code == 401
    long_list = ", ".join(["198.51.100.1"] * (length // 14))
    response = http.post_form("/signin", {"email": org.staff.email, "password": "wrong-wrong-1"},
                              headers={"x-forwarded-for": long_list})
    assert response.status_code == 401
    assert all(len(item.key) <= 100 for item in Throttle.scan())


def _fail(http, account, ip, times=1):
    statuses = []
    for _ in range(times):
        statuses.append(http.post_form("/signin", {"email": account.email, "password": "wrong-wrong-1"},
                                       headers={"x-forwarded-for": ip}).status_code)
    return statuses


def test_failures_elsewhere_never_refuse_the_owner_at_another_address(http, org, chalice_client):
    attacker = Http(chalice_client)
    statuses = _fail(attacker, org.admin, "192.0.2.66", throttle.PAIR_LIMIT + 3)
    assert statuses[:throttle.PAIR_LIMIT] == [401] * throttle.PAIR_LIMIT
    assert set(statuses[throttle.PAIR_LIMIT:]) == {429}  # the attacker's address is refused...
    owner = Http(chalice_client)  # ...the owner, from home, is not
    response = owner.post_form("/signin", {"email": org.admin.email, "password": PASSWORD},
                               headers={"x-forwarded-for": "198.51.100.20"})
    assert response.status_code == 303


def test_guessing_spread_over_addresses_meets_a_growing_delay_but_the_owners_browser_does_not(
        http, org, chalice_client):
    owner = Http(chalice_client)
    owner.sign_in(org.admin)  # the owner's browser is now known
    owner.post_form("/signout", {})
    attacker = Http(chalice_client)
    for n in range(throttle.ACCOUNT_FREE):
        assert _fail(attacker, org.admin, f"192.0.2.{n + 1}") == [401]
    refused = attacker.post_form("/signin", {"email": org.admin.email, "password": PASSWORD},
                                 headers={"x-forwarded-for": "192.0.2.150"})
    assert refused.status_code == 429  # even the right password waits: the guesser learns nothing
    assert 1 <= int(refused.headers["Retry-After"]) <= throttle.DELAY_BASE.total_seconds()
    assert "Try again in" in refused.body.decode()
    # the delay grows with each failure
    assert throttle.account_delay(throttle.ACCOUNT_FREE + 3) > throttle.account_delay(throttle.ACCOUNT_FREE)
    assert throttle.account_delay(10 ** 6) == throttle.DELAY_MAX
    # the owner's own browser, at yet another address, gets in
    response = owner.post_form("/signin", {"email": org.admin.email, "password": PASSWORD},
                               headers={"x-forwarded-for": "198.51.100.30"})
    assert response.status_code == 303


def test_a_forged_device_cookie_gives_no_pass(http, org, chalice_client):
    attacker = Http(chalice_client)
    for n in range(throttle.ACCOUNT_FREE):
        _fail(attacker, org.staff, f"192.0.2.{n + 1}")
    attacker.cookies["caseload_device"] = "abc.def"
    assert _fail(attacker, org.staff, "192.0.2.99") == [429]


def test_every_refusal_says_when_and_the_window_ends(http, org):
    _fail(http, org.client, "192.0.2.5", throttle.PAIR_LIMIT)
    response = http.post_form("/signin", {"email": org.client.email, "password": PASSWORD},
                              headers={"x-forwarded-for": "192.0.2.5"})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= throttle.WINDOW.total_seconds()
    assert "Try again in 15 minutes." in response.body.decode()
    for item in Throttle.batch_get(throttle.Keys.of(org.client.email, "192.0.2.5", None).all()):
        item.update(actions=[Throttle.window_start.set(utcnow() - timedelta(minutes=16))])
    ok = http.post_form("/signin", {"email": org.client.email, "password": PASSWORD},
                        headers={"x-forwarded-for": "192.0.2.5"})
    assert ok.status_code == 303


def test_the_api_answers_429_with_retry_after_on_the_json_shape(http, org):
    _fail(http, org.client, "192.0.2.7", throttle.PAIR_LIMIT)
    response = http.post_form("/signin", {"email": org.client.email, "password": PASSWORD},
                              headers={"x-forwarded-for": "192.0.2.7", "accept": "application/json"})
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert Session.by_account.count(f"{org.org_id}#{org.client.account_id}") == 0


def test_each_counter_is_one_conditional_update_without_a_read(org, monkeypatch):
    reads = []
    monkeypatch.setattr(Throttle, "get", classmethod(lambda cls, *a, **k: reads.append(a)))
    now = utcnow()
    throttle.record_failure(org.admin.email, "192.0.2.9", now=now)
    throttle.record_failure(org.admin.email, "192.0.2.9", now=now)
    assert reads == []
    keys = throttle.Keys.of(org.admin.email, "192.0.2.9", None)
    items = {i.key: i for i in Throttle.batch_get(keys.all())}
    assert items[keys.pair].failures == 2 and items[keys.account].failures == 2
    # a window that has ended starts again at one
    later = now + throttle.WINDOW + timedelta(seconds=1)
    throttle.record_failure(org.admin.email, "192.0.2.9", now=later)
    assert Throttle.batch_get([keys.pair]).__next__().failures == 1


def test_counting_is_atomic_under_concurrency(org):
    from concurrent.futures import ThreadPoolExecutor

    now = utcnow()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: throttle._count("pair#concurrency-" + org.org_id, now), range(16)))
    assert next(Throttle.batch_get(["pair#concurrency-" + org.org_id])).failures == 16
