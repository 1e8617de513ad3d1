"""The row actions of the Clients Table (Edit, Assign staff/group, Archive,
Restore, Transfer caseload, bulk actions): plain pages and forms, and their
/api/v1 twins. The rules live in chalicelib.actions."""
from typing import Literal, Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib.actions import bulk, rows
from chalicelib.core.errors import CaseloadError, StaleVersion, ValidationError
from chalicelib.core.models import CASELOAD_ROLES, ROLES, STATUSES, Account
from chalicelib.people.accounts import EMAIL_MAX, NAME_MAX
from chalicelib.table.view import groups
from chalicelib.web import api, render
from chalicelib.web.api import Body, Email, Reply
from chalicelib.web.guard import flash, form_errors, page, request, view, viewer
from chalicelib.web.requests import FORM_TYPE, form, form_list, query, safe_next

bp = Blueprint(__name__)
TEAM = ("admin", "staff")
SEEN = ("name", "email", "phone", "role", "group_id", "staff_id")


def _table() -> str:
    """The Clients Table as the person left it: its filters, search and sort travel as `next` from
    the row menu and the bulk bar through the action's page; else the whole table."""
    req = request()
    raw = form(req).get("next") if req.method == "POST" else query(req).get("next")
    return safe_next(raw or "") or render.url("/clients")


def _back(notice: str):
    flash(notice)
    return render.redirect(_table())


def _who(account: Account) -> str:
    return account.name or account.email


def _seen(fields: dict) -> dict:
    return {name: fields.get(f"seen_{name}", "") for name in SEEN}


def _errors(error: CaseloadError) -> dict:
    """A form error next to its field; a lost race or a refusal at the top of the form."""
    if isinstance(error, StaleVersion) or not error.field or error.field == "version":
        return {"form": error.message}
    return form_errors(error)


def _form_page(template: str, account: Account, status: int = 200, values: Optional[dict] = None,
               errors: Optional[dict] = None, **extra):
    me = viewer()
    return page(template, status, person=account, values=values or {}, errors=errors or {}, back=_table(),
                groups=groups(me.org_id), staff=rows.staff_choices(me.org_id) if me.is_admin else [],
                phone_max=rows.PHONE_MAX, name_max=NAME_MAX, **extra)


# --- Edit ------------------------------------------------------------------------------------------------------

@bp.route("/clients/{account_id}/edit")
@view(*TEAM)
def edit_form(account_id):
    return _form_page("actions/edit.html", rows.target(viewer(), account_id))


@bp.route("/clients/{account_id}/edit", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def edit(account_id):
    me, fields = viewer(), form(request())
    changes = {name: fields.get(name, "") for name in ("name", "email", "phone")}
    if "role" in fields:
        changes["role"] = fields["role"]
    try:
        account = rows.edit(me, account_id, version=fields.get("version"), seen=_seen(fields), **changes)
    except CaseloadError as error:
        if error.status not in (400, 403, 409):
            raise
        return _form_page("actions/edit.html", rows.target(me, account_id), error.status, values=fields,
                          errors=_errors(error))
    if account.email != fields.get("seen_email", account.email) and account.invite_state == "queued":
        return _back(f"Saved the changes to {_who(account)}. A new invitation is on its way to {account.email}: "
                     "the old link no longer works.")
    return _back(f"Saved the changes to {_who(account)}.")


# --- Assign staff/group ----------------------------------------------------------------------------------------

@bp.route("/clients/{account_id}/assign")
@view(*TEAM)
def assign_form(account_id):
    return _form_page("actions/assign.html", rows.target(viewer(), account_id))


@bp.route("/clients/{account_id}/assign", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def assign(account_id):
    me, fields = viewer(), form(request())
    choice = {"group_id": fields.get("group_id", "")}
    if me.is_admin and "staff_id" in fields:
        choice["staff_id"] = fields["staff_id"]
    try:
        account = rows.assign(me, account_id, version=fields.get("version"), seen=_seen(fields), **choice)
    except CaseloadError as error:
        if error.status not in (400, 403, 409):
            raise
        return _form_page("actions/assign.html", rows.target(me, account_id), error.status, values=fields,
                          errors=_errors(error))
    return _back(f"Assigned {_who(account)}.")


# --- Archive, Restore, Transfer caseload -----------------------------------------------------------------------

def _archive_page(account: Account, status: int = 200, errors: Optional[dict] = None, values=None):
    holding = rows.caseload_count(account.org_id, account.account_id, limit=10000) if (
        account.role in CASELOAD_ROLES and viewer().is_admin) else 0
    return _form_page("actions/archive.html", account, status, values=values, errors=errors, holding=holding)


@bp.route("/clients/{account_id}/archive")
@view(*TEAM)
def archive_form(account_id):
    return _archive_page(rows.target(viewer(), account_id))


@bp.route("/clients/{account_id}/archive", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def archive(account_id):
    me, fields = viewer(), form(request())
    try:
        moved = None
        if fields.get("transfer_to"):
            moved = bulk.transfer(me, account_id, fields["transfer_to"])
        account = rows.archive(me, account_id, version=None if moved else fields.get("version"))
    except CaseloadError as error:
        if error.status not in (400, 403, 409):
            raise
        errors = {"transfer_to": error.message} if error.field == "to_id" else _errors(error)
        return _archive_page(rows.target(me, account_id), error.status, errors, fields)
    if moved and moved.job:
        return _to_job(moved.job, f"Archived {_who(account)}. Their {moved.job.total:,} clients are being moved.")
    moved_text = f" and moved {moved.changed:,} clients" if moved else ""
    return _back(f"Archived {_who(account)}{moved_text}. Restore brings them back.")


@bp.route("/clients/{account_id}/restore", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def restore(account_id):
    account = rows.restore(viewer(), account_id, version=form(request()).get("version"))
    return _back(f"Restored {_who(account)} ({account.status.capitalize()}).")


@bp.route("/clients/{account_id}/transfer")
@view("admin")
def transfer_form(account_id):
    account = rows.target(viewer(), account_id)
    return _form_page("actions/transfer.html", account,
                      holding=rows.caseload_count(account.org_id, account.account_id, limit=10000))


@bp.route("/clients/{account_id}/transfer", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def transfer(account_id):
    me, fields = viewer(), form(request())
    try:
        moved = bulk.transfer(me, account_id, fields.get("to_id", ""))
    except CaseloadError as error:
        if error.status != 400:
            raise
        account = rows.target(me, account_id)
        return _form_page("actions/transfer.html", account, 400, values=fields, errors=form_errors(error),
                          holding=rows.caseload_count(account.org_id, account.account_id, limit=10000))
    if moved.job:
        return _to_job(moved.job, f"Moving {moved.job.total:,} clients in the background.")
    counts = moved.counts
    return _back(f"Moved {counts.get('changed', 0):,} clients." + (
        f" {counts['conflict']:,} changed meanwhile and stayed." if counts.get("conflict") else ""))


# --- Bulk actions on selected rows -----------------------------------------------------------------------------

WORDS = {"changed": "changed", "unchanged": "already so", "refused": "refused", "not_found": "not found",
         "conflict": "changed by someone else meanwhile"}


def _to_job(job, notice: str):
    """A background job took over: its page shows the progress, then the summary."""
    flash(notice)
    return render.redirect(render.url(f"/jobs/{job.job_id}"))


@bp.route("/clients/bulk", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def bulk_action():
    me, req = viewer(), request()
    fields = form(req)
    action = fields.get("bulk_action", "")
    params = {}
    if action == "assign":
        params["group_id"] = fields.get("group_id", "")
        if me.is_admin and fields.get("staff_id", "keep") != "keep":
            params["staff_id"] = fields.get("staff_id", "")
        if params["group_id"] == "keep":
            params.pop("group_id")
    matching = fields.get("scope") == "matching"
    try:
        outcome = bulk.run(me, action, params, account_ids=None if matching else form_list(req, "account_id"),
                           filters={k[2:]: v for k, v in fields.items() if k.startswith("f_") and v} if matching
                           else None, expected=_number(fields.get("matching_total")))
    except CaseloadError as error:
        if error.status not in (400, 403):
            raise
        return _back(error.message)
    label = bulk.ACTION_LABELS[action]
    if outcome.job:
        many = f"{outcome.job.total:,} people" if outcome.job.total else "every matching person"
        return _to_job(outcome.job, f"Bulk {label} of {many} is running in the background.")
    reasons = bulk.why_not(outcome.results)
    return _back(f"Bulk {label}: " + ", ".join(f"{n:,} {WORDS[k]}" for k, n in outcome.counts.items()) + "." + (
        " Not changed: " + "; ".join(f"{m.rstrip('.')} ({n:,})" for m, n in reasons.items()) + "." if reasons else ""))


def _number(raw) -> int:
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else 0


# --- API -------------------------------------------------------------------------------------------------------

class Person(Reply):
    account_id: str
    name: str
    email: Email
    phone: Optional[str]
    role: Literal[ROLES]
    status: Literal[STATUSES]
    group_id: Optional[str]
    staff_id: Optional[str]
    staff_email: Optional[str]
    version: int = Field(description="Send it back to refuse a change if someone else changed the person meanwhile")


def _person(account: Account) -> Person:
    return Person(account_id=account.account_id, name=account.name or "", email=account.email, phone=account.phone,
                  role=account.role, status=account.status, group_id=account.group_id, staff_id=account.staff_id,
                  staff_email=account.staff_email, version=account.version)


class EditBody(Body):
    name: Optional[str] = Field(None, max_length=NAME_MAX)
    email: Optional[str] = Field(None, max_length=EMAIL_MAX)
    phone: Optional[str] = Field(None, max_length=rows.PHONE_MAX, description="null removes it")
    role: Optional[Literal[ROLES]] = Field(None)
    version: Optional[int] = Field(None, description="The version you read; a stale one answers 409 stale_version")


class AssignBody(Body):
    staff_id: Optional[str] = Field(None, max_length=64, description="A live Staff or Admin member; null: none")
    group_id: Optional[str] = Field(None, max_length=64, description="A group of the organisation; null: none")
    version: Optional[int] = Field(None)


class VersionBody(Body):
    version: Optional[int] = Field(None)


class TransferBody(Body):
    to_id: str = Field(max_length=64, description="Who takes over every client")


class Transferred(Reply):
    changed: int
    conflict: int = 0
    unchanged: int = 0
    job_id: Optional[str] = Field(None, description="A large caseload moves in the background: GET /api/v1/jobs/{job_id}")


class BulkBody(Body):
    action: Literal[bulk.ACTIONS]
    account_ids: Optional[list[str]] = Field(None, min_length=1, max_length=bulk.MAX_INLINE,
                                             description="The people to act on (or `filters`)")
    filters: Optional[dict[str, str]] = Field(
        None, description="Every row these Clients Table filters select (the query parameters of GET "
                          "/api/v1/clients: q, role, status, group, staff, no_visit, box), whatever their number")
    staff_id: Optional[str] = Field(None, max_length=64)
    group_id: Optional[str] = Field(None, max_length=64)


class BulkResult(Reply):
    account_id: str
    status: Literal[bulk.OUTCOMES]
    message: str


class BulkReply(Reply):
    results: list[BulkResult] = Field(description="Each person, when done within the request")
    counts: dict[str, int]
    job_id: Optional[str] = Field(None, description="More than a page of people: a background job does it; "
                                                    "poll GET /api/v1/jobs/{job_id} for progress and its summary")


def _given(body, names) -> dict:
    return {name: getattr(body, name) for name in names if name in body.model_fields_set}


@api.route(bp, "/api/v1/clients/{account_id}", "PATCH", roles=TEAM, body=EditBody, reply=Person,
           errors=(404, 409), summary="Edit: name, email (unique in the organisation), phone, role")
def edit_api(account_id, body: EditBody):
    return _person(rows.edit(viewer(), account_id, version=body.version,
                             **_given(body, ("name", "email", "phone", "role"))))


@api.route(bp, "/api/v1/clients/{account_id}/assign", "POST", roles=TEAM, body=AssignBody, reply=Person,
           errors=(404, 409), summary="Assign staff/group (fields left out stay as they are)")
def assign_api(account_id, body: AssignBody):
    return _person(rows.assign(viewer(), account_id, version=body.version,
                               **_given(body, ("staff_id", "group_id"))))


@api.route(bp, "/api/v1/clients/{account_id}/archive", "POST", roles=TEAM, body=VersionBody, reply=Person,
           errors=(404, 409), summary="Archive: sessions end at once, sign-in refused, pending invitation revoked")
def archive_api(account_id, body: VersionBody):
    return _person(rows.archive(viewer(), account_id, version=body.version))


@api.route(bp, "/api/v1/clients/{account_id}/restore", "POST", roles=TEAM, body=VersionBody, reply=Person,
           errors=(404, 409), summary="Restore an archived person to their previous status")
def restore_api(account_id, body: VersionBody):
    return _person(rows.restore(viewer(), account_id, version=body.version))


@api.route(bp, "/api/v1/clients/{account_id}/transfer", "POST", roles=("admin",), body=TransferBody,
           errors=(404,), summary="Transfer caseload: every client of this staff member to another",
           replies={200: (Transferred, "Moved"), 202: (Transferred, "A large caseload: moving in the background")})
def transfer_api(account_id, body: TransferBody):
    moved = bulk.transfer(viewer(), account_id, body.to_id)
    if moved.job:
        return Transferred(changed=0, job_id=moved.job.job_id), 202
    counts = moved.counts
    return Transferred(changed=counts.get("changed", 0), conflict=counts.get("conflict", 0),
                       unchanged=counts.get("unchanged", 0)), 200


@api.route(bp, "/api/v1/clients/bulk", "POST", roles=TEAM, body=BulkBody,
           summary="Assign staff/group, Archive or Restore on the people named, or on all the filters select",
           replies={200: (BulkReply, "Done: each person reported"),
                    202: (BulkReply, "Running in the background: see job_id")})
def bulk_api(body: BulkBody):
    me = viewer()
    if (body.account_ids is None) == (body.filters is None):
        raise ValidationError("Send either account_ids or filters.", "account_ids")
    outcome = bulk.run(me, body.action, _given(body, ("staff_id", "group_id")), account_ids=body.account_ids,
                       filters=body.filters)
    if outcome.job:
        return BulkReply(results=[], counts={}, job_id=outcome.job.job_id), 202
    return BulkReply(results=[BulkResult(account_id=i, **r) for i, r in outcome.results.items()],
                     counts=outcome.counts), 200
