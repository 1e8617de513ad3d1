"""JSON API: the signed-in account."""
from chalice import Blueprint

from chalicelib.people import accounts
from chalicelib.web.guard import json_ok, request, view, viewer
from chalicelib.web.openapi import errors, json_schema
from chalicelib.web.requests import json_body

bp = Blueprint(__name__)
ME = {"$ref": "#/components/schemas/Me"}
SCHEMAS = {"Me": {"type": "object", "properties": {
    "account_id": {"type": "string"}, "org_id": {"type": "string"}, "name": {"type": "string"},
    "email": {"type": "string", "format": "email"}, "role": {"type": "string", "enum": ["admin", "staff", "client"]},
    "status": {"type": "string", "enum": ["provisioned", "activated", "archived"]}}}}
OPENAPI = {
    "/api/v1/me": {
        "get": {"summary": "The signed-in account", "responses": {"200": json_schema(ME), **errors(401)}},
        "patch": {"summary": "Change your own name", "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["name"], "additionalProperties": False,
                                            "properties": {"name": {"type": "string", "maxLength": 120}}}}}},
                  "responses": {"200": json_schema(ME), **errors(400, 401, 403)}},
    },
}


def _me(account) -> dict:
    return {"account_id": account.account_id, "org_id": account.org_id, "name": account.name,
            "email": account.email, "role": account.role, "status": account.status}


@bp.route("/api/v1/me")
@view("admin", "staff", "client")
def me():
    you = viewer()
    return json_ok(_me(accounts.get_account(you.org_id, you.account_id)))


@bp.route("/api/v1/me", methods=["PATCH"])
@view("admin", "staff", "client")
def rename_me():
    body = json_body(request(), {"name"})
    return json_ok(_me(accounts.rename_self(viewer(), str(body.get("name", "")))))
