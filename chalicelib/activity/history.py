"""View Activities: one person's sessions and timeline, newest first, in pages."""
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from chalicelib.activity import timeline
from chalicelib.core import tokens
from chalicelib.core.errors import NotFound, ValidationError
from chalicelib.core.models import Account
from chalicelib.people import accounts, sessions
from chalicelib.people.accounts import Viewer

PAGE = 20
_ID = re.compile(r"^[0-9a-f]{32}$")
# (pattern, name), first match wins: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [(r"Edg/", "Edge"), (r"OPR/", "Opera"), (r"Firefox/", "Firefox"), (r"Chrome/", "Chrome"),
             (r"Safari/", "Safari"), (r"curl/", "curl")]
_SYSTEMS = [(r"iPhone|iPad", "iOS"), (r"Android", "Android"), (r"Windows", "Windows"),
            (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux")]

EVENT_LABELS = {
    "invited": "Invited", "activated": "Activated", "signed_in": "Signed in", "signed_up": "Signed up",
    "profile_edited": "Profile edited", "role_changed": "Role changed", "assigned": "Assigned",
    "archived": "Archived", "restored": "Restored", "activity": "Activity recorded",
    "created": "Account created", "invite_resent": "Invitation resent", "invite_revoked": "Invitation revoked",
    "invite_accepted": "Invitation accepted", "edited": "Edited", "transferred": "Caseload transferred",
}


def describe_device(user_agent: str) -> str:
    """"Chrome on Windows" from a user agent; what an admin needs, not a full parse."""
    browser = next((name for pattern, name in _BROWSERS if re.search(pattern, user_agent or "")), None)
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, user_agent or "")), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


@dataclass
class SessionRow:
    started_at: object
    last_seen: object
    ended_at: object
    device: str
    ip: str

    @property
    def duration(self) -> timedelta:
        return (self.ended_at or self.last_seen) - self.started_at

    @property
    def duration_text(self) -> str:
        minutes = max(1, int(self.duration.total_seconds() // 60))
        return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"

    def as_dict(self) -> dict:
        return {"started_at": self.started_at.isoformat(), "last_seen": self.last_seen.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "duration_seconds": int(self.duration.total_seconds()), "device": self.device, "ip": self.ip}


@dataclass
class EventRow:
    at: str
    kind: str
    actor: Optional[str]
    detail: dict

    @property
    def label(self) -> str:
        return EVENT_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def summary(self) -> str:
        """The timeline's line in plain words: "Invited as Client", not "role: client"."""
        d = self.detail
        if self.kind in ("invited", "created") and d.get("role"):
            return f"{'Invited' if self.kind == 'invited' else 'Account created'} as {str(d['role']).capitalize()}"
        if self.kind == "role_changed" and d.get("role_to"):
            return f"Role changed{_from(d.get('role_from'))} to {str(d['role_to']).capitalize()}"
        if self.kind == "profile_edited" and d.get("name_to"):
            return f"Name changed{_from(d.get('name_from'), title=False)} to {d['name_to']}"
        if self.kind == "activity" and d.get("activity"):
            return f"{str(d['activity']).replace('_', ' ').capitalize()}"
        return self.label

    @property
    def note(self) -> str:
        """What else the event holds, in words (shown under the line)."""
        shown = {"invited": {"role"}, "created": {"role"}, "role_changed": {"role_from", "role_to"},
                 "profile_edited": {"name_from", "name_to"}, "activity": {"activity"}}.get(self.kind, set())
        if self.kind == "signed_in" and self.detail.get("ip"):
            return f"From {self.detail['ip']}"
        return " · ".join(f"{str(k).replace('_', ' ').capitalize()}: {v}" for k, v in self.detail.items()
                          if k not in shown and v not in (None, ""))

    def as_dict(self) -> dict:
        return {"at": self.at, "kind": self.kind, "label": self.label, "actor": self.actor, "detail": self.detail}


def _from(value, title: bool = True) -> str:
    return f" from {str(value).capitalize() if title else value}" if value else ""


@dataclass
class History:
    person: Account
    sessions: list
    sessions_next: Optional[str]
    events: list
    events_next: Optional[str]


def _cursor(viewer: Viewer, account_id: str, kind: str, key: Optional[dict]) -> Optional[str]:
    return tokens.seal(f"history-{kind}", {"o": viewer.org_id, "v": viewer.account_id, "a": account_id,
                                           "k": key}) if key else None


def _open(viewer: Viewer, account_id: str, kind: str, cursor: str) -> Optional[dict]:
    if not cursor:
        return None
    payload = tokens.unseal(f"history-{kind}", cursor)
    if (not isinstance(payload, dict) or (payload.get("o"), payload.get("v"), payload.get("a"))
            != (viewer.org_id, viewer.account_id, account_id) or not isinstance(payload.get("k"), dict)):
        raise ValidationError("This page link is no longer valid. Start from the newest entries.",
                              field=f"{kind}_cursor", code="invalid_cursor")
    return payload["k"]


def person_history(viewer: Viewer, account_id: str, sessions_cursor: str = "", events_cursor: str = "",
                   size: int = PAGE) -> History:
    if not _ID.match(account_id or ""):
        raise NotFound("No such account.")
    person = accounts.get_visible(viewer, account_id)
    session_start = _open(viewer, account_id, "sessions", sessions_cursor)
    event_start = _open(viewer, account_id, "events", events_cursor)
    found_sessions = sessions.history(viewer.org_id, account_id, limit=size, cursor=session_start)
    session_rows = [SessionRow(s.started_at, s.last_seen, s.ended_at, describe_device(s.user_agent), s.ip)
                    for s in found_sessions]
    found_events = timeline.latest(viewer.org_id, account_id, limit=size, cursor=event_start)
    events = [EventRow(e.at_id.split("#")[0], e.kind, e.actor_name, dict(e.detail or {}))
              for e in found_events]
    return History(
        person,
        session_rows, _cursor(viewer, account_id, "sessions",
                              found_sessions.last_evaluated_key if len(session_rows) == size else None),
        events, _cursor(viewer, account_id, "events",
                        found_events.last_evaluated_key if len(events) == size else None),
    )
