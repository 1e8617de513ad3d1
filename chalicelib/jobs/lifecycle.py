"""Starting, reading, cancelling and retrying jobs (what people and features call)."""
import logging
import re
from datetime import datetime, timedelta
from typing import Optional

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.models import JOB_DUE, JOB_FINAL, Job, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.jobs import queue

log = logging.getLogger("caseload.jobs")

MAX_ATTEMPTS = 5  # tries of one step before the job fails (a person can then Retry)
LEASE_SECONDS = 120  # a worker's hold on one step: above run_jobs' Lambda timeout (90 s, .chalice/config.json)
HANDOFF_SECONDS = 60  # a queued step not taken by then is re-queued by the sweeper
JOB_KEPT = timedelta(days=30)
# How a page polls a job (static/jobs.js reads these from data- attributes): first wait, growth, longest wait.
POLL = {"first_ms": 1000, "factor": 1.6, "max_ms": 15000}
_ID = re.compile(r"[0-9a-f]{32}")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def start(viewer, kind: str, total: int = 0, params: Optional[dict] = None, *, phase: str = "",
          wait: bool = False, summary: Optional[dict] = None, job_id: Optional[str] = None) -> Job:
    """Create a job owned by `viewer` and queue its first step (unless it `wait`s for the person)."""
    now = utcnow()
    job = Job(job_id=job_id or new_id(), org_id=viewer.org_id, owner_id=viewer.account_id, kind=kind,
              status="waiting" if wait else "running", phase=phase, total=int(total), params=params or {},
              summary=summary or {}, cursor={}, created_at=now, updated_at=now, progress_at=now,
              expires_at=now + JOB_KEPT)
    if not wait:
        job.due, job.lease_until = JOB_DUE, iso(now + timedelta(seconds=HANDOFF_SECONDS))
    job.save(condition=Job.job_id.does_not_exist())
    if not wait:
        _send_first(job)
    return job


def _send_first(job: Job) -> None:
    try:
        queue.send(job.job_id, job.step_seq)
    except Exception:  # the job is due: the sweeper queues it within HANDOFF_SECONDS
        log.exception("could not queue job %s; the sweeper will", job.job_id)


def get_by_id(job_id: str, org_id: Optional[str] = None) -> Job:
    """The job (consistent read); NotFound for a malformed id, a missing job or another organisation's."""
    if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
        raise NotFound("No such job.")
    try:
        job = Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("No such job.") from None
    if org_id is not None and job.org_id != org_id:
        raise NotFound("No such job.")
    return job


def get(viewer, job_id: str, kind: Optional[str] = None) -> Job:
    """The job if `viewer` started it or is an admin of its organisation. Anything
    else (another person's, another organisation's, another kind) answers like a missing job."""
    job = get_by_id(job_id, viewer.org_id)
    if (kind is not None and job.kind != kind) or not (viewer.role == "admin" or job.owner_id == viewer.account_id):
        raise NotFound("No such job.")
    return job


def resume(job: Job, *, phase: str, expected_phase: Optional[str] = None, cursor: Optional[dict] = None,
           done: Optional[int] = None, total: Optional[int] = None, summary: Optional[dict] = None) -> Job:
    """Continue a waiting job in `phase` (only if it still waits in `expected_phase`): queue its next step."""
    now = utcnow()
    actions = [Job.status.set("running"), Job.phase.set(phase), Job.due.set(JOB_DUE),
               Job.lease_until.set(iso(now + timedelta(seconds=HANDOFF_SECONDS))), Job.attempts.set(0),
               Job.updated_at.set(now), Job.progress_at.set(now)]
    for attribute, value in ((Job.cursor, cursor), (Job.done, done), (Job.total, total), (Job.summary, summary)):
        if value is not None:
            actions.append(attribute.set(value))
    condition = (Job.status == "waiting") & (Job.cancel_requested == False)  # noqa: E712 (a condition)
    if expected_phase is not None:
        condition &= Job.phase == expected_phase
    try:
        job.update(actions=actions, condition=condition)
    except UpdateError:
        raise Conflict("This job has moved on meanwhile: reload to see where it is.", code="job_changed") from None
    _send_first(job)
    return job


def wake(job: Job) -> bool:
    """Queue a running job's current step now rather than at its due time (a job whose
    step said `later`, e.g. waiting for a file that has just arrived). The step runs
    only if nobody holds the job; the sweeper covers a lost message. False when the
    job is not running."""
    if job.status != "running":
        return False
    queue.send(job.job_id, job.step_seq)
    return True


def cancel(viewer, job_id: str, kind: Optional[str] = None) -> Job:
    """Cancel in every non-final state: at once when no worker holds it, else the
    worker stops at the end of its current step (`cancel_requested`)."""
    job = get(viewer, job_id, kind)
    return cancel_job(job)


def cancel_job(job: Job) -> Job:
    if job.status in JOB_FINAL:
        raise Conflict(f"This job is already {job.status}.", code="job_final")
    now = utcnow()
    free = Job.lease_owner.does_not_exist() | (Job.lease_until < iso(now))
    try:  # nobody works on it: cancelled now
        job.update(actions=[Job.status.set("cancelled"), Job.cancel_requested.set(True), Job.due.remove(),
                            Job.lease_owner.remove(), Job.updated_at.set(now)],
                   condition=Job.status.is_in("waiting", "running") & free)
        return job
    except UpdateError:
        pass
    try:  # a worker holds it: it stops after this step
        job.update(actions=[Job.cancel_requested.set(True), Job.updated_at.set(now)],
                   condition=Job.status.is_in("waiting", "running"))
    except UpdateError:
        job.refresh(consistent_read=True)
        raise Conflict(f"This job is already {job.status}.", code="job_final") from None
    return job


def retry(viewer, job_id: str, kind: Optional[str] = None) -> Job:
    """A job that failed after its attempts continues from where it stopped."""
    job = get(viewer, job_id, kind)
    if job.status != "failed" or not job.retryable:
        raise Conflict("Only a job that stopped after repeated errors can be retried.", code="not_retryable")
    now = utcnow()
    try:
        job.update(actions=[Job.status.set("running"), Job.attempts.set(0), Job.error.remove(),
                            Job.retryable.set(False), Job.due.set(JOB_DUE),
                            Job.lease_until.set(iso(now + timedelta(seconds=HANDOFF_SECONDS))),
                            Job.updated_at.set(now)],
                   condition=(Job.status == "failed") & (Job.retryable == True))  # noqa: E712
    except UpdateError:
        raise Conflict("This job has moved on meanwhile: reload to see where it is.", code="job_changed") from None
    _send_first(job)
    return job


def stalled(job: Job, now: Optional[datetime] = None) -> bool:
    """Running, but the last attempt failed or its lease ran out without a commit."""
    if job.status != "running":
        return False
    now = now or utcnow()
    return bool(job.last_error) or bool(job.lease_owner and job.lease_until and job.lease_until < iso(now))


STATES = ("waiting", "working", "stalled", "cancelling", "done", "failed", "cancelled")


def state(job: Job, now: Optional[datetime] = None) -> str:
    """One of STATES: what the person sees."""
    if job.status == "running":
        if job.cancel_requested:
            return "cancelling"
        return "stalled" if stalled(job, now) else "working"
    return job.status


def message(job: Job, now: Optional[datetime] = None) -> str:
    """What the status line says, for a person."""
    current = state(job, now)
    at = job.progress_at.strftime("%H:%M:%S UTC")
    if current == "working":
        return f"Still working — last progress at {at}."
    if current == "stalled":
        reason = f" ({job.last_error})" if job.last_error else ""
        return f"Stalled, retrying{reason}: attempt {min(int(job.attempts) + 1, MAX_ATTEMPTS)} of {MAX_ATTEMPTS}."
    if current == "cancelling":
        return "Cancelling: stopping after the current step."
    if current == "failed":
        return f"Failed: {job.error or 'an unexpected error'}"
    if current == "cancelled":
        return "Cancelled."
    if current == "done":
        return "Done."
    return "Waiting for you."


def view(job: Job, now: Optional[datetime] = None) -> dict:
    """The JSON of one job (GET /api/v1/jobs/{id}); the page fragment shows the same."""
    current = state(job, now)
    return {
        "job_id": job.job_id, "kind": job.kind, "status": job.status, "state": current, "phase": job.phase,
        "done": int(job.done), "total": int(job.total), "attempts": int(job.attempts),
        "max_attempts": MAX_ATTEMPTS, "message": message(job, now), "error": job.error,
        "summary": job.summary or {}, "cancel_requested": bool(job.cancel_requested),
        "can_cancel": job.status not in JOB_FINAL and not job.cancel_requested,
        "can_retry": job.status == "failed" and bool(job.retryable),
        "final": job.status in JOB_FINAL,
        "created_at": iso(job.created_at), "updated_at": iso(job.updated_at), "progress_at": iso(job.progress_at),
    }
