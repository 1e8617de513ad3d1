"""View Clients: the Clients Table page, its JSON twin, and View Activities."""
from typing import Literal, Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib.activity import history
from chalicelib.core.models import ROLES, STATUSES
from chalicelib.invitations.lifecycle import INVITE_LABELS, INVITE_STATES
from chalicelib.metrics.counters import TREND_WEEKS
from chalicelib.table.filters import BOX_SORTS, DIRECTIONS, NO_VISIT_DAYS, PAGE_SIZES, SORTS
from chalicelib.table.search import MAX_QUERY, MIN_WORD
from chalicelib.table.view import table_view
from chalicelib.web import api
from chalicelib.web.api import DateTime, Email, Query, Reply
from chalicelib.web.guard import page, page_or_fragment, request, take_notice, view, viewer
from chalicelib.web.requests import query

bp = Blueprint(__name__)
TEAM = ("admin", "staff")


class ClientsQuery(Query):
    role: Literal[ROLES] = Field(None, description="Role")
    status: Literal[STATUSES] = Field(None, description="Status; archived accounts are listed only when asked for")
    group: str = Field(None, description="Group id, or - for no group")
    staff: str = Field(None, description="Assigned staff member's account id, or - for unassigned "
                                         "(staff: always themselves)")
    no_visit: Literal[NO_VISIT_DAYS] = Field(None, description="No visit in this many days")
    box: Literal[tuple(BOX_SORTS)] = Field(None, description="Only the rows a stat box counts")
    q: str = Field(None, max_length=MAX_QUERY, description="Case-insensitive prefix of a word of the name, "
                                                          f"or of the email ({MIN_WORD}+ letters)")
    sort: Literal[tuple(SORTS)] = Field(None, description="Sort key")
    dir: Literal[DIRECTIONS] = Field(None, description="Sort direction")
    size: int = Field(None, description=f"Rows per page, clamped up to one of {', '.join(map(str, PAGE_SIZES))}")
    cursor: str = Field(None, description="Opaque cursor from a previous answer, bound to the same filters")


class ClientRow(Reply):
    account_id: str
    name: str
    email: Email
    role: Literal[ROLES]
    status: Literal[STATUSES]
    group_id: Optional[str]
    group: Optional[str]
    staff_email: Optional[str]
    last_visit: Optional[DateTime]
    created_at: DateTime
    invite: Optional[Literal[INVITE_STATES]] = Field(description="On Provisioned rows: the invitation's state")


class ClientStats(Reply):
    total: int
    total_30_days_ago: int
    new: int
    new_previous_30_days: int
    engaged: int
    engagement: Optional[float]
    engaged_previous_30_days: Optional[int]
    weekly_active: Optional[list[int]] = Field(description=f"Active people in each of the last {TREND_WEEKS} weeks")
    estimated: bool = Field(False, description="A broad search's figures, scaled up from its first matching words "
                                               "(or counting only those): not exact")


class ClientsPage(Reply):
    rows: list[ClientRow]
    stats: ClientStats
    next_cursor: Optional[str]
    previous_cursor: Optional[str]


class ActivitiesQuery(Query):
    sessions_cursor: str = Field(None, description="The next page of sessions")
    events_cursor: str = Field(None, description="The next page of the timeline")


class SessionRow(Reply):
    started_at: DateTime
    last_seen: DateTime
    ended_at: Optional[DateTime]
    duration_seconds: int
    device: str
    ip: str


class EventRow(Reply):
    at: DateTime
    kind: str
    label: str
    actor: Optional[str]
    detail: dict


class Activities(Reply):
    sessions: list[SessionRow]
    sessions_cursor: Optional[str]
    events: list[EventRow]
    events_cursor: Optional[str]


@bp.route("/clients")
@view("admin", "staff")
def clients_table():
    table = table_view(viewer(), query(request()), lenient=True)
    notice = take_notice()  # after Resend / Revoke
    return page_or_fragment("clients/index.html", "clients/_results.html", table=table, notice=notice,
                            invite_states=INVITE_LABELS, max_query=MAX_QUERY)


@api.route(bp, "/api/v1/clients", roles=TEAM, query=ClientsQuery, reply=ClientsPage, errors=(400,),
           summary="The Clients Table: one page of rows, the stat boxes and the next cursor")
def clients_api():
    table = table_view(viewer(), query(request()))
    return {"rows": [row.as_dict(table.group_names) for row in table.page.rows], "stats": {**table.stats.boxes.as_dict(), "estimated": not table.stats.exact},
            "next_cursor": table.page.next_cursor, "previous_cursor": table.page.previous_cursor}


def _history(account_id: str) -> history.History:
    params = query(request())
    return history.person_history(viewer(), account_id, params.get("sessions_cursor", ""),
                                  params.get("events_cursor", ""))


@bp.route("/clients/{account_id}/activities")
@view("admin", "staff")
def client_activities(account_id):
    return page("clients/activities.html", history=_history(account_id))


@api.route(bp, "/api/v1/clients/{account_id}/activities", roles=TEAM, query=ActivitiesQuery, reply=Activities,
           errors=(400, 404), summary="A person's sessions and timeline, newest first")
def client_activities_api(account_id):
    found = _history(account_id)
    return {"sessions": [s.as_dict() for s in found.sessions], "sessions_cursor": found.sessions_next,
            "events": [e.as_dict() for e in found.events], "events_cursor": found.events_next}
