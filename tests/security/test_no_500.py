"""Issue 13, item 6: no request produces a 500, generated over every route of the app.

Odd ids in the path, odd query strings, bodies that are not what a route expects,
lone surrogates in JSON, out-of-range dates, control characters and non-Latin-1
text in redirect targets, oversized header values: each answers a clear 4xx.
"""
import json
from urllib.parse import quote, urlencode

import pytest

from chalicelib.activity import api_keys
from chalicelib.people.accounts import Viewer
from tests.conftest import reply_json
from tests.security.routes import fill, is_json, routes

ODD_IDS = ["0" * 32, "%00%E2%80%AE", "a" * 3000, "%ED%A0%80%C3%A9"]
ODD_QUERY = {"q": "\x00\x01<script>", "cursor": "!!!", "size": "-1", "sort": "\u202e", "next": "/\x00\r\nX: y",
             "status": "a" * 5000, "notice": "\udc80".encode("utf-8", "surrogatepass").decode("latin-1")}
BODIES = [b"", b"{", b"[]", b"null", b'{"name": "\\ud800"}', b'{"emails": ["\\udfff@x.org"]}',
          json.dumps({"occurred_at": "0001-01-01T00:00:00+14:00"}).encode(), b"\xff\xfe\x00",
          b"a=" + b"%ff" * 50, b"&".join(b"f%d=1" % n for n in range(600))]


@pytest.fixture
def admin(http, org):
    http.sign_in(org.admin)
    return http


def _ok(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code} {response.body[:300]!r}"


@pytest.mark.parametrize("path,method", routes())
def test_odd_ids_and_queries_never_500(admin, path, method):
    for value in ODD_IDS:
        target = fill(path, value) + "?" + urlencode(ODD_QUERY)
        headers = {"accept": "application/json"} if is_json(path) else {}
        if method == "GET":
            _ok(admin.get(target, headers=headers), target)
        else:
            _ok(admin.json(method, target, {}, headers=headers), target)


@pytest.mark.parametrize("path,method", routes({"POST", "PATCH", "PUT", "DELETE"}))
def test_odd_bodies_never_500(admin, path, method):
    csrf = admin.csrf("/home")
    for body in BODIES:
        for content_type in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
            response = admin.request(method, fill(path, "0" * 32), body,
                                     {"content-type": content_type, "x-csrf-token": csrf})
            _ok(response, f"{path} {content_type} {body[:40]!r}")


@pytest.mark.parametrize("header", ["user-agent", "accept", "cookie", "x-csrf-token", "x-forwarded-for",
                                    "authorization", "idempotency-key", "x-requested-with", "content-type"])
def test_oversized_header_values_never_500(admin, header):
    for path in ("/clients", "/signin", "/api/v1/me", "/api/v1/clients"):
        _ok(admin.get(path, headers={header: "a" * 10_000}), f"{path} {header}")
    _ok(admin.post_form("/signin", {"email": "x@example.org", "password": "p" * 20},
                        headers={header: "\u00e9" * 5000}), f"/signin {header}")


@pytest.mark.parametrize("target", ["/clients\r\nSet-Cookie: x=y", "/\u0430\u0431\u0432", "/clients?q=\u20ac",
                                    "/\x7f", "/\x00", "/" + "a" * 5000, "/clients#\u00e9"])
def test_redirect_targets_with_control_or_non_latin1_text_are_safe(http, org, target):
    response = http.post_form("/signin", {"email": org.admin.email, "password": "correct-horse-battery-staple",
                                          "next": target})
    assert response.status_code == 303
    location = response.headers["Location"]
    location.encode("ascii")
    assert "\r" not in location and "\n" not in location and location.startswith("/")
    page = http.get("/signin?next=" + quote(target, safe=""))
    _ok(page, target)


def test_out_of_range_dates_are_a_clear_400(http, org):
    key = api_keys.create_key(Viewer.of(org.admin), "LMS")[1]
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-13-45T00:00:00Z", "1e400"):
        response = http.json("POST", "/api/v1/activities", {"email": org.client.email, "kind": "x",
                                                            "occurred_at": when},
                             csrf=False, headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 400 and reply_json(response)["field"] == "occurred_at", when


def test_a_form_with_too_many_fields_is_named_as_a_limit(admin):
    body = "&".join(f"f{n}=1" for n in range(600)) + "&csrf_token=" + admin.csrf("/home")
    response = admin.request("POST", "/home", body.encode(),
                             {"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    text = response.body.decode()
    assert "more than 500 fields" in text and "expired" not in text


def test_lone_surrogates_in_json_are_a_clear_400(admin, org):
    response = admin.request("PATCH", "/api/v1/me", b'{"name": "A\\ud800"}',
                             {"content-type": "application/json", "accept": "application/json",
                              "x-csrf-token": admin.csrf("/home")})
    assert 400 <= response.status_code < 500
    response = admin.request("POST", "/api/v1/invites/check", b'{"emails": ["a\\udc00@example.org"]}',
                             {"content-type": "application/json", "accept": "application/json",
                              "x-csrf-token": admin.csrf("/home")})
    assert 400 <= response.status_code < 500
