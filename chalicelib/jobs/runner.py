"""Running steps (the jobs queue's handler) and the sweeper (every minute).

One step, for a message `{"job_id", "seq"}`:
1. read the job; a message for another step than the job's `step_seq` is stale (dropped);
2. take the lease (one conditional update: running, this step, nobody holds it
   or the holder's lease ran out), counting the attempt; a job out of attempts fails;
3. run the kind's step function;
4. if the job continues, send the next step's message FIRST (unless the step
   asked to run `later`: the sweeper, or `jobs.wake`, queues it then), then commit the
   step (cursor, progress, `step_seq + 1`, lease released). If the commit is
   lost, the early message is stale and the sweeper re-queues this step,
   which runs again (steps are idempotent); if the send fails, nothing is
   committed and the step is retried after a backoff.
A step that raises releases the lease with a backoff (10 s, 20 s, 40 s...)
and keeps the person's message in `last_error`; the sweeper re-queues it.
"""
import logging
import time
from datetime import timedelta
from typing import Optional

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import logs
from chalicelib.core.errors import CaseloadError
from chalicelib.core.models import JOB_DUE, Job, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.jobs import queue, registry
from chalicelib.jobs.lifecycle import HANDOFF_SECONDS, LEASE_SECONDS, MAX_ATTEMPTS, iso

log = logging.getLogger("caseload.jobs")

SWEEP_LIMIT = 100  # jobs re-queued per sweep (each sweep runs a minute after the last)
EARLY_WAITS = (0.05, 0.1, 0.2, 0.4)  # the next step's message can arrive before its step is committed
BACKOFF_BASE = 10


class Outcome:
    STALE = "stale"
    BUSY = "busy"
    RAN = "ran"
    RETRY = "retry"
    FAILED = "failed"
    CANCELLED = "cancelled"


def handle_message(body: str) -> str:
    parsed = queue.parse(body)
    if parsed is None:
        log.warning("dropped a message that is not a job step")
        return Outcome.STALE
    return run_step(*parsed)


def _read(job_id: str) -> Optional[Job]:
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        return None


def run_step(job_id: str, seq: int) -> str:
    with logs.correlated(job_id, job_id=job_id, seq=seq):
        return _run_step(job_id, seq)


def _run_step(job_id: str, seq: int) -> str:
    job = _read(job_id)
    for pause in EARLY_WAITS:  # sent before its predecessor committed: give the commit a moment
        if job is None or job.status != "running" or int(job.step_seq) != seq - 1:
            break
        time.sleep(pause)
        job = _read(job_id)
    if job is None or job.status != "running" or int(job.step_seq) != seq:
        return Outcome.STALE
    now = utcnow()
    if job.cancel_requested:
        return _finish_cancelled(job, seq)
    if int(job.attempts) >= MAX_ATTEMPTS:
        return _fail_after_attempts(job, seq)
    token = new_id()
    try:
        job.update(actions=[Job.lease_owner.set(token), Job.lease_until.set(iso(now + timedelta(seconds=LEASE_SECONDS))),
                            Job.attempts.add(1), Job.due.set(JOB_DUE), Job.updated_at.set(now)],
                   condition=(Job.status == "running") & (Job.step_seq == seq)
                   & (Job.lease_owner.does_not_exist() | (Job.lease_until < iso(now))))
    except UpdateError:
        return Outcome.BUSY  # another worker holds it; the sweeper covers it if that one dies
    function = registry.step_for(job.kind)
    try:
        if function is None:
            raise CaseloadError(f"This kind of job ({job.kind}) is not known to this version of Caseload.")
        log.info("job step", extra={"job_id": job.job_id, "kind": job.kind, "seq": seq, "attempt": int(job.attempts)})
        result = function(job)
        if result.continues and not result.later:
            queue.send(job.job_id, seq + 1)  # before the commit: a lost commit leaves a stale message, not a gap
    except Exception as error:  # noqa: BLE001 (any failure of a step is retried, then reported)
        return _release_after_error(job, seq, token, error)
    return _commit(job, seq, token, result)


def _person_message(error: Exception) -> str:
    if isinstance(error, CaseloadError):
        return error.message
    return f"an unexpected error ({type(error).__name__})"


def _release_after_error(job: Job, seq: int, token: str, error: Exception) -> str:
    log.exception("job step failed", extra={"job_id": job.job_id, "kind": job.kind, "seq": seq})
    now = utcnow()
    backoff = BACKOFF_BASE * 2 ** max(int(job.attempts) - 1, 0)
    try:
        job.update(actions=[Job.lease_owner.remove(), Job.lease_until.set(iso(now + timedelta(seconds=backoff))),
                            Job.last_error.set(_person_message(error)[:500]), Job.updated_at.set(now)],
                   condition=(Job.lease_owner == token) & (Job.step_seq == seq))
    except UpdateError:
        pass  # the lease ran out meanwhile and someone else took it
    return Outcome.RETRY


def _commit(job: Job, seq: int, token: str, result: registry.Step) -> str:
    now = utcnow()
    actions = [Job.step_seq.set(seq + 1), Job.attempts.set(0), Job.lease_owner.remove(), Job.last_error.remove(),
               Job.updated_at.set(now), Job.progress_at.set(now)]
    for attribute, value in ((Job.cursor, result.cursor), (Job.done, result.done), (Job.total, result.total),
                             (Job.summary, result.summary), (Job.phase, result.phase)):
        if value is not None:
            actions.append(attribute.set(value))
    if result.continues:  # due again after the hand-off, or when it asked to run `later`
        status_actions = [Job.lease_until.set(iso(now + timedelta(seconds=result.later or HANDOFF_SECONDS)))]
    else:
        status_actions = [Job.due.remove(), Job.lease_until.remove()]
        if result.failed:
            status_actions += [Job.status.set("failed"), Job.error.set(result.failed[:500]), Job.retryable.set(False)]
        else:
            status_actions.append(Job.status.set("done" if result.finished else "waiting"))
    mine = (Job.lease_owner == token) & (Job.step_seq == seq)
    try:
        job.update(actions=actions + status_actions, condition=mine & (Job.cancel_requested == False))  # noqa: E712
        return Outcome.RAN
    except UpdateError:
        pass
    try:  # cancelled during the step: keep what it did, stop here
        job.update(actions=actions + [Job.status.set("cancelled"), Job.due.remove(), Job.lease_until.remove()],
                   condition=mine)
        return Outcome.CANCELLED
    except UpdateError:
        return Outcome.STALE  # our lease ran out and another worker took over: its commit counts


def _finish_cancelled(job: Job, seq: int) -> str:
    try:
        job.update(actions=[Job.status.set("cancelled"), Job.due.remove(), Job.lease_owner.remove(),
                            Job.lease_until.remove(), Job.updated_at.set(utcnow())],
                   condition=(Job.status == "running") & (Job.step_seq == seq))
    except UpdateError:
        return Outcome.STALE
    return Outcome.CANCELLED


def _fail_after_attempts(job: Job, seq: int) -> str:
    reason = job.last_error or "the work stopped without finishing (it took too long or the worker crashed)"
    try:
        job.update(actions=[Job.status.set("failed"), Job.retryable.set(True), Job.due.remove(),
                            Job.lease_owner.remove(), Job.lease_until.remove(), Job.updated_at.set(utcnow()),
                            Job.error.set(f"{reason} — stopped after {MAX_ATTEMPTS} attempts; Retry continues "
                                          f"from where it stopped.")],
                   condition=(Job.status == "running") & (Job.step_seq == seq) & (Job.attempts >= MAX_ATTEMPTS))
    except UpdateError:
        return Outcome.STALE
    log.error("job failed after its attempts", extra={"job_id": job.job_id, "kind": job.kind})
    return Outcome.FAILED


def sweep(now=None, limit: int = SWEEP_LIMIT) -> dict:
    """Re-queue running jobs whose lease (or hand-off) ran out: one Query on the
    sparse `by_due` index, nothing else when nothing is due."""
    now = now or utcnow()
    due = list(Job.by_due.query(JOB_DUE, Job.lease_until < iso(now), limit=limit))
    requeued = []
    for item in due:
        try:  # the holder (if any) is presumed dead; push the deadline so the next sweep waits
            Job(job_id=item.job_id).update(
                actions=[Job.lease_owner.remove(), Job.lease_until.set(iso(now + timedelta(seconds=HANDOFF_SECONDS)))],
                condition=(Job.status == "running") & (Job.lease_until == item.lease_until)
                & (Job.step_seq == item.step_seq))
        except UpdateError:
            continue
        requeued.append((item.job_id, int(item.step_seq)))
    failed = queue.send_many(requeued) if requeued else []
    if requeued:
        log.info("sweeper re-queued jobs", extra={"job_ids": [j for j, _ in requeued], "failed": failed})
    return {"due": len(due), "requeued": len(requeued) - len(failed),
            "job_ids": [job_id for job_id, _seq in requeued if job_id not in failed]}
