"""Export CSV: the button's target, the Exports list, downloads, schedules, the time zone; and their API."""
from chalice import Blueprint, Response

from chalicelib.core.errors import ValidationError
from chalicelib.exports import csvfile, exports, schedules
from chalicelib.table.view import groups
from chalicelib.web import render
from chalicelib.web.guard import form_errors, json_ok, page, request, view, viewer
from chalicelib.web.openapi import errors, json_schema
from chalicelib.web.requests import FORM_TYPE, form, json_body, query

bp = Blueprint(__name__)
TEAM = ("admin", "staff")
_FILTERS = {key: {"type": "string"} for key in exports.FILTER_KEYS}
SCHEMAS = {
    "Export": {"type": "object", "properties": {
        "export_id": {"type": "string"}, "status": {"type": "string", "enum": list(exports.STATUSES)},
        "kind": {"type": "string", "enum": ["manual", "scheduled"]}, "owner_name": {"type": "string"},
        "filters": {"type": "object"}, "summary": {"type": "string"}, "rows": {"type": "integer"},
        "expected_rows": {"type": "integer"}, "bytes": {"type": "integer"}, "time_zone": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "file_until": {"type": "string", "format": "date-time", "nullable": True},
        "file_available": {"type": "boolean"}, "error": {"type": "string", "nullable": True}}},
    "ExportSchedule": {"type": "object", "properties": {
        "schedule_id": {"type": "string"}, "frequency": {"type": "string", "enum": list(schedules.FREQUENCIES)},
        "filters": {"type": "object"}, "summary": {"type": "string"}, "email_admins": {"type": "boolean"},
        "next_run_at": {"type": "string", "format": "date-time"}}},
}
_ID = [{"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}}]
OPENAPI = {
    "/api/v1/exports": {
        "get": {"summary": "Recent exports (staff: their own), newest first",
                "responses": {"200": json_schema({"type": "object", "properties": {"exports": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Export"}}}}), **errors(401, 403)}},
        "post": {"summary": "Export the Clients Table as these filters select it. Small exports answer the CSV "
                           f"itself (up to {exports.DIRECT_MAX_ROWS:,} rows); larger ones answer 202 with the "
                           "export, whose file a background job writes",
                 "requestBody": {"content": {"application/json": {"schema": {
                     "type": "object", "additionalProperties": False, "properties": _FILTERS}}}},
                 "responses": {"200": {"description": "The file", "content": {"text/csv": {}}},
                               "202": json_schema({"$ref": "#/components/schemas/Export"}, "Started"),
                               **errors(400, 401, 403)}}},
    "/api/v1/exports/{export_id}": {"get": {
        "summary": "One export: status, rows so far, size", "parameters": _ID,
        "responses": {"200": json_schema({"$ref": "#/components/schemas/Export"}), **errors(401, 403, 404)}}},
    "/api/v1/exports/{export_id}/download": {"get": {
        "summary": f"A presigned link to the file, valid {exports.LINK_SECONDS} s", "parameters": _ID,
        "responses": {"200": json_schema({"type": "object", "properties": {"url": {"type": "string"}}}),
                      **errors(400, 401, 403, 404, 410)}}},
    "/api/v1/exports/time-zone": {"put": {
        "summary": "The IANA time zone export dates are shown in (admins)",
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": ["time_zone"], "properties": {"time_zone": {"type": "string"}}}}}},
        "responses": {"200": json_schema({"type": "object"}), **errors(400, 401, 403)}}},
    "/api/v1/export-schedules": {
        "get": {"summary": "Scheduled exports (admins)", "responses": {"200": json_schema({
            "type": "object", "properties": {"schedules": {
                "type": "array", "items": {"$ref": "#/components/schemas/ExportSchedule"}}}}), **errors(401, 403)}},
        "post": {"summary": "Schedule a daily or weekly export with these filters (admins)",
                 "requestBody": {"content": {"application/json": {"schema": {
                     "type": "object", "required": ["frequency"], "additionalProperties": False, "properties": {
                         "frequency": {"type": "string", "enum": list(schedules.FREQUENCIES)},
                         "email_admins": {"type": "boolean"}, "filters": {"type": "object",
                                                                          "properties": _FILTERS}}}}}},
                 "responses": {"201": json_schema({"$ref": "#/components/schemas/ExportSchedule"}),
                               **errors(400, 401, 403)}}},
    "/api/v1/export-schedules/{schedule_id}": {"delete": {
        "summary": "Stop a scheduled export (admins)",
        "parameters": [{"name": "schedule_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"204": {"description": "Deleted"}, **errors(401, 403, 404)}}},
}


def _csv(download: exports.Download) -> Response:
    return Response(body=download.body.decode("utf-8"), status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{download.file_name}"'})


def _list_page(status: int = 200, schedule_errors=None, schedule_values=None, zone_errors=None, notice=""):
    who = viewer()
    return page("exports/index.html", status, exports_list=exports.recent(who),
                schedules=schedules.listed(who), zone=exports.org_time_zone(who.org_id),
                group_options=[(g.group_id, g.name) for g in groups(who.org_id)] if who.is_admin else [],
                zones=csvfile.zone_names(), frequencies=schedules.FREQUENCY_LABELS,
                retention_days=exports.RETENTION_DAYS, file_available=exports.file_available,
                next_run=schedules.next_run, schedule_errors=schedule_errors or {},
                schedule_values=schedule_values or {}, zone_errors=zone_errors or {}, notice=notice)


# --------------------------------------------------------------------------- pages

@bp.route("/exports", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def export_csv():
    """The Export CSV button: the file itself, or the export's progress page."""
    result = exports.start(viewer(), exports.params_from(form(request())))
    if isinstance(result, exports.Download):
        return _csv(result)
    return render.redirect(render.url(f"/exports/{result.export_id}"))


@bp.route("/exports")
@view(*TEAM)
def exports_page():
    return _list_page(notice=(query(request()).get("notice") or "")[:200])


@bp.route("/exports/{export_id}")
@view(*TEAM)
def export_page(export_id):
    export = exports.get_export(viewer(), export_id)
    return page("exports/export.html", export=export, available=exports.file_available(export),
                retention_days=exports.RETENTION_DAYS)


@bp.route("/exports/{export_id}/download")
@view(*TEAM)
def export_download(export_id):
    return render.redirect(exports.download_url(viewer(), export_id), 302)


@bp.route("/exports/time-zone", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_time_zone():
    try:
        zone = exports.set_time_zone(viewer(), form(request()).get("time_zone", ""))
    except ValidationError as error:
        return _list_page(400, zone_errors=form_errors(error))
    return render.redirect(render.url("/exports", notice=f"Export dates are now shown in {zone}."))


@bp.route("/exports/schedules", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_schedule_create():
    fields = form(request())
    try:
        schedules.create(viewer(), fields.get("frequency", ""), exports.params_from(fields),
                         fields.get("email_admins") == "on")
    except ValidationError as error:
        return _list_page(400, schedule_errors=form_errors(error), schedule_values=fields)
    return render.redirect(render.url("/exports", notice="Scheduled. The first export runs within "
                                                         f"{schedules.RUNNER_MINUTES} minutes."))


@bp.route("/exports/schedules/{schedule_id}/delete", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_schedule_delete(schedule_id):
    schedules.delete(viewer(), schedule_id)
    return render.redirect(render.url("/exports", notice="The scheduled export was stopped."))


# --------------------------------------------------------------------------- API

@bp.route("/api/v1/exports")
@view(*TEAM)
def exports_api():
    return json_ok({"exports": [exports.as_dict(e) for e in exports.recent(viewer())]})


@bp.route("/api/v1/exports", methods=["POST"])
@view(*TEAM)
def export_api_start():
    req = request()
    body = json_body(req, set(exports.FILTER_KEYS)) if req.raw_body else {}
    result = exports.start(viewer(), exports.params_from(body))
    if isinstance(result, exports.Download):
        return _csv(result)
    return json_ok(exports.as_dict(result), 202)


@bp.route("/api/v1/exports/{export_id}")
@view(*TEAM)
def export_api(export_id):
    return json_ok(exports.as_dict(exports.get_export(viewer(), export_id)))


@bp.route("/api/v1/exports/{export_id}/download")
@view(*TEAM)
def export_api_download(export_id):
    return json_ok({"url": exports.download_url(viewer(), export_id), "expires_in": exports.LINK_SECONDS})


@bp.route("/api/v1/exports/time-zone", methods=["PUT"])
@view("admin")
def export_api_time_zone():
    body = json_body(request(), {"time_zone"})
    return json_ok({"time_zone": exports.set_time_zone(viewer(), str(body.get("time_zone") or ""))})


@bp.route("/api/v1/export-schedules")
@view("admin")
def export_schedules_api():
    return json_ok({"schedules": [schedules.as_dict(s) for s in schedules.listed(viewer())]})


@bp.route("/api/v1/export-schedules", methods=["POST"])
@view("admin")
def export_schedules_api_create():
    body = json_body(request(), {"frequency", "email_admins", "filters"})
    schedule = schedules.create(viewer(), str(body.get("frequency") or ""), exports.params_from(body.get("filters")),
                                body.get("email_admins") is True)
    return json_ok(schedules.as_dict(schedule), 201)


@bp.route("/api/v1/export-schedules/{schedule_id}", methods=["DELETE"])
@view("admin")
def export_schedules_api_delete(schedule_id):
    schedules.delete(viewer(), schedule_id)
    return Response(body="", status_code=204)
