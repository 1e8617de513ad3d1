"""Every /api/v1 body is a strict model: a wrong type, a null, an unknown or a
missing field is a 422 naming the field, and nothing is converted or written."""
import json
import typing

import pytest

from app import app  # noqa: F401  (registers every route)
from chalicelib.activity import api_keys
from chalicelib.core.tokens import new_id
from chalicelib.people.accounts import Viewer
from chalicelib.web import api
from tests.conftest import reply_json

WITH_BODY = sorted((op for op in api.REGISTRY if op.body is not None), key=lambda op: (op.path, op.method))


def _caller(http, org, op):
    """A function that sends a raw body to `op` as a signed-in admin (or with an API key)."""
    path = op.path.replace("{job_id}", new_id()).replace("{account_id}", new_id())
    headers = {"content-type": "application/json", "accept": "application/json"}
    if op.security == api.API_KEY:
        headers["authorization"] = "Bearer " + api_keys.create_key(Viewer.of(org.admin), "Tests")[1]
    else:
        http.sign_in(org.admin)
        headers["x-csrf-token"] = http.csrf("/home")
    return lambda body: http.request(op.method, path, body, headers)


def _ids(op) -> str:
    return f"{op.method} {op.path}"


def test_every_body_model_is_strict_and_closed():
    assert WITH_BODY, "no API route with a body"
    for op in WITH_BODY:
        assert op.body.model_config.get("strict") is True and op.body.model_config.get("extra") == "forbid", op


@pytest.mark.parametrize("op", WITH_BODY, ids=_ids)
def test_unknown_fields_are_422_naming_the_field(http, org, op):
    response = _caller(http, org, op)(json.dumps({"surprise": 1}).encode())
    assert response.status_code == 422, response.body
    assert reply_json(response) == {"code": "unknown_field", "field": "surprise",
                                    "message": "surprise: This field is not accepted here."}


@pytest.mark.parametrize("op", WITH_BODY, ids=_ids)
def test_not_json_or_not_an_object_is_400(http, org, op):
    call = _caller(http, org, op)
    for body in (b"{", b"null", b"[]", b'"text"'):
        response = call(body)
        assert response.status_code == 400, (body, response.body)
        assert reply_json(response)["code"] == "malformed_json"


def _wrong_value(annotation) -> object:
    text = str(annotation)
    for marker, value in (("list", "x"), ("dict", [1]), ("bool", "true"), ("int", "7")):
        if marker in text:
            return value
    return 5  # text fields (and Literal choices of text)


@pytest.mark.parametrize("op", WITH_BODY, ids=_ids)
def test_every_field_refuses_a_wrong_type_and_null(http, org, op):
    call = _caller(http, org, op)
    for name, info in op.body.model_fields.items():
        nullable = type(None) in typing.get_args(info.annotation)
        for value in (_wrong_value(info.annotation),) + (() if nullable else (None,)):
            response = call(json.dumps({name: value}).encode())
            assert response.status_code == 422, (name, value, response.body)
            error = reply_json(response)
            assert error["code"] == "invalid" and error["message"], error
            assert error["field"].split(".")[0] in op.body.model_fields, error


def test_null_name_is_refused_not_stored_as_none(http, org):
    http.sign_in(org.client)
    response = http.json("PATCH", "/api/v1/me", {"name": None})
    assert response.status_code == 422 and reply_json(response)["field"] == "name"
    assert reply_json(http.json("GET", "/api/v1/me"))["name"] == org.client.name


def test_numbers_in_text_are_not_converted(http, org):
    http.sign_in(org.admin)
    response = http.json("POST", "/api/v1/invites/check", {"emails": ["a@example.org", 12]})
    assert response.status_code == 422
    assert reply_json(response)["field"] == "emails.1"


def test_the_document_comes_from_the_models():
    document = api.document()
    schemas = document["components"]["schemas"]
    me = document["paths"]["/api/v1/me"]["patch"]
    assert me["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Rename"}
    assert schemas["Rename"]["additionalProperties"] is False
    assert schemas["Rename"]["properties"]["name"]["maxLength"] == 120
    assert {"400", "401", "403", "422"} <= set(me["responses"])
    assert schemas["Me"]["properties"]["role"]["enum"] == ["admin", "staff", "client"]
    activities = document["paths"]["/api/v1/activities"]["post"]
    assert activities["security"] == [{"apiKey": []}] and {"200", "201"} <= set(activities["responses"])
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []
    sizes = {p["name"]: p for p in document["paths"]["/api/v1/clients"]["get"]["parameters"]}
    assert sizes["no_visit"]["schema"]["anyOf"][0]["enum"] == [7, 30, 90]  # or empty: left out
