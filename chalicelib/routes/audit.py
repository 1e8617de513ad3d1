"""The Audit log page (admins) and its JSON twin."""
from typing import Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib.activity import audit
from chalicelib.core.errors import ValidationError
from chalicelib.web import api
from chalicelib.web.api import DateTime, Query, Reply
from chalicelib.web.guard import page, request, view, viewer
from chalicelib.web.requests import query

bp = Blueprint(__name__)


class AuditQuery(Query):
    person: str = Field(None, description="Only what this account did (its account_id; `system` for automatic "
                                          "entries)")
    action: str = Field(None, pattern=audit.KIND_PATTERN,
                        description="Only this action: " + ", ".join(sorted(audit.ACTIONS)))
    cursor: str = Field(None, description="Opaque cursor from a previous answer, bound to the same filters")


class Who(Reply):
    id: str
    name: Optional[str]


class AuditEntry(Reply):
    at: DateTime
    action: str
    label: str = Field(description="The action in words")
    actor: Optional[Who] = Field(description="Who did it (null: Caseload itself)")
    target: Optional[Who] = Field(description="Whom or what it was done to")
    detail: dict[str, str]


class AuditPage(Reply):
    entries: list[AuditEntry]
    next_cursor: Optional[str]


def _params() -> dict:
    params = query(request())
    return {k: params.get(k, "") for k in ("person", "action", "cursor")}


@bp.route("/audit")
@view("admin")
def audit_page():
    params, problems = _params(), {}
    while True:
        try:
            log = audit.read_page(viewer(), with_people=True, **params)
            break
        except ValidationError as error:  # a bad filter is dropped and reported next to its field
            if not error.field or not params.get(error.field):
                raise
            problems[error.field] = error.message
            params[error.field] = ""
            params["cursor"] = ""
    return page("audit/index.html", log=log, errors=problems, request_cursor=bool(params["cursor"]))


@api.route(bp, "/api/v1/audit", roles=("admin",), query=AuditQuery, reply=AuditPage, errors=(400,),
           summary="The organisation's audit log, newest first (admins)")
def audit_api():
    log = audit.read_page(viewer(), **_params())
    return {"entries": [e.as_dict() for e in log.entries], "next_cursor": log.next_cursor}
