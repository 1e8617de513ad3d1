"""The Audit log (admins): who did what to whom and when, newest first,
filtered by person (who did it, or to whom it was done) and action, a page at a time.

Entries are written by `timeline.audit`. A filter reads sparse indexes of the
activities table (Activity.audit_by_kind; a person: audit_by_actor and
audit_by_target side by side, merged, with `_kind` twins when an action is
chosen too; unfiltered: the log's own partition): never a Scan and never a
filter expression that reads and drops. Cursors are sealed (core/tokens) and
bound to the filters; a person's cursor keeps where each side got to.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import List, Optional

from chalicelib.activity import timeline
from chalicelib.core import tokens
from chalicelib.core.errors import Forbidden, ValidationError
from chalicelib.core.models import Account, Activity

PAGE_SIZE = 50
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
_KIND = re.compile(KIND_PATTERN)
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# What each action is called on the page, and the Action filter's choices. A
# feature that audits a new kind adds it here; unknown kinds still show, humanised.
ACTIONS = {
    "invited": "Invited people",
    "invites_resent": "Resent invitations",
    "invites_revoked": "Revoked invitations",
    "join_link_regenerated": "Regenerated the organisation link",
    "join_link_enabled": "Turned the organisation link on",
    "join_link_disabled": "Turned the organisation link off",
    "join_link_domains": "Limited sign-up domains",
    "extra_link_created": "Made a sign-up link",
    "extra_link_revoked": "Revoked a sign-up link",
    "api_key_created": "Created an API key",
    "api_key_revoked": "Revoked an API key",
    "group_created": "Created a group",
    "group_renamed": "Renamed a group",
    "group_deleted": "Deleted a group",
    "profile_edited": "Edited a profile",
    "role_changed": "Changed a role",
    "assigned": "Assigned staff/group",
    "archived": "Archived",
    "restored": "Restored",
    "caseload_transferred": "Transferred a caseload",
    "bulk_assigned": "Assigned staff/group (several people)",
    "bulk_archived": "Archived (several people)",
    "bulk_restored": "Restored (several people)",
    "bulk_transferred": "Moved clients to another staff member",
    "export": "Exported CSV",
    "export_scheduled": "Scheduled an export",
    "export_schedule_changed": "Changed a scheduled export",
    "export_unscheduled": "Stopped a scheduled export",
    "time_zone_changed": "Changed the time zone of export dates",
}


def action_label(kind: str) -> str:
    return ACTIONS.get(kind) or kind.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    actor_id: Optional[str]
    actor_name: Optional[str]
    target_id: Optional[str]
    target_name: Optional[str]
    detail: dict

    @property
    def action(self) -> str:
        return action_label(self.kind)

    def as_dict(self) -> dict:
        return {"at": self.at.isoformat(), "action": self.kind, "label": self.action,
                "actor": {"id": self.actor_id, "name": self.actor_name} if self.actor_id else None,
                "target": {"id": self.target_id, "name": self.target_name} if self.target_id else None,
                "detail": self.detail}


@dataclass
class AuditPage:
    entries: List[Entry]
    next_cursor: Optional[str]
    person: str = ""
    action: str = ""
    people: list = field(default_factory=list)  # (account_id, label) for the Person filter

    @property
    def actions(self) -> list:
        return sorted(ACTIONS.items(), key=lambda item: item[1])


def _entry(item: Activity) -> Entry:
    return Entry(datetime.fromisoformat(item.at_id.split("#", 1)[0]), item.kind, item.actor_id, item.actor_name,
                 item.target_id, item.target_name, dict(item.detail or {}))


def _query(org_id: str, action: str, start: Optional[dict]):
    common = {"scan_index_forward": False, "limit": PAGE_SIZE, "page_size": PAGE_SIZE, "last_evaluated_key": start}
    if action:
        return Activity.audit_by_kind.query(f"{org_id}#{action}", **common)
    return Activity.query(timeline.account_key(org_id, timeline.ORG_LOG), **common)


# A person's entries: those they did (by actor) and those done to them (by target), newest first.
_SIDES = {"actor": ("audit_by_actor", "audit_actor", "audit_by_actor_kind", "audit_actor_kind"),
          "target": ("audit_by_target", "audit_target", "audit_by_target_kind", "audit_target_kind")}
DONE = "-"  # a side of the merge with nothing left


def _side(org_id: str, person: str, action: str, side: str, after: Optional[str]) -> list:
    """Up to a page of one side's entries, newest first, older than `after` (an at_id)."""
    if after == DONE:
        return []
    index, attribute, kind_index, kind_attribute = _SIDES[side]
    if action:
        index, attribute, partition = kind_index, kind_attribute, f"{org_id}#{person}#{action}"
    else:
        partition = f"{org_id}#{person}"
    start = None
    if after:
        start = {"account_key": {"S": timeline.account_key(org_id, timeline.ORG_LOG)}, "at_id": {"S": after},
                 attribute: {"S": partition}}
    return list(getattr(Activity, index).query(partition, scan_index_forward=False, limit=PAGE_SIZE,
                                               page_size=PAGE_SIZE, last_evaluated_key=start))


def _merged(org_id: str, person: str, action: str, start: Optional[dict]):
    """One page of what `person` did or had done to them: the two indexes read side by side
    (a Query each), merged newest first; the cursor keeps where each side got to."""
    start = start or {}
    sides = {side: _side(org_id, person, action, side, start.get(side)) for side in _SIDES}
    by_id = {}
    for items in sides.values():
        for item in items:
            by_id.setdefault(item.at_id, item)  # done to oneself: on both sides, shown once
    page = sorted(by_id.values(), key=lambda item: item.at_id, reverse=True)[:PAGE_SIZE]
    if not page:
        return [], None
    oldest = page[-1].at_id
    position = {}
    for side, items in sides.items():
        taken = [item for item in items if item.at_id >= oldest]
        if start.get(side) == DONE or (len(items) < PAGE_SIZE and len(taken) == len(items)):
            position[side] = DONE  # everything this side has is shown
        else:
            position[side] = taken[-1].at_id if taken else start.get(side)
    return page, None if all(p == DONE for p in position.values()) else position
def _people(org_id: str) -> list:
    """Who can act: the organisation's admins and staff (live or archived), by name."""
    keys = []
    for role in ("admin", "staff"):
        for live in ("L", "A"):
            keys += [(org_id, item.account_id) for item in Account.role_name.query(f"{org_id}#{role}#{live}")]
    found = sorted(Account.batch_get(keys), key=lambda a: (a.name or a.email).casefold()) if keys else []
    return [(a.account_id, f"{a.name} ({a.email})" if a.name else a.email) for a in found] + [
        (timeline.SYSTEM, "Caseload (automatic)")]


def read_page(viewer, person: str = "", action: str = "", cursor: str = "", with_people: bool = False) -> AuditPage:
    """One page of the log, newest first. Bad filters or a cursor made for other filters are errors naming the field."""
    if not viewer.is_admin:
        raise Forbidden("Only admins can see the audit log.", code="admins_only")
    person, action = (person or "").strip(), (action or "").strip()
    if person and not _ID.match(person):
        raise ValidationError("Choose a person from the list.", "person")
    if action and not _KIND.match(action):
        raise ValidationError("Choose an action from the list.", "action")
    start = None
    if cursor:
        sealed = tokens.unseal("audit", cursor)
        if not isinstance(sealed, dict) or sealed.get("f") != [viewer.org_id, person, action]:
            raise ValidationError("This page link is out of date: start again from the first page.", "cursor",
                                  code="bad_cursor")
        start = sealed.get("k")
    if person:
        items, last = _merged(viewer.org_id, person, action, start)
    else:
        query = _query(viewer.org_id, action, start)
        items = list(query)
        last = query.last_evaluated_key
    entries = [_entry(item) for item in items]
    next_cursor = tokens.seal("audit", {"f": [viewer.org_id, person, action], "k": last}) if last else None
    return AuditPage(entries, next_cursor, person, action, _people(viewer.org_id) if with_people else [])
