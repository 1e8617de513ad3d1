"""Invite Users: the window (a plain page without JavaScript), the accept page,
extra sign-up links, resend/revoke, their JSON twins, and the SES feedback handler."""
import json
import os
from urllib.parse import urlparse

from chalice import Blueprint

from chalicelib import invites, organisations
from chalicelib.errors import CaseloadError, Gone, NotFound, ValidationError
from chalicelib.openapi import errors, json_schema
from chalicelib.web import render
from chalicelib.web.guard import form_errors, json_ok, page, request, set_session_cookie, view, viewer
from chalicelib.web.requests import FORM_TYPE, client_ip, form, json_body, query

bp = Blueprint(__name__)
TEAM = ("admin", "staff")
SES_FEEDBACK_TOPIC = os.environ.get("CASELOAD_SES_FEEDBACK_TOPIC", "caseload-local-ses-feedback")

_OUTCOME = {"type": "object", "properties": {
    "input": {"type": "string"}, "email": {"type": "string", "nullable": True},
    "status": {"type": "string", "enum": ["invited", "exists", "invalid", "suppressed"]},
    "message": {"type": "string"}, "account_id": {"type": "string", "nullable": True}}}
_LINK = {"$ref": "#/components/schemas/InviteLink"}
SCHEMAS = {
    "InviteOutcome": _OUTCOME,
    "InviteLink": {"type": "object", "properties": {
        "link_id": {"type": "string"}, "url": {"type": "string"}, "label": {"type": "string"},
        "group_id": {"type": "string", "nullable": True}, "group_name": {"type": "string", "nullable": True},
        "staff_id": {"type": "string", "nullable": True}, "staff_email": {"type": "string", "nullable": True},
        "valid_until": {"type": "string", "format": "date-time"}, "max_uses": {"type": "integer", "nullable": True},
        "uses": {"type": "integer"}, "state": {"type": "string", "enum": ["active", "expired", "used up"]}}},
    "OrgLink": {"type": "object", "properties": {
        "url": {"type": "string", "nullable": True}, "enabled": {"type": "boolean"},
        "allowed_domains": {"type": "array", "items": {"type": "string"}},
        "links": {"type": "array", "items": _LINK}}},
    "ResendResult": {"type": "object", "properties": {
        "account_id": {"type": "string"}, "status": {"type": "string"}, "message": {"type": "string"}}},
}


def _body(properties: dict, required=()) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "required": list(required), "properties": properties}}}}


_IDS = {"type": "array", "items": {"type": "string"}, "maxItems": invites.MAX_ADDRESSES}
OPENAPI = {
    "/api/v1/invites": {"post": {
        "summary": "Invite e-mail addresses (Provisioned accounts, e-mails through SES)",
        "requestBody": _body({"emails": {"type": "array", "items": {"type": "string"},
                                         "maxItems": invites.MAX_ADDRESSES},
                              "role": {"type": "string", "enum": ["admin", "staff", "client"]},
                              "group_id": {"type": "string", "nullable": True},
                              "staff_id": {"type": "string", "nullable": True},
                              "send_email": {"type": "boolean", "default": True}}, ["emails"]),
        "responses": {"200": json_schema({"type": "object", "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/InviteOutcome"}},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}),
            **errors(400, 401, 403)}}},
    "/api/v1/invites/check": {"post": {
        "summary": "Validate addresses as the chips input does (no account is created)",
        "requestBody": _body({"emails": {"type": "array", "items": {"type": "string"},
                                         "maxItems": invites.MAX_ADDRESSES}}, ["emails"]),
        "responses": {"200": json_schema({"type": "object", "properties": {"entries": {"type": "array", "items": {
            "type": "object", "properties": {"input": {"type": "string"}, "email": {"type": "string", "nullable": True},
                                             "valid": {"type": "boolean"}, "duplicate": {"type": "boolean"},
                                             "message": {"type": "string"}}}}}}), **errors(400, 401, 403)}}},
    "/api/v1/invites/resend": {"post": {
        "summary": "Send a fresh invitation (the old link stops working) to Provisioned accounts",
        "requestBody": _body({"account_ids": _IDS}, ["account_ids"]),
        "responses": {"200": json_schema({"type": "object", "properties": {"results": {
            "type": "array", "items": {"$ref": "#/components/schemas/ResendResult"}}}}), **errors(400, 401, 403)}}},
    "/api/v1/invites/revoke": {"post": {
        "summary": "Revoke the invitations of Provisioned accounts",
        "requestBody": _body({"account_ids": _IDS}, ["account_ids"]),
        "responses": {"200": json_schema({"type": "object", "properties": {"results": {
            "type": "array", "items": {"$ref": "#/components/schemas/ResendResult"}}}}), **errors(400, 401, 403)}}},
    "/api/v1/clients/{account_id}/resend-invite": {"post": {
        "summary": "Resend one person's invitation",
        "parameters": [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": json_schema({"$ref": "#/components/schemas/ResendResult"}),
                      **errors(401, 403, 404, 409)}}},
    "/api/v1/clients/{account_id}/revoke-invite": {"post": {
        "summary": "Revoke one person's invitation (the account stays Provisioned)",
        "parameters": [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": json_schema({"$ref": "#/components/schemas/ResendResult"}),
                      **errors(401, 403, 404, 409)}}},
    "/api/v1/invites/link": {
        "get": {"summary": "The organisation account link, its settings and the extra invite links",
                "responses": {"200": json_schema({"$ref": "#/components/schemas/OrgLink"}), **errors(401, 403)}},
        "patch": {"summary": "Turn the account link on or off; restrict sign-up to e-mail domains (admins)",
                  "requestBody": _body({"enabled": {"type": "boolean"},
                                        "allowed_domains": {"type": "array", "items": {"type": "string"}}}),
                  "responses": {"200": json_schema({"$ref": "#/components/schemas/OrgLink"}),
                                **errors(400, 401, 403)}}},
    "/api/v1/invites/link/regenerate": {"post": {
        "summary": "Replace the account link; the old one stops working at once (admins)",
        "responses": {"200": json_schema({"$ref": "#/components/schemas/OrgLink"}), **errors(401, 403)}}},
    "/api/v1/invites/links": {"post": {
        "summary": "Create an extra invite link tied to a group and/or staff member (admins)",
        "requestBody": _body({"label": {"type": "string", "maxLength": 80},
                              "group_id": {"type": "string", "nullable": True},
                              "staff_id": {"type": "string", "nullable": True},
                              "days": {"type": "integer", "minimum": 1, "maximum": 90},
                              "max_uses": {"type": "integer", "minimum": 1, "maximum": 10000, "nullable": True}}),
        "responses": {"201": json_schema(_LINK), **errors(400, 401, 403)}}},
    "/api/v1/invites/links/{link_id}": {"delete": {
        "summary": "Delete an extra invite link (it stops working at once)",
        "parameters": [{"name": "link_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": json_schema({"type": "object", "properties": {"deleted": {"type": "string"}}}),
                      **errors(401, 403, 404)}}},
}


# --------------------------------------------------------------------------- helpers

def _safe_next(raw: str) -> str:
    parsed = urlparse(raw or "")
    if raw and raw.startswith("/") and not raw.startswith("//") and not parsed.netloc and "\\" not in raw:
        return raw
    return ""


def _link_settings(me) -> dict:
    org = organisations.get_organisation(me.org_id)
    token = invites.org_link_token(org)
    return {"url": invites.join_url(token) if token else None, "enabled": bool(org.join_enabled),
            "allowed_domains": list(org.allowed_domains or []),
            "links": [l.to_dict() for l in invites.extra_links(me)]}


def _window_context(me, **extra) -> dict:
    org = organisations.get_organisation(me.org_id)
    token = invites.org_link_token(org)
    context = {
        "org": org, "org_link": invites.join_url(token) if token else None,
        "links": invites.extra_links(me), "groups": invites.groups_of(me.org_id),
        "staff": invites.staff_members(me.org_id), "is_admin": me.is_admin,
        "values": {"role": "client", "send_email": True, "staff_id": me.account_id if me.role == "staff" else ""},
        "errors": {}, "link_errors": {}, "results": None, "notice": None,
        "max_addresses": invites.MAX_ADDRESSES,
    }
    context.update(extra)
    return context


def _window(me, status: int = 200, **extra):
    """The whole page, or only the window's content when the dialog asks for it."""
    req = request()
    fragment = req.headers.get("x-fragment") == "1" or (query(req).get("fragment") == "1")
    template = "invites/_window.html" if fragment else "invites/page.html"
    response = page(template, status, **_window_context(me, **extra))
    response.headers["Vary"] = "X-Fragment"
    return response


def _counts(outcomes) -> dict:
    counts = {"invited": 0, "exists": 0, "invalid": 0, "suppressed": 0}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


NOTICES = {"regenerated": "A new account link was made. The old link no longer works.",
           "enabled": "The account link is on: people can sign up with it.",
           "disabled": "The account link is off: nobody can sign up or sign in with it.",
           "domains": "Allowed e-mail domains saved.", "link_created": "Invite link created.",
           "link_deleted": "Invite link deleted: it no longer works."}


# --------------------------------------------------------------------------- the Invite Users window

@bp.route("/clients/invite")
@view(*TEAM)
def invite_window():
    notice = NOTICES.get(query(request()).get("saved", ""))
    return _window(viewer(), notice=notice)


@bp.route("/clients/invite", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def invite_submit():
    me, fields = viewer(), form(request())
    values = {"emails": fields.get("emails", ""), "role": fields.get("role", "client"),
              "group_id": fields.get("group_id", ""), "staff_id": fields.get("staff_id", ""),
              "send_email": fields.get("send_email") == "on"}
    try:
        outcomes = invites.invite(me, [values["emails"]], values["role"], values["group_id"], values["staff_id"],
                                  values["send_email"])
    except ValidationError as error:
        return _window(me, 400, values=values, errors=form_errors(error))
    return _window(me, results=outcomes, counts=_counts(outcomes),
                   values={**values, "emails": ""})


@bp.route("/clients/invite/link", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def org_link_action():
    me, fields = viewer(), form(request())
    action = fields.get("action", "")
    try:
        if action == "regenerate":
            invites.regenerate_org_link(me)
        elif action in ("enable", "disable"):
            invites.set_org_link_enabled(me, action == "enable")
            action = f"{action}d"
        elif action == "domains":
            invites.set_allowed_domains(me, fields.get("allowed_domains", ""))
        else:
            raise ValidationError("Choose what to change.", "action")
    except ValidationError as error:
        return _window(me, 400, link_errors=form_errors(error), domains_value=fields.get("allowed_domains", ""))
    return render.redirect(render.url("/clients/invite", saved=action) + "#org-link")


@bp.route("/clients/invite/links", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def extra_link_create():
    me, fields = viewer(), form(request())
    try:
        invites.create_extra_link(me, fields.get("label", ""), fields.get("group_id"), fields.get("staff_id"),
                                  fields.get("days", "7"), fields.get("max_uses", ""))
    except ValidationError as error:
        return _window(me, 400, link_errors={f"link_{k}": v for k, v in form_errors(error).items()},
                       link_values=fields)
    return render.redirect(render.url("/clients/invite", saved="link_created") + "#invite-links")


@bp.route("/clients/invite/links/{link_id}/delete", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def extra_link_delete(link_id):
    invites.delete_extra_link(viewer(), link_id)
    return render.redirect(render.url("/clients/invite", saved="link_deleted") + "#invite-links")


# --------------------------------------------------------------------------- resend / revoke (Actions menu)

@bp.route("/clients/{account_id}/resend-invite", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def resend_invite_form(account_id):
    result = invites.resend(viewer(), [account_id])[0]
    return _done(result["message"], result["status"] == "sent")


@bp.route("/clients/{account_id}/revoke-invite", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def revoke_invite_form(account_id):
    account = invites.revoke(viewer(), account_id)
    return _done(f"The invitation to {account.email} was revoked: its link no longer works.", True)


def _done(message: str, ok: bool):
    target = _safe_next(form(request()).get("next", ""))
    if target and ok:
        separator = "&" if "?" in target else "?"
        return render.redirect(f"{target}{separator}notice={message[:200]}".replace(" ", "+"))
    return page("invites/done.html", 200 if ok else 409, message=message, ok=ok)


# --------------------------------------------------------------------------- accepting an invitation

def _link_problem(error: CaseloadError):
    """A used, expired, withdrawn or unknown link gets a page that says which and what to do."""
    return page("invites/link_problem.html", error.status, error=error)


@bp.route("/invite/{token}")
@view()
def accept_form(token):
    try:
        pending = invites.open_invite(token)
    except (Gone, NotFound) as error:
        return _link_problem(error)
    return page("invites/accept.html", pending=pending, token=token, values={"name": pending.account.name},
                errors={})


@bp.route("/invite/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def accept(token):
    req, fields = request(), form(request())
    try:
        cookie_value, _session, account = invites.accept(token, fields.get("name", ""), fields.get("password", ""),
                                                         client_ip(req), req.headers.get("user-agent", ""))
    except (Gone, NotFound) as error:
        return _link_problem(error)
    except ValidationError as error:
        pending = invites.open_invite(token)
        return page("invites/accept.html", 400, pending=pending, token=token,
                    values={"name": fields.get("name", "")}, errors=form_errors(error))
    set_session_cookie(cookie_value)
    return render.redirect(render.url("/clients" if account.role in TEAM else "/home"))


# --------------------------------------------------------------------------- extra sign-up links

@bp.route("/links/{token}")
@view()
def extra_link_form(token):
    try:
        link = invites.open_extra_link(token)
    except (Gone, NotFound) as error:
        return _link_problem(error)
    return page("invites/link_signup.html", org=link.org, token=token, values={}, errors={})


@bp.route("/links/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def extra_link_signup(token):
    req, fields = request(), form(request())
    try:
        cookie_value, _session, account = invites.sign_up_with_link(
            token, fields.get("name", ""), fields.get("email", ""), fields.get("password", ""), client_ip(req),
            req.headers.get("user-agent", ""))
    except (Gone, NotFound) as error:
        return _link_problem(error)
    except CaseloadError as error:
        if error.status not in (400, 409):
            raise
        link = invites.open_extra_link(token)
        return page("invites/link_signup.html", error.status, org=link.org, token=token,
                    values={k: fields.get(k, "") for k in ("name", "email")}, errors=form_errors(error))
    set_session_cookie(cookie_value)
    return render.redirect(render.url("/home"))


# --------------------------------------------------------------------------- JSON API

@bp.route("/api/v1/invites", methods=["POST"])
@view(*TEAM)
def api_invite():
    body = json_body(request(), {"emails", "role", "group_id", "staff_id", "send_email"})
    emails = body.get("emails")
    if not isinstance(emails, list):
        raise ValidationError("Send the addresses as a list of strings.", "emails")
    outcomes = invites.invite(viewer(), emails, body.get("role") or "client", body.get("group_id"),
                              body.get("staff_id"), body.get("send_email", True) is not False)
    return json_ok({"results": [o.to_dict() for o in outcomes], "counts": _counts(outcomes)})


@bp.route("/api/v1/invites/check", methods=["POST"])
@view(*TEAM)
def api_check():
    body = json_body(request(), {"emails"})
    emails = body.get("emails")
    if not isinstance(emails, list) or len(emails) > invites.MAX_ADDRESSES:
        raise ValidationError(f"Send at most {invites.MAX_ADDRESSES:,} addresses as a list of strings.", "emails")
    return json_ok({"entries": invites.check_entries(emails)})


@bp.route("/api/v1/invites/resend", methods=["POST"])
@view(*TEAM)
def api_resend():
    body = json_body(request(), {"account_ids"})
    ids = body.get("account_ids")
    if not isinstance(ids, list):
        raise ValidationError("Send account_ids as a list.", "account_ids")
    return json_ok({"results": invites.resend(viewer(), ids)})


@bp.route("/api/v1/invites/revoke", methods=["POST"])
@view(*TEAM)
def api_revoke_many():
    body = json_body(request(), {"account_ids"})
    ids = body.get("account_ids")
    if not isinstance(ids, list):
        raise ValidationError("Send account_ids as a list.", "account_ids")
    return json_ok({"results": invites.revoke_many(viewer(), ids)})


@bp.route("/api/v1/clients/{account_id}/resend-invite", methods=["POST"])
@view(*TEAM)
def api_resend_one(account_id):
    result = invites.resend(viewer(), [account_id])[0]
    return json_ok(result, 200 if result["status"] == "sent" else 409 if result["status"] != "not_found" else 404)


@bp.route("/api/v1/clients/{account_id}/revoke-invite", methods=["POST"])
@view(*TEAM)
def api_revoke_one(account_id):
    account = invites.revoke(viewer(), account_id)
    return json_ok({"account_id": account.account_id, "status": "revoked",
                    "message": "The invitation was revoked: its link no longer works."})


@bp.route("/api/v1/invites/link")
@view(*TEAM)
def api_link():
    return json_ok(_link_settings(viewer()))


@bp.route("/api/v1/invites/link", methods=["PATCH"])
@view(*TEAM)
def api_link_update():
    me = viewer()
    invites.require_admin(me)
    body = json_body(request(), {"enabled", "allowed_domains"})
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ValidationError("Send true or false.", "enabled")
        invites.set_org_link_enabled(me, body["enabled"])
    if "allowed_domains" in body:
        invites.set_allowed_domains(me, body["allowed_domains"] if isinstance(body["allowed_domains"], list)
                                    else [body["allowed_domains"]])
    return json_ok(_link_settings(me))


@bp.route("/api/v1/invites/link/regenerate", methods=["POST"])
@view(*TEAM)
def api_link_regenerate():
    invites.regenerate_org_link(viewer())
    return json_ok(_link_settings(viewer()))


@bp.route("/api/v1/invites/links", methods=["POST"])
@view(*TEAM)
def api_link_create():
    body = json_body(request(), {"label", "group_id", "staff_id", "days", "max_uses"})
    link = invites.create_extra_link(viewer(), body.get("label", ""), body.get("group_id"), body.get("staff_id"),
                                     body.get("days", 7), body.get("max_uses"))
    return json_ok(link.to_dict(), 201)


@bp.route("/api/v1/invites/links/{link_id}", methods=["DELETE"])
@view(*TEAM)
def api_link_delete(link_id):
    invites.delete_extra_link(viewer(), link_id)
    return json_ok({"deleted": link_id})


# --------------------------------------------------------------------------- events

@bp.on_sns_message(topic=SES_FEEDBACK_TOPIC, name="ses_feedback")
def ses_feedback(event):
    """SES bounce/complaint notifications. A message that is not SES feedback is
    ignored (and logged by Lambda), never retried forever."""
    try:
        message = json.loads(event.message)
    except (TypeError, ValueError):
        return
    if isinstance(message, dict):
        invites.handle_ses_notification(message)
