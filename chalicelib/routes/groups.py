"""Manage Groups: the window (a plain page without JavaScript, the dialog's
body with it: X-Fragment: 1), create / rename / delete as forms, and the JSON
twins under /api/v1/groups. Each route parses, calls one domain function, renders."""
from typing import Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib.core.errors import CaseloadError, ValidationError
from chalicelib.groups import deletion, manage
from chalicelib.web import api, render
from chalicelib.web.api import Body, Reply
from chalicelib.web.guard import flash, form_errors, page, page_or_fragment, request, take_notice, view, viewer
from chalicelib.web.requests import FORM_TYPE, form, query

bp = Blueprint(__name__)
TEAM = ("admin", "staff")



class GroupName(Body):
    name: str = Field(max_length=200, description=f"Trimmed, 1-{manage.NAME_MAX} characters, unique in the "
                                                  "organisation whatever its case")


class Progress(Reply):
    done: int
    total: int


class GroupReply(Reply):
    group_id: str
    name: str
    members: int = Field(description="Live (not archived) members, from the metrics counters")
    archived: int = Field(description="Archived members")
    deleting: bool = Field(description="Being deleted: its members are being ungrouped")
    progress: Optional[Progress] = Field(description="While deleting: members ungrouped so far")
    job_id: Optional[str] = Field(description="While deleting: the background job (GET /api/v1/jobs/{job_id})")
    job_state: Optional[str] = Field(None, description="While deleting: its job's state; cancelled or failed: "
                                                       "DELETE again continues it")


class GroupList(Reply):
    groups: list[GroupReply]


class GroupDeletion(Reply):
    group_id: str
    name: str
    members: int = Field(description="Members ungrouped, or being ungrouped")
    finished: bool = Field(description="false: the rest is ungrouped by a background job")
    progress: Progress
    job_id: Optional[str]


# --------------------------------------------------------------------------- the window

def _window(status: int = 200, **extra):
    """The whole page, or only the window's content when the dialog asks (X-Fragment: 1)."""
    req, me = request(), viewer()
    params = query(req)
    context = {"groups": manage.list_groups(me), "is_admin": me.is_admin, "errors": {}, "values": {},
               "notice": take_notice(), "renaming": params.get("rename", ""),
               "deleting": params.get("delete", ""), "focus": params.get("focus", ""),
               "name_max": manage.NAME_MAX}
    context.update(extra)
    return page_or_fragment("groups/page.html", "groups/_window.html", status, **context)


def _done(notice: str, focus: str = ""):
    """Back to the window (303), with the notice; `focus`: the group whose pencil gets focus."""
    # A script's POST (X-Fragment: 1) follows the redirect with the same header: the window's part comes back.
    flash(notice)
    return render.redirect(render.url("/groups", focus=focus))


@bp.route("/groups")
@view(*TEAM)
def groups_window():
    return _window()


@bp.route("/groups", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def create_group_form():
    fields = form(request())
    try:
        group = manage.create_group(viewer(), fields.get("name", ""))
    except ValidationError as error:
        return _window(400, errors={f"new_{k}": v for k, v in form_errors(error).items()}, values=fields)
    except CaseloadError as error:
        if error.field != "name":
            raise
        return _window(error.status, errors={"new_name": error.message}, values=fields)
    return _done(f"Group “{group.name}” added.")


@bp.route("/groups/{group_id}/rename", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def rename_group_form(group_id):
    fields = form(request())
    try:
        group = manage.rename_group(viewer(), group_id, fields.get("name", ""))
    except CaseloadError as error:
        if error.field != "name":
            raise
        return _window(error.status, errors={f"rename_{group_id}": error.message}, renaming=group_id,
                       values={f"rename_{group_id}": fields.get("name", "")})
    if fields.get("was") == group.name:  # the name as the form showed it: nothing to rename
        return _done(f"Nothing changed: the group is already called “{group.name}”.", focus=group.group_id)
    return _done(f"Group renamed to “{group.name}”.", focus=group.group_id)


@bp.route("/groups/{group_id}/delete", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def delete_group_form(group_id):
    deleted = deletion.delete_group(viewer(), group_id)
    members = f"{deleted.members:,} member{'' if deleted.members == 1 else 's'}"
    if deleted.finished:
        return _done(f"Group “{deleted.name}” deleted; {members} ungrouped.")
    return _done(f"Group “{deleted.name}” deleted; its {members} are being ungrouped.")


# --------------------------------------------------------------------------- JSON API

@api.route(bp, "/api/v1/groups", roles=TEAM, summary="The organisation's groups with their member counts",
           reply=GroupList)
def api_groups():
    return {"groups": [g.as_dict() for g in manage.list_groups(viewer())]}


@api.route(bp, "/api/v1/groups", "POST", roles=TEAM, summary="Create a group (admins)", body=GroupName,
           reply=GroupReply, status=201, errors=(400, 409))
def api_create_group(body: GroupName):
    group = manage.create_group(viewer(), body.name)
    return manage.summary(viewer(), group.group_id).as_dict()


@api.route(bp, "/api/v1/groups/{group_id}", roles=TEAM, reply=GroupReply, errors=(404,),
           summary="One group with its member counts, or its deletion's progress")
def api_group(group_id):
    return manage.summary(viewer(), group_id).as_dict()


@api.route(bp, "/api/v1/groups/{group_id}", "PATCH", roles=TEAM, summary="Rename a group (admins)",
           body=GroupName, reply=GroupReply, errors=(400, 404, 409))
def api_rename_group(group_id, body: GroupName):
    group = manage.rename_group(viewer(), group_id, body.name)
    return manage.summary(viewer(), group.group_id).as_dict()


@api.route(bp, "/api/v1/groups/{group_id}", "DELETE", roles=TEAM, errors=(404, 409),
           summary="Delete a group (admins): its members become ungrouped, a large group's in the background",
           replies={200: (GroupDeletion, "Deleted, members ungrouped"),
                    202: (GroupDeletion, "Deleted; members are being ungrouped in the background")})
def api_delete_group(group_id):
    deleted = deletion.delete_group(viewer(), group_id)
    return deleted.as_dict(), 200 if deleted.finished else 202
