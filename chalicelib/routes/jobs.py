"""Background jobs: the status of one job as JSON (polled by the pages) and as a
page, and Cancel / Retry. Who may see a job is decided by `chalicelib.jobs.get`."""
from typing import Literal, Optional

from chalice import Blueprint

from chalicelib import jobs
from chalicelib.core.models import JOB_STATUSES
from chalicelib.jobs.lifecycle import STATES
from chalicelib.web import api, render
from chalicelib.web.api import DateTime, Reply
from chalicelib.web.guard import page, take_notice, view, viewer

bp = Blueprint(__name__)
EVERYONE = ("admin", "staff", "client")


class JobStatus(Reply):
    job_id: str
    kind: str
    status: Literal[JOB_STATUSES]
    state: Literal[STATES]
    phase: str
    done: int
    total: int
    attempts: int
    max_attempts: int
    message: str
    error: Optional[str] = None
    summary: dict
    cancel_requested: bool
    can_cancel: bool
    can_retry: bool
    final: bool
    created_at: DateTime
    updated_at: DateTime
    progress_at: DateTime


def _page_url(job_id: str) -> str:
    return render.url(f"/jobs/{job_id}")


@api.route(bp, "/api/v1/jobs/{job_id}", roles=EVERYONE, reply=JobStatus, errors=(404,),
           summary="A background job: status, progress and a message to show (its starter or an admin)")
def job_json(job_id):
    return jobs.view(jobs.get(viewer(), job_id))


@api.route(bp, "/api/v1/jobs/{job_id}/cancel", "POST", roles=EVERYONE, reply=JobStatus, errors=(404, 409),
           summary="Cancel a job that has not finished")
def cancel_json(job_id):
    return jobs.view(jobs.cancel(viewer(), job_id))


@api.route(bp, "/api/v1/jobs/{job_id}/retry", "POST", roles=EVERYONE, reply=JobStatus, errors=(404, 409),
           summary="Continue a job that failed after repeated errors, from where it stopped")
def retry_json(job_id):
    return jobs.view(jobs.retry(viewer(), job_id))


# What each kind is called on its page, and where the person goes back to.
KIND_PAGES = {
    "bulk_action": ("Bulk action", "/clients", "Back to the Clients Table"),
    "caseload": ("Transfer caseload", "/clients", "Back to the Clients Table"),
    "group_delete": ("Deleting a group", "/groups", "Back to Manage Groups"),
}
# The counts a bulk action or transfer reports (chalicelib.actions.bulk.OUTCOMES), for a person.
COUNT_LABELS = {"changed": "Changed", "unchanged": "Already so", "refused": "Refused", "not_found": "Not found",
                "conflict": "Changed by someone else meanwhile (left as they were)"}


@bp.route("/jobs/{job_id}")
@view(*EVERYONE)
def job_page(job_id):
    job = jobs.view(jobs.get(viewer(), job_id))
    title, back, back_label = KIND_PAGES.get(job["kind"], ("Background job", "/home", "Back to Home"))
    return page("jobs/page.html", job=job, poll=jobs.POLL, title=title, back=back, back_label=back_label,
                count_labels=COUNT_LABELS, notice=take_notice())


@bp.route("/jobs/{job_id}/cancel", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@view(*EVERYONE)
def cancel_form(job_id):
    jobs.cancel(viewer(), job_id)
    return render.redirect(_page_url(job_id))


@bp.route("/jobs/{job_id}/retry", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@view(*EVERYONE)
def retry_form(job_id):
    jobs.retry(viewer(), job_id)
    return render.redirect(_page_url(job_id))
