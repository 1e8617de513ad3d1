"""Activities from other platform modules, and the admin page of their API keys."""
from typing import Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib.activity import api_keys, platform_api
from chalicelib.core.errors import ValidationError
from chalicelib.web import api, render
from chalicelib.web.api import Body, DateTime, Email, Reply
from chalicelib.web.guard import form_errors, page, request, view, viewer
from chalicelib.web.requests import FORM_TYPE, form

bp = Blueprint(__name__)


class Activity(Body):
    account_id: Optional[str] = Field(None, description="The person's account id (or give email)")
    email: Optional[Email] = Field(None, description="The person's email address (or give account_id)")
    kind: str = Field(description="What happened, e.g. course_completed",
                      json_schema_extra={"pattern": platform_api.KIND.pattern})
    description: Optional[str] = Field(None, json_schema_extra={"maxLength": platform_api.MAX_DESCRIPTION})
    occurred_at: Optional[DateTime] = Field(None, description="ISO 8601 with a time zone; now when left out")


class RecordedActivity(Reply):
    account_id: str
    kind: str
    occurred_at: DateTime
    duplicate: bool


def _api_caller(req) -> api_keys.Caller:
    return api_keys.authenticate(req.headers.get("authorization", ""))


@api.route(bp, "/api/v1/activities", "POST", security=api.API_KEY, caller=_api_caller, body=Activity, errors=(404,),
           replies={201: (RecordedActivity, "Recorded"), 200: (RecordedActivity, "Already recorded")},
           headers=(api.Header("Idempotency-Key", "Repeat a call safely: the same key within a day records "
                                                  "nothing new"),),
           summary="Record an activity for a person (counts as a visit for Engagement)")
def record_activity(caller, body: Activity):
    recorded = platform_api.record(caller, body.model_dump(), request().headers.get("idempotency-key"))
    return recorded.as_dict(), 200 if recorded.duplicate else 201


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
