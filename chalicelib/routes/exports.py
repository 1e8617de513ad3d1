"""Export CSV: the button's target, the Exports list, downloads, schedules, the time zone; and their API."""
from typing import Literal, Optional

from chalice import Blueprint, Response
from pydantic import Field

from chalicelib import jobs
from chalicelib.core.errors import ValidationError
from chalicelib.exports import csvfile, exports, schedules
from chalicelib.table.view import groups
from chalicelib.web import api, render
from chalicelib.web.api import Body, DateTime, Reply
from chalicelib.web.guard import flash, form_errors, page, request, take_notice, view, viewer
from chalicelib.web.requests import FORM_TYPE, form, query

bp = Blueprint(__name__)
TEAM = ("admin", "staff")
_WEEKDAY_OPTIONS = [(day, day) for day in schedules.WEEKDAYS]


class ExportFilters(Body):
    """The Clients Table's filters, as its query string has them (the domain checks the values).
    Leave a filter out for "any"; null is not a value."""
    role: str = Field(None, description="admin, staff or client")
    status: str = Field(None, description="provisioned, activated or archived")
    group: str = Field(None, description="Group id, or - for no group")
    staff: str = Field(None, description="Staff account id, or - for unassigned (staff: themselves)")
    no_visit: str = Field(None, description="No visit in this many days")
    box: str = Field(None, description="Only the rows a stat box counts: new or engaged")
    q: str = Field(None, description="Search: a prefix of a word of the name, or of the email")
    sort: str = Field(None, description="name, visit or created")
    dir: str = Field(None, description="asc or desc")


class ExportReply(Reply):
    export_id: str
    job_id: Optional[str] = Field(description="The background job writing the file (GET /api/v1/jobs/{id})")
    status: Literal[exports.STATUSES]
    kind: Literal["manual", "scheduled"]
    owner_id: str
    owner_name: str
    filters: dict
    summary: str = Field(description="The filters in words")
    rows: int = Field(description="Rows written so far")
    expected_rows: Optional[int] = Field(description="Total Clients Shown when the export started")
    bytes: int
    time_zone: str
    created_at: DateTime
    finished_at: Optional[DateTime]
    file_until: Optional[DateTime] = Field(description=f"Files are kept {exports.RETENTION_DAYS} days")
    file_available: bool
    error: Optional[str]
    schedule_id: Optional[str]


class ExportList(Reply):
    exports: list[ExportReply]


class DownloadLink(Reply):
    url: str = Field(description="A presigned GET of the file, saved as a dated attachment")
    expires_in: int


class TimeZoneBody(Body):
    time_zone: str = Field(description="An IANA time zone name, e.g. Europe/London")


class TimeZoneReply(Reply):
    time_zone: str


class ScheduleBody(Body):
    frequency: str = Field(description=f"One of: {', '.join(schedules.FREQUENCIES)}")
    time: str = Field(schedules.DEFAULT_TIME, description="Time of day, HH:MM (24-hour), in the organisation's "
                                                          "time zone")
    weekday: str = Field(None, description=f"Weekly: one of {', '.join(schedules.WEEKDAYS)}")
    email_admins: bool = False
    filters: ExportFilters = Field(None, description="Leave out for every client")


class ScheduleReply(Reply):
    schedule_id: str
    frequency: Literal[tuple(schedules.FREQUENCIES)]
    time: str = Field(description="HH:MM in time_zone")
    weekday: Optional[str] = Field(description="The day of a weekly export")
    time_zone: str
    when: str = Field(description="The schedule in words")
    filters: dict
    summary: str
    email_admins: bool
    created_by_name: str
    next_run_at: DateTime
    last_export_id: Optional[str]


class ScheduleList(Reply):
    schedules: list[ScheduleReply]


def _csv(download: exports.Download) -> Response:
    return Response(body=download.body.decode("utf-8"), status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{download.file_name}"'})


def _to_list(notice: str):
    """Back to the exports page (303), its banner saying what was done."""
    flash(notice)
    return render.redirect(render.url("/exports"))


def _list_page(status: int = 200, schedule_errors=None, schedule_values=None, zone_errors=None, notice=""):
    who = viewer()
    return page("exports/index.html", status, exports_list=exports.recent(who),
                schedules=schedules.listed(who), zone=exports.org_time_zone(who.org_id),
                group_options=[(g.group_id, g.name) for g in groups(who.org_id)] if who.is_admin else [],
                zones=csvfile.zone_names(), frequencies=schedules.FREQUENCY_LABELS,
                retention_days=exports.RETENTION_DAYS, file_available=exports.file_available,
                next_run=schedules.next_run, describe_when=schedules.describe_when, weekdays=_WEEKDAY_OPTIONS,
                default_time=schedules.DEFAULT_TIME, schedule_errors=schedule_errors or {},
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
    return _list_page(notice=take_notice())


@bp.route("/exports/{export_id}")
@view(*TEAM)
def export_page(export_id):
    export, job = exports.progress(viewer(), export_id)
    return page("exports/export.html", export=export, job=job, poll=jobs.POLL,
                available=exports.file_available(export), retention_days=exports.RETENTION_DAYS)


@bp.route("/exports/{export_id}/cancel", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def export_cancel(export_id):
    exports.cancel(viewer(), export_id)
    return render.redirect(render.url(f"/exports/{export_id}"))


@bp.route("/exports/{export_id}/retry", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def export_retry(export_id):
    exports.retry(viewer(), export_id)
    return render.redirect(render.url(f"/exports/{export_id}"))


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
    return _to_list(f"Export dates are now shown in {zone}.")


def _schedule_fields(fields: dict) -> dict:
    return {"frequency": fields.get("frequency", ""), "params": exports.params_from(fields),
            "email_admins": fields.get("email_admins") == "on", "at_time": fields.get("time", ""),
            "weekday": fields.get("weekday")}


@bp.route("/exports/schedules", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_schedule_create():
    fields = form(request())
    try:
        schedule = schedules.create(viewer(), **_schedule_fields(fields))
    except ValidationError as error:
        return _list_page(400, schedule_errors=form_errors(error), schedule_values=fields)
    return _to_list(f"Scheduled: {schedules.describe_when(schedule)} ({exports.org_time_zone(schedule.org_id)}).")


def _schedule_page(schedule, status: int = 200, errors=None, values=None):
    who = viewer()
    params = schedules.as_dict(schedule)
    current = values or {"frequency": schedule.frequency, "time": params["time"], "weekday": params["weekday"] or "",
                         "email_admins": "on" if schedule.email_admins else "", **params["filters"]}
    return page("exports/schedule.html", status, schedule=schedule, values=current, errors=errors or {},
                zone=exports.org_time_zone(who.org_id), frequencies=schedules.FREQUENCY_LABELS,
                weekdays=_WEEKDAY_OPTIONS, group_options=[(g.group_id, g.name) for g in groups(who.org_id)],
                describe_when=schedules.describe_when, next_run=schedules.next_run)


@bp.route("/exports/schedules/{schedule_id}")
@view("admin")
def export_schedule_page(schedule_id):
    return _schedule_page(schedules.get(viewer(), schedule_id))


@bp.route("/exports/schedules/{schedule_id}", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_schedule_edit(schedule_id):
    schedule = schedules.get(viewer(), schedule_id)
    fields = form(request())
    try:
        schedule = schedules.update(viewer(), schedule_id, **_schedule_fields(fields))
    except ValidationError as error:
        return _schedule_page(schedule, 400, form_errors(error), fields)
    return _to_list(f"Saved: {schedules.describe_when(schedule)}.")


@bp.route("/exports/schedules/{schedule_id}/delete", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def export_schedule_delete(schedule_id):
    schedules.delete(viewer(), schedule_id)
    return _to_list("The scheduled export was stopped.")


# --------------------------------------------------------------------------- API

def _params(filters: Optional[ExportFilters]) -> dict:
    return filters.model_dump(exclude_none=True) if filters else {}


@api.route(bp, "/api/v1/exports", roles=TEAM, reply=ExportList,
           summary="Recent exports (staff: their own), newest first")
def exports_api():
    return {"exports": [exports.as_dict(e) for e in exports.recent(viewer())]}


@api.route(bp, "/api/v1/exports", "POST", roles=TEAM, body=ExportFilters, reply=ExportReply, status=202,
           errors=(400,), summary="Export the Clients Table as these filters select it: a background export "
                                  "whose file is written to S3 (poll it, then ask for its download link)")
def export_api_start(body: ExportFilters):
    return exports.as_dict(exports.start(viewer(), _params(body), direct=False))


@api.route(bp, "/api/v1/exports/{export_id}", roles=TEAM, reply=ExportReply, errors=(404,),
           summary="One export: status, rows so far, size")
def export_api(export_id):
    return exports.as_dict(exports.get_export(viewer(), export_id))


@api.route(bp, "/api/v1/exports/{export_id}/download", roles=TEAM, reply=DownloadLink, errors=(400, 404, 410),
           summary=f"A presigned link to the file, valid {exports.LINK_SECONDS} s; 410 once the file has expired")
def export_api_download(export_id):
    return {"url": exports.download_url(viewer(), export_id), "expires_in": exports.LINK_SECONDS}


@api.route(bp, "/api/v1/exports/time-zone", "PUT", roles=("admin",), body=TimeZoneBody, reply=TimeZoneReply,
           errors=(400,), summary="The time zone export dates are written in (admins)")
def export_api_time_zone(body: TimeZoneBody):
    return {"time_zone": exports.set_time_zone(viewer(), body.time_zone)}


@api.route(bp, "/api/v1/export-schedules", roles=("admin",), reply=ScheduleList, summary="Scheduled exports (admins)")
def export_schedules_api():
    return {"schedules": [schedules.as_dict(s) for s in schedules.listed(viewer())]}


@api.route(bp, "/api/v1/export-schedules", "POST", roles=("admin",), body=ScheduleBody, reply=ScheduleReply,
           status=201, errors=(400,), summary="Schedule a daily or weekly export with these filters (admins)")
def export_schedules_api_create(body: ScheduleBody):
    schedule = schedules.create(viewer(), body.frequency, _params(body.filters), body.email_admins, body.time,
                                body.weekday)
    return schedules.as_dict(schedule)


@api.route(bp, "/api/v1/export-schedules/{schedule_id}", "PUT", roles=("admin",), body=ScheduleBody,
           reply=ScheduleReply, errors=(400, 404, 409),
           summary="Change a scheduled export: frequency, time, filters, email (admins)")
def export_schedules_api_update(schedule_id, body: ScheduleBody):
    schedule = schedules.update(viewer(), schedule_id, body.frequency, _params(body.filters), body.email_admins,
                                body.time, body.weekday)
    return schedules.as_dict(schedule)


@api.route(bp, "/api/v1/export-schedules/{schedule_id}", "DELETE", roles=("admin",), status=204, errors=(404,),
           summary="Stop a scheduled export (admins)")
def export_schedules_api_delete(schedule_id):
    schedules.delete(viewer(), schedule_id)
