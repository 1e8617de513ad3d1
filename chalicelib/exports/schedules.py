"""Scheduled exports: admins choose filters, a frequency (daily, or weekly on a
weekday) and a time of day in the organisation's time zone; they can edit and
delete them. One scheduled function (`run_due`) starts the exports that are due.

Finding what is due is one Query on the `by_due` index (a constant partition,
sorted by next run time), never a Scan of organisations: when nothing is due
the runner costs one request. Each due schedule becomes a background export
whose id is derived from the schedule and the run's time, so a runner that
fires twice (at-least-once schedules, an overlap) starts each run once; the
next run is the next slot after both the run and now (a missed run is not repeated).

Times are wall-clock times in the organisation's zone (`next_slot`): 06:00 in
Europe/London is 05:00 UTC in winter and 06:00 UTC... in summer it is 05:00 UTC.
A change of the organisation's zone applies from each schedule's next run.
"""
import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.activity import timeline
from chalicelib.core import aws, config, urls
from chalicelib.core.errors import Conflict, Forbidden, NotFound, ValidationError
from chalicelib.core.models import Account, Export, ExportSchedule, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.exports import exports
from chalicelib.people.accounts import Viewer
from chalicelib.table.filters import parse_filters

FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
FREQUENCY_LABELS = {"daily": "Daily", "weekly": "Weekly"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # date.weekday() order
DEFAULT_TIME = "06:00"
DEFAULT_WEEKDAY = 0
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
MAX_PER_ORG = 20
RUNS_PER_INVOCATION = 100  # the rest wait for the next firing (each run is a Put and a queue message)
RUNNER_MINUTES = 5  # how often the runner fires (routes/events.py): runs start at most this late (1 Query)
DUE = "due"


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins can schedule exports.")


def check_frequency(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in FREQUENCIES:
        raise ValidationError(f"Choose how often: {' or '.join(FREQUENCIES)}.", field="frequency",
                              code="invalid_frequency")
    return value


def check_time(raw) -> str:
    """A time of day as HH:MM (24-hour clock)."""
    match = _TIME.match((raw or "").strip()) if isinstance(raw, str) else None
    if not match:
        raise ValidationError("Enter a time of day as HH:MM, 24-hour clock (for example 06:30).", field="time",
                              code="invalid_time")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def check_weekday(raw, frequency: str) -> int:
    """Which day a weekly export runs (Monday..Sunday, by name or 0-6); daily exports ignore it."""
    if frequency != "weekly":
        return DEFAULT_WEEKDAY
    value = str(raw if raw is not None else "").strip()
    names = [day.lower() for day in WEEKDAYS]
    if value.lower() in names:
        return names.index(value.lower())
    if value.isdigit() and int(value) < len(WEEKDAYS):
        return int(value)
    raise ValidationError(f"Choose the day of the week: {', '.join(WEEKDAYS)}.", field="weekday",
                          code="invalid_weekday")


def next_slot(frequency: str, at_time: str, weekday: int, zone: str, after: datetime) -> datetime:
    """The first run time (UTC) after `after`: `at_time` on the wall clock of `zone`, every day or on `weekday`."""
    local_zone = ZoneInfo(zone)
    hour, minute = (int(part) for part in at_time.split(":"))
    day = after.astimezone(local_zone).date()
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=local_zone)
        if candidate > after and (frequency == "daily" or candidate.weekday() == weekday):
            return candidate.astimezone(timezone.utc)
        day += timedelta(days=1)


def _slot(schedule: ExportSchedule, after: datetime) -> datetime:
    return next_slot(schedule.frequency, schedule.at_time or DEFAULT_TIME, int(schedule.weekday or 0),
                     exports.org_time_zone(schedule.org_id), after)


def _run_key(when: datetime, schedule_id: str) -> str:
    return f"{when.isoformat()}#{schedule_id}"


def _run_time(schedule: ExportSchedule) -> datetime:
    return datetime.fromisoformat(schedule.next_run_at.split("#", 1)[0])


def _settings(viewer: Viewer, frequency: str, params: dict, at_time, weekday) -> dict:
    frequency = check_frequency(frequency)
    filters = parse_filters(params, viewer)
    return {"frequency": frequency, "at_time": check_time(at_time), "weekday": check_weekday(weekday, frequency),
            "filters": exports.filter_params(filters), "summary": exports.describe(viewer.org_id, filters)}


def create(viewer: Viewer, frequency: str, params: dict, email_admins: bool = False, at_time=DEFAULT_TIME,
           weekday=None) -> ExportSchedule:
    """A new schedule; its first export runs at the next slot."""
    _require_admin(viewer)
    settings = _settings(viewer, frequency, params, at_time, weekday)
    existing = ExportSchedule.count(viewer.org_id, limit=MAX_PER_ORG + 1)
    if existing >= MAX_PER_ORG:
        raise ValidationError(f"An organisation can have at most {MAX_PER_ORG} scheduled exports.",
                              field="frequency", code="too_many_schedules")
    schedule_id = new_id()
    schedule = ExportSchedule(org_id=viewer.org_id, schedule_id=schedule_id, email_admins=bool(email_admins),
                              created_by=viewer.account_id, created_by_name=viewer.name or viewer.email,
                              next_run_at="", **settings)
    schedule.next_run_at = _run_key(_slot(schedule, utcnow()), schedule_id)
    schedule.save()
    timeline.audit(viewer.org_id, "export_scheduled", viewer, schedule_id=schedule_id,
                   frequency=settings["frequency"], time=describe_when(schedule), filters=schedule.summary)
    return schedule


def update(viewer: Viewer, schedule_id: str, frequency: str, params: dict, email_admins: bool = False,
           at_time=DEFAULT_TIME, weekday=None) -> ExportSchedule:
    """Change a schedule's frequency, time, filters or email; its next run moves to the new next slot."""
    schedule = get(viewer, schedule_id)
    settings = _settings(viewer, frequency, params, at_time, weekday)
    for name, value in settings.items():
        setattr(schedule, name, value)
    schedule.email_admins = bool(email_admins)
    schedule.next_run_at = _run_key(_slot(schedule, utcnow()), schedule_id)
    try:
        schedule.save()  # version-checked: an edit and a run at the same moment do not overwrite each other
    except PutError:
        raise Conflict("This schedule changed meanwhile (it may have just run). Reload and edit again.",
                       code="schedule_changed") from None
    timeline.audit(viewer.org_id, "export_schedule_changed", viewer, schedule_id=schedule_id,
                   frequency=schedule.frequency, time=describe_when(schedule), filters=schedule.summary)
    return schedule


def describe_when(schedule: ExportSchedule) -> str:
    """Daily at 06:00 / Weekly on Monday at 06:00 (the organisation's zone)."""
    at = schedule.at_time or DEFAULT_TIME
    if schedule.frequency == "weekly":
        return f"Weekly on {WEEKDAYS[int(schedule.weekday or 0)]} at {at}"
    return f"Daily at {at}"


def get(viewer: Viewer, schedule_id: str) -> ExportSchedule:
    """One of the organisation's schedules; another organisation's does not exist."""
    _require_admin(viewer)
    if not isinstance(schedule_id, str) or len(schedule_id) != 32:
        raise NotFound("No such scheduled export.")
    try:
        return ExportSchedule.get(viewer.org_id, schedule_id)
    except DoesNotExist:
        raise NotFound("No such scheduled export.") from None


def listed(viewer: Viewer) -> list:
    if not viewer.is_admin:
        return []
    return sorted(ExportSchedule.query(viewer.org_id), key=lambda s: s.created_at)


def delete(viewer: Viewer, schedule_id: str) -> None:
    schedule = get(viewer, schedule_id)
    schedule.delete()
    timeline.audit(viewer.org_id, "export_unscheduled", viewer, schedule_id=schedule_id, filters=schedule.summary)


def next_run(schedule: ExportSchedule) -> datetime:
    return _run_time(schedule)


def as_dict(schedule: ExportSchedule) -> dict:
    params = dict(schedule.filters or {})
    return {"schedule_id": schedule.schedule_id, "frequency": schedule.frequency, "filters": params,
            "time": schedule.at_time or DEFAULT_TIME,
            "weekday": WEEKDAYS[int(schedule.weekday or 0)] if schedule.frequency == "weekly" else None,
            "time_zone": exports.org_time_zone(schedule.org_id), "when": describe_when(schedule),
            "summary": schedule.summary, "email_admins": schedule.email_admins,
            "created_by_name": schedule.created_by_name, "next_run_at": _run_time(schedule).isoformat(),
            "last_export_id": schedule.last_export_id}


# --------------------------------------------------------------------------- the runner

def run_due(now: Optional[datetime] = None) -> list:
    """Start every due run (one Query finds them); returns the export ids started."""
    now = now or utcnow()
    started = []
    due = ExportSchedule.by_due.query(DUE, ExportSchedule.next_run_at <= f"{now.isoformat()}~",
                                      limit=RUNS_PER_INVOCATION)
    # One BatchGetItem for the due schedules (the index holds keys only); one deleted since is absent.
    for schedule in ExportSchedule.batch_get([(key.org_id, key.schedule_id) for key in due]):
        run_at = _run_time(schedule)
        if run_at > now:
            continue
        export_id = f"{run_at:%Y%m%d%H%M%S}{hashlib.sha256(schedule.schedule_id.encode()).hexdigest()[:12]}"
        owner = Viewer(schedule.org_id, schedule.created_by, "admin", schedule.created_by_name, "")
        params = dict(schedule.filters)
        exports.start(owner, params, kind="scheduled", schedule_id=schedule.schedule_id, export_id=export_id)
        following = _slot(schedule, max(run_at, now))
        try:
            schedule.update(actions=[ExportSchedule.next_run_at.set(_run_key(following, schedule.schedule_id)),
                                     ExportSchedule.last_export_id.set(export_id)])
        except UpdateError:
            continue  # changed meanwhile (another firing moved it on): nothing to do
        started.append(export_id)
    return started


def finished(export: Export) -> None:
    """A scheduled export's file is ready: email the admins a link when the schedule asks for it."""
    try:
        schedule = ExportSchedule.get(export.org_id, export.schedule_id)
    except DoesNotExist:
        return
    if schedule.email_admins:
        mail_admins(export)


def mail_admins(export: Export) -> int:
    """One plain message per admin with a link to the export (the link signs in first)."""
    keys = [(export.org_id, item.account_id) for item in Account.role_name.query(f"{export.org_id}#admin#L")]
    admins = list(Account.batch_get(keys)) if keys else []
    link = urls.absolute(f"/exports/{export.export_id}")
    body = (f"Your scheduled export of the Clients Table is ready: {export.rows:,} rows ({export.summary}).\n\n"
            f"Download it within {exports.RETENTION_DAYS} days: {link}\n")
    ses = aws.client("ses")
    for admin in admins:
        ses.send_email(Source=config.mail_sender(), Destination={"ToAddresses": [admin.email]},
                       Message={"Subject": {"Data": "Your scheduled Caseload export is ready"},
                                "Body": {"Text": {"Data": body}}})
    return len(admins)
