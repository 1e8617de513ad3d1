"""The API base, errors, headers, static files and unknown paths."""
import json

import pytest

from app import app
from chalicelib.web.api import document
from tests.conftest import reply_json


def test_openapi_describes_exactly_the_api_routes():
    described = {(path, method.upper()) for path, item in document()["paths"].items() for method in item}
    routed = {(path, method) for path, methods in app.routes.items() if path.startswith("/api/v1/")
              for method in methods if "{p" not in path}
    assert routed == described


def test_openapi_is_valid_openapi_3(http):
    from openapi_spec_validator import validate

    body = reply_json(http.get("/api/v1/openapi.json"))
    validate(body)
    assert body["openapi"].startswith("3.")


@pytest.mark.parametrize("path", ["/nothing", "/a/b/c", "/api/v1/nothing", "/api/v1/x/y/z", "/clients/x/y/z/w"])
def test_unknown_paths_are_404_not_missing_authentication_token(http, path):
    response = http.get(path, headers={"accept": "application/json"} if path.startswith("/api") else None)
    assert response.status_code == 404
    assert b"Missing Authentication Token" not in response.body
    if path.startswith("/api"):
        assert reply_json(response)["code"] == "not_found"
    else:
        assert b"Not found" in response.body


def test_wrong_content_type_gets_our_error_shape(http, org):
    http.sign_in(org.client)
    response = http.request("PATCH", "/api/v1/me", b"name=x",
                            {"content-type": "text/plain", "accept": "application/json", "x-csrf-token": http.csrf("/home")})
    assert response.status_code in (400, 415)
    body = reply_json(response)
    assert body["code"] == "unsupported_media_type" and body["message"]


@pytest.mark.parametrize("body,status,code,field", [
    (b"{not json", 400, "malformed_json", None),
    (b"[1, 2]", 400, "malformed_json", None),
    (b"", 400, "malformed_json", None),
    (json.dumps({"name": "x", "admin": True}).encode(), 422, "unknown_field", "admin"),
    (json.dumps({"name": None}).encode(), 422, "invalid", "name"),
    (json.dumps({"name": 42}).encode(), 422, "invalid", "name"),
    (json.dumps({"name": ["x"]}).encode(), 422, "invalid", "name"),
    (json.dumps({}).encode(), 422, "invalid", "name"),
    (json.dumps({"name": "x" * 5000}).encode(), 422, "invalid", "name"),
    (json.dumps({"name": ""}).encode(), 400, "invalid", "name"),
])
def test_bad_json_bodies_get_clear_errors(http, org, body, status, code, field):
    http.sign_in(org.client)
    response = http.request("PATCH", "/api/v1/me", body, {"content-type": "application/json",
                                                         "accept": "application/json", "x-csrf-token": http.csrf("/home")})
    assert response.status_code == status
    error = reply_json(response)
    assert error["code"] == code and error["message"]
    assert error.get("field") == field
    assert reply_json(http.json("GET", "/api/v1/me"))["name"] == org.client.name  # nothing stored


def test_oversized_form_is_refused(http, org):
    http.sign_in(org.client)
    token = http.csrf("/home")
    response = http.request("POST", "/home", f"csrf_token={token}&name={'x' * 300_000}".encode(),
                            {"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and b"too large" in response.body
    api = http.request("PATCH", "/api/v1/me", b'{"name": "' + b"x" * 300_000 + b'"}',
                       {"content-type": "application/json", "accept": "application/json", "x-csrf-token": token})
    assert api.status_code == 413 and reply_json(api)["code"] == "too_large"


def test_security_headers_on_every_page(http):
    response = http.get("/signin")
    headers = response.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_static_files_are_served_and_paths_cannot_escape(http):
    assert http.get("/static/app.css").status_code == 200
    assert http.get("/static/..%2Fapp.py").status_code == 404
    assert http.get("/static/missing.css").status_code == 404


def test_api_me_and_tenant_isolation(http, org, other_org):
    http.sign_in(org.admin)
    me = reply_json(http.json("GET", "/api/v1/me"))
    assert me["org_id"] == org.org_id and me["role"] == "admin"


def test_importing_the_app_creates_no_aws_client():
    import subprocess
    import sys

    code = ("import botocore.client, sys\n"
            "made = []\n"
            "original = botocore.client.ClientCreator.create_client\n"
            "botocore.client.ClientCreator.create_client = lambda *a, **k: made.append(a) or original(*a, **k)\n"
            "import app\n"
            "sys.exit(len(made))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "", "CASELOAD_TABLE_PREFIX": "x-", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert result.returncode == 0, result.stderr
