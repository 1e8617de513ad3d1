"""Activities from other platform modules, and the admin page of their API keys."""
from chalice import Blueprint

from chalicelib.activity import api_keys, platform_api
from chalicelib.core.errors import ValidationError
from chalicelib.web import render
from chalicelib.web.guard import form_errors, json_ok, page, request, view, viewer
from chalicelib.web.openapi import errors, json_schema
from chalicelib.web.requests import FORM_TYPE, form, json_body

bp = Blueprint(__name__)
SCHEMAS = {"RecordedActivity": {"type": "object", "properties": {
    "account_id": {"type": "string"}, "kind": {"type": "string"},
    "occurred_at": {"type": "string", "format": "date-time"}, "duplicate": {"type": "boolean"}}}}
OPENAPI = {"/api/v1/activities": {"post": {
    "summary": "Record an activity for a person (counts as a visit for Engagement)",
    "security": [{"apiKey": []}],
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                    "description": "Repeat a call safely: the same key within a day records nothing new"}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["kind"], "additionalProperties": False, "properties": {
            "account_id": {"type": "string"}, "email": {"type": "string", "format": "email"},
            "kind": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
            "description": {"type": "string", "maxLength": 500},
            "occurred_at": {"type": "string", "format": "date-time"}}}}}},
    "responses": {"201": json_schema({"$ref": "#/components/schemas/RecordedActivity"}, "Recorded"),
                  "200": json_schema({"$ref": "#/components/schemas/RecordedActivity"}, "Already recorded"),
                  **errors(400, 401, 404)},
}}}


@bp.route("/api/v1/activities", methods=["POST"])
@view()
def record_activity():
    req = request()
    caller = api_keys.authenticate(req.headers.get("authorization", ""))
    body = json_body(req, {"account_id", "email", "kind", "description", "occurred_at"})
    recorded = platform_api.record(caller, body, req.headers.get("idempotency-key"))
    return json_ok(recorded.as_dict(), 200 if recorded.duplicate else 201)


@bp.route("/settings/api-keys")
@view("admin")
def api_keys_page():
    return page("settings/api_keys.html", keys=api_keys.list_keys(viewer().org_id), errors={}, values={})


@bp.route("/settings/api-keys", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def create_api_key():
    fields = form(request())
    try:
        key, secret = api_keys.create_key(viewer(), fields.get("label", ""))
    except ValidationError as error:
        return page("settings/api_keys.html", 400, keys=api_keys.list_keys(viewer().org_id),
                    errors=form_errors(error), values=fields)
    return page("settings/api_keys.html", 201, keys=api_keys.list_keys(viewer().org_id), errors={}, values={},
                created=key, secret=secret)


@bp.route("/settings/api-keys/{key_id}/revoke", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def revoke_api_key(key_id):
    api_keys.revoke_key(viewer(), key_id)
    return render.redirect(render.url("/settings/api-keys", revoked="1"))
