"""Scheduled exports: admins choose filters and a frequency (daily or weekly);
one scheduled function (`run_due`) starts the exports that are due.

Finding what is due is one Query on the `by_due` index (a constant partition,
sorted by next run time), never a Scan of organisations: when nothing is due
the runner costs one request. Each due schedule becomes a background export
whose id is derived from the schedule and the run's time, so a runner that
fires twice (at-least-once schedules, an overlap) starts each run once; the
next run time then moves on by whole periods (a missed run is not repeated).
"""
import hashlib
from datetime import datetime, timedelta
from typing import Optional

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.activity import timeline
from chalicelib.core import aws, config, urls
from chalicelib.core.errors import Forbidden, NotFound, ValidationError
from chalicelib.core.models import Account, Export, ExportSchedule, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.exports import exports
from chalicelib.people.accounts import Viewer
from chalicelib.table.filters import parse_filters

FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
FREQUENCY_LABELS = {"daily": "Daily", "weekly": "Weekly"}
MAX_PER_ORG = 20
RUNS_PER_INVOCATION = 100  # the rest wait for the next firing (each run is a Put and a queue message)
RUNNER_MINUTES = 15  # how often the runner fires (routes/events.py): runs start at most this late
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


def _run_key(when: datetime, schedule_id: str) -> str:
    return f"{when.isoformat()}#{schedule_id}"


def _run_time(schedule: ExportSchedule) -> datetime:
    return datetime.fromisoformat(schedule.next_run_at.split("#", 1)[0])


def create(viewer: Viewer, frequency: str, params: dict, email_admins: bool = False) -> ExportSchedule:
    """A new schedule; its first export runs at the runner's next firing."""
    _require_admin(viewer)
    frequency = check_frequency(frequency)
    filters = parse_filters(params, viewer)
    existing = ExportSchedule.count(viewer.org_id, limit=MAX_PER_ORG + 1)
    if existing >= MAX_PER_ORG:
        raise ValidationError(f"An organisation can have at most {MAX_PER_ORG} scheduled exports.",
                              field="frequency", code="too_many_schedules")
    schedule_id = new_id()
    schedule = ExportSchedule(org_id=viewer.org_id, schedule_id=schedule_id, frequency=frequency,
                              filters=exports.filter_params(filters), summary=exports.describe(viewer.org_id, filters),
                              email_admins=bool(email_admins), created_by=viewer.account_id,
                              created_by_name=viewer.name or viewer.email,
                              next_run_at=_run_key(utcnow(), schedule_id))
    schedule.save()
    timeline.audit(viewer.org_id, "export_scheduled", viewer, schedule_id=schedule_id, frequency=frequency,
                   filters=schedule.summary)
    return schedule


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
    params = schedule.filters.as_dict() if hasattr(schedule.filters, "as_dict") else dict(schedule.filters or {})
    return {"schedule_id": schedule.schedule_id, "frequency": schedule.frequency, "filters": params,
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
    for key in due:
        try:
            schedule = ExportSchedule.get(key.org_id, key.schedule_id)
        except DoesNotExist:
            continue  # deleted since the index was read
        run_at = _run_time(schedule)
        if run_at > now:
            continue
        export_id = f"{run_at:%Y%m%d%H%M%S}{hashlib.sha256(schedule.schedule_id.encode()).hexdigest()[:12]}"
        owner = Viewer(schedule.org_id, schedule.created_by, "admin", schedule.created_by_name, "")
        params = schedule.filters.as_dict() if hasattr(schedule.filters, "as_dict") else dict(schedule.filters)
        exports.start(owner, params, kind="scheduled", schedule_id=schedule.schedule_id, export_id=export_id)
        following = run_at + FREQUENCIES[schedule.frequency]
        while following <= now:
            following += FREQUENCIES[schedule.frequency]
        try:
            schedule.update(actions=[ExportSchedule.next_run_at.set(_run_key(following, schedule.schedule_id)),
                                     ExportSchedule.last_export_id.set(export_id)])
        except UpdateError:
            continue  # changed meanwhile (another firing moved it on): nothing to do
        started.append(export_id)
    return started


def finished(export: Export) -> None:
    """A scheduled export's file is ready: e-mail the admins a link when the schedule asks for it."""
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
