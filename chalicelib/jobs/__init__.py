"""Background jobs: one typed model (`chalicelib.core.models.Job`), a queue, a
lease, and a sweeper, so that no job is ever stranded.

Using it from a feature (imports, bulk actions, group deletes, exports)::

    from chalicelib import jobs

    @jobs.step("export")
    def run_export(job: Job) -> jobs.Step:
        # One bounded chunk (well under a minute) from where the last step stopped.
        rows, after = read_some(job.org_id, after=job.cursor.get("after"))
        write_part(job, rows)                     # safe to run twice: same input, same output
        return jobs.Step(cursor={"after": after}, done=job.done + len(rows), finished=after is None)

    job = jobs.start(viewer, "export", total=n, params={"filter": ...})  # saved, first step queued
    jobs.get(viewer, job_id)      # the owner, or an admin of the organisation; else NotFound
    jobs.cancel(viewer, job_id)   # every non-final state
    jobs.retry(viewer, job_id)    # a job that failed after its attempts continues from `cursor`
    jobs.view(job)                # the JSON of GET /api/v1/jobs/{id} (status, progress, message)

A step with nothing to do yet returns `Step(later=seconds)`: the job stays due and
runs again then (the sweeper queues it), or sooner if `jobs.wake(job)` is called
(e.g. when the file it waits for arrives).

A kind may also wait for the person between phases (`Step(wait=True,
phase="ready")`, then `jobs.resume(job, phase="importing")` once they decide).

Guarantees (see runner.py): a worker takes the lease before a step; the next
queue message is sent before the step's state is committed; a message names
the step it is for (`step_seq`), so a redelivered one is a no-op; a step that
raised or crashed is retried with backoff until MAX_ATTEMPTS, then the job is
`failed` with a message a person can read, and Retry continues it. The
sweeper (every minute) re-queues running jobs whose lease expired with one
Query. A step must therefore be safe to run twice.
"""
from chalicelib.jobs.lifecycle import (  # noqa: F401
    MAX_ATTEMPTS,
    POLL,
    cancel,
    cancel_job,
    get,
    get_by_id,
    resume,
    retry,
    start,
    view,
    wake,
)
from chalicelib.jobs.registry import Step, step  # noqa: F401
