"""View Clients: the Clients Table page, its JSON twin, and View Activities."""
from chalice import Blueprint

from chalicelib.activity import history
from chalicelib.table.filters import SORTS
from chalicelib.table.view import table_view
from chalicelib.web.guard import json_ok, page, request, view, viewer
from chalicelib.web.openapi import errors, json_schema
from chalicelib.web.requests import query

bp = Blueprint(__name__)

_FILTER_PARAMS = [
    ("role", "Role", {"type": "string", "enum": ["admin", "staff", "client"]}),
    ("status", "Status; archived accounts are listed only when asked for",
     {"type": "string", "enum": ["provisioned", "activated", "archived"]}),
    ("group", "Group id, or - for no group", {"type": "string"}),
    ("staff", "Assigned staff member's account id, or - for unassigned (staff: always themselves)",
     {"type": "string"}),
    ("no_visit", "No visit in this many days", {"type": "integer", "enum": [7, 30, 90]}),
    ("box", "Only the rows a stat box counts", {"type": "string", "enum": ["new", "engaged"]}),
    ("q", "Case-insensitive prefix of a word of the name, or of the e-mail (2+ letters)", {"type": "string"}),
    ("sort", "Sort key", {"type": "string", "enum": list(SORTS)}),
    ("dir", "Sort direction", {"type": "string", "enum": ["asc", "desc"]}),
    ("size", "Rows per page, clamped up to 25, 50 or 100", {"type": "integer"}),
    ("cursor", "Opaque cursor from a previous answer, bound to the same filters", {"type": "string"}),
]
SCHEMAS = {
    "ClientRow": {"type": "object", "properties": {
        "account_id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
        "role": {"type": "string"}, "status": {"type": "string"}, "group_id": {"type": "string", "nullable": True},
        "group": {"type": "string", "nullable": True}, "staff_email": {"type": "string", "nullable": True},
        "last_visit": {"type": "string", "format": "date-time", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "invite": {"type": "string", "nullable": True,
                   "enum": ["invited", "expired", "bounced", "complained", "revoked", None]}}},
    "ClientStats": {"type": "object", "properties": {
        "total": {"type": "integer"}, "total_30_days_ago": {"type": "integer"}, "new": {"type": "integer"},
        "new_previous_30_days": {"type": "integer"}, "engaged": {"type": "integer"},
        "engagement": {"type": "number", "nullable": True},
        "engaged_previous_30_days": {"type": "integer", "nullable": True},
        "weekly_active": {"type": "array", "items": {"type": "integer"}, "nullable": True}}},
    "ClientsPage": {"type": "object", "properties": {
        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/ClientRow"}},
        "stats": {"$ref": "#/components/schemas/ClientStats"},
        "next_cursor": {"type": "string", "nullable": True},
        "previous_cursor": {"type": "string", "nullable": True}}},
    "Activities": {"type": "object", "properties": {
        "sessions": {"type": "array", "items": {"type": "object"}}, "sessions_cursor": {"type": "string"},
        "events": {"type": "array", "items": {"type": "object"}}, "events_cursor": {"type": "string"}}},
}
OPENAPI = {
    "/api/v1/clients": {"get": {
        "summary": "The Clients Table: one page of rows, the stat boxes and the next cursor",
        "parameters": [{"name": n, "in": "query", "description": d, "schema": s} for n, d, s in _FILTER_PARAMS],
        "responses": {"200": json_schema({"$ref": "#/components/schemas/ClientsPage"}), **errors(400, 401, 403)},
    }},
    "/api/v1/clients/{account_id}/activities": {"get": {
        "summary": "A person's sessions and timeline, newest first",
        "parameters": [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "sessions_cursor", "in": "query", "schema": {"type": "string"}},
                       {"name": "events_cursor", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": json_schema({"$ref": "#/components/schemas/Activities"}), **errors(400, 401, 403, 404)},
    }},
}


@bp.route("/clients")
@view("admin", "staff")
def clients_table():
    req = request()
    table = table_view(viewer(), query(req), lenient=True)
    partial = req.headers.get("x-requested-with") == "caseload"
    notice = (query(req).get("notice") or "")[:200]  # after Resend / Revoke
    return page("clients/_results.html" if partial else "clients/index.html", table=table, notice=notice)


@bp.route("/api/v1/clients")
@view("admin", "staff")
def clients_api():
    table = table_view(viewer(), query(request()))
    return json_ok({"rows": [row.as_dict(table.group_names) for row in table.page.rows],
                    "stats": table.stats.boxes.as_dict(),
                    "next_cursor": table.page.next_cursor, "previous_cursor": table.page.previous_cursor})


def _history(account_id: str) -> history.History:
    params = query(request())
    return history.person_history(viewer(), account_id, params.get("sessions_cursor", ""),
                                  params.get("events_cursor", ""))


@bp.route("/clients/{account_id}/activities")
@view("admin", "staff")
def client_activities(account_id):
    return page("clients/activities.html", history=_history(account_id))


@bp.route("/api/v1/clients/{account_id}/activities")
@view("admin", "staff")
def client_activities_api(account_id):
    found = _history(account_id)
    return json_ok({
        "sessions": [s.as_dict() for s in found.sessions], "sessions_cursor": found.sessions_next,
        "events": [e.as_dict() for e in found.events],
        "events_cursor": found.events_next})
