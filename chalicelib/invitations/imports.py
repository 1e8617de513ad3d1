"""Bulk invitations from a CSV file (SPEC 4.3): upload straight to S3, a dry run,
then an import in chunks, all driven by the upload queue.

Flow: `start_upload` makes a job and a presigned POST for a key the server
chooses (`uploads/<org_id>/<job_id>.csv`, at most 10 MB). The bucket notifies
the upload queue (S3 → SQS → `on_sqs_message`, because `chalice package`
cannot deploy `on_s3_event`), which wakes the job (`check_upload`). The job
runs from the start: its first phase looks for the file (HeadObject) every
minute until it arrives, so a lost notification only delays it to the
sweeper's next round. The dry run then streams the file once and writes
the dry run to the job: rows, would invite, already exist, duplicates within
the file, invalid (with row numbers and reasons, the full list as an error
report CSV in S3). Nothing is written to the accounts. The dry run also
writes the plan: one JSON line per row to invite, already checked (address
normalised, group and staff resolved), to S3. `commit_import` then queues
the first chunk; each `import_chunk` reads `CHUNK_ROWS` lines of the plan
from a byte offset (a ranged GET), invites them (well inside one Lambda
invocation) and queues the next offset. The whole import reads the file
once and the plan once: linear in the row count, constant memory (the plan
and the report are spooled to disk, not held).

Resumable and idempotent: the job records the next offset and a chunk runs
only while the job expects it (a conditional update), so a redelivered
message is a no-op, and a chunk that crashed is delivered again and re-runs;
account creation itself never duplicates, so rows it had already invited are
then reported as existing. Uploading the same file again invites nobody twice
for the same reason. The job is a `chalicelib.jobs` Job (kind `csv_import`); its
summary stays small (counts, the first errors).
"""
import csv
import io
import json
import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Dict, Iterator, List, Optional
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib import jobs
from chalicelib.core import aws, config
from chalicelib.core.errors import Conflict, Forbidden, NotFound, ValidationError
from chalicelib.core.models import ROLES, Account, Group, Job, utcnow
from chalicelib.invitations import csv_rows, invites
from chalicelib.invitations.addresses import check_address
from chalicelib.people import accounts
from chalicelib.people.organisations import get_organisation

KIND = "csv_import"
CHUNK_ROWS = 1000
UPLOAD_SECONDS = 15 * 60
ERRORS_SHOWN = 20
_KEY = re.compile(r"^uploads/([0-9a-f]{32})/([0-9a-f]{32})\.csv$")
# What the dry run and the finished import count, in the words pages show (the upload
# page, and invites.js through the window's data-labels).
COUNT_LABELS = {"rows": "rows in the file", "would_invite": "would be invited", "exists": "already have an account",
                "duplicates": "duplicates within the file", "invalid": "invalid",
                "suppressed": "not invited: emails bounced before"}
DONE_LABELS = {"invited": "invited", "exists": "already had an account", "duplicates": "duplicates within the file",
               "invalid": "invalid", "suppressed": "not invited: emails bounced before"}
COUNTS, DONE_COUNTS = tuple(COUNT_LABELS), tuple(DONE_LABELS)


def limits() -> dict:
    """What the upload page, the window and invites.js say and check before uploading."""
    return {"max_bytes": csv_rows.MAX_BYTES, "max_mb": csv_rows.MAX_BYTES // (1024 * 1024),
            "max_rows": csv_rows.MAX_ROWS, "labels": {"dry_run": list(COUNT_LABELS.items()),
                                                      "result": list(DONE_LABELS.items())}}


def upload_key(org_id: str, job_id: str) -> str:
    return f"uploads/{org_id}/{job_id}.csv"


def report_key(org_id: str, job_id: str) -> str:
    return f"reports/{org_id}/{job_id}-errors.csv"


def plan_key(org_id: str, job_id: str) -> str:
    return f"plans/{org_id}/{job_id}.jsonl"


def _spool():
    """A file for the report or the plan: in memory while small, on disk (Lambda's /tmp) beyond."""
    return tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+b")


# --------------------------------------------------------------------------- jobs

def start_upload(viewer, filename: str = "") -> dict:
    """A new import job (waiting for its file) and the presigned POST that uploads the file to S3."""
    invites.require_team(viewer)
    name = " ".join(str(filename or "").split())[:120] or "invites.csv"
    # Running from now on: its step looks for the file until it arrives, so a lost "file arrived"
    # notification only delays the dry run until the sweeper's next round (upload_step).
    job = jobs.start(viewer, KIND, phase="upload", params={"filename": name})
    return {"job_id": job.job_id, "upload": _presigned_post(viewer.org_id, job.job_id),
            "max_bytes": csv_rows.MAX_BYTES}


def upload_form(job: Job, return_to: str) -> Optional[dict]:
    """A fresh presigned POST for a plain HTML form (no JavaScript): S3 sends
    the browser back to `return_to` once the file is in. None once the job has its file."""
    if (job.status, job.phase) != ("running", "upload"):
        return None
    return _presigned_post(job.org_id, job.job_id, return_to)


def _presigned_post(org_id: str, job_id: str, return_to: str = "") -> dict:
    fields, conditions = {}, [["content-length-range", 1, csv_rows.MAX_BYTES]]
    if return_to:
        fields["success_action_redirect"] = return_to
        conditions.append({"success_action_redirect": return_to})
    post = aws.client("s3").generate_presigned_post(
        Bucket=config.bucket(), Key=upload_key(org_id, job_id), Fields=fields, Conditions=conditions,
        ExpiresIn=UPLOAD_SECONDS)
    return {"url": post["url"], "fields": post["fields"]}


def get_job(viewer, job_id: str) -> Job:
    """The upload if this viewer started it or is an admin of its organisation; any
    other (another person's, another organisation's) looks like nothing."""
    invites.require_team(viewer)
    try:
        return jobs.get(viewer, job_id, kind=KIND)
    except NotFound:
        raise NotFound("No such upload.") from None


def legacy_status(job: Job) -> str:
    """The upload's stage as the page and the API name it."""
    if job.status in ("done", "failed", "cancelled"):
        return job.status
    return {"upload": "waiting", "checking": "checking", "ready": "ready", "importing": "importing"}.get(
        job.phase, job.phase)


def job_view(job: Job) -> dict:
    summary = job.summary or {}
    return {"job_id": job.job_id, "status": legacy_status(job), "filename": job.params.get("filename"),
            "message": job.error, "dry_run": summary.get("dry_run"), "result": summary.get("result"),
            "rows_done": int(job.done) if job.phase == "importing" or job.status == "done" else 0,
            "planned": int(summary.get("planned") or 0), "errors": summary.get("errors") or [],
            "has_report": bool(summary.get("report")), "send_email": job.params.get("send_email"),
            "mail": _mail_counts(job), "job": jobs.view(job)}


def _mail_counts(job: Job) -> Optional[dict]:
    """What became of the import's emails: sent, not sent (the people show Not sent; Resend), still queued."""
    if job.phase != "importing" or not job.params.get("send_email"):
        return None
    invited = int(((job.summary or {}).get("result") or {}).get("invited", 0))
    sent, not_sent = int(job.mail_sent or 0), int(job.mail_not_sent or 0)
    return {"sent": sent, "not_sent": not_sent, "queued": max(0, invited - sent - not_sent)}


def commit_import(viewer, job_id: str, send_email: bool = True) -> Job:
    """Invite the rows the dry run found: re-check the uploader's rights for every
    role in the plan, then queue the first chunk."""
    job = get_job(viewer, job_id)
    if (job.status, job.phase) != ("waiting", "ready"):
        raise Conflict("Only a checked upload can be imported.", code="not_ready")
    uploader = _uploader(job)
    roles = (job.summary or {}).get("roles") or {}
    refused = sorted(role for role, n in roles.items() if n and not may_invite(uploader, role))
    if refused:
        raise Forbidden(f"{uploader.name or uploader.email} can invite Clients only, and this file has "
                        f"{', '.join(refused)} rows: upload it again.", code="forbidden_role")
    dry_run = (job.summary or {}).get("dry_run") or {}
    result = {k: 0 for k in DONE_COUNTS}
    result.update(invalid=int(dry_run.get("invalid", 0)), duplicates=int(dry_run.get("duplicates", 0)))
    summary = {**(job.summary or {}), "result": result}
    job.update(actions=[Job.params.set({**job.params, "send_email": bool(send_email)})],
               condition=(Job.status == "waiting") & (Job.phase == "ready"))
    return jobs.resume(job, phase="importing", expected_phase="ready", cursor={"offset": 0}, done=0,
                       total=int(summary.get("planned") or 0), summary=summary)


def cancel_import(viewer, job_id: str) -> Job:
    """Cancel at any stage before the end: rows already invited stay invited."""
    return jobs.cancel_job(get_job(viewer, job_id))


def retry_import(viewer, job_id: str) -> Job:
    """An import that stopped after repeated errors continues from where it stopped."""
    return jobs.retry(viewer, get_job(viewer, job_id).job_id)


def may_invite(uploader: accounts.Viewer, role: str) -> bool:
    return uploader.role == "admin" or (uploader.role == "staff" and role == "client")


def _uploader(job: Job) -> accounts.Viewer:
    """Who started the import, as they are now: their rights apply to every row."""
    return accounts.team_member_now(job.org_id, job.owner_id,
                                    "The person who uploaded this file can no longer invite people.", "uploader_gone")


# --------------------------------------------------------------------------- reading the file

def _chunks(org_id: str, job_id: str):
    """The uploaded file as byte chunks and its size (limits enforced again: moto ignores POST policies)."""
    s3 = aws.client("s3")
    reply = s3.get_object(Bucket=config.bucket(), Key=upload_key(org_id, job_id))
    return reply["Body"].iter_chunks(64 * 1024), reply.get("ContentLength")


@dataclass
class Context:
    """What rows are checked against: the uploader and the organisation's groups and staff."""

    viewer: accounts.Viewer
    groups: Dict[str, str]  # casefolded name -> group_id
    staff: Dict[str, Account]  # email -> staff account

    @classmethod
    def load(cls, job: Job) -> "Context":
        return cls(_uploader(job), {g.name.casefold(): g.group_id for g in Group.query(job.org_id) if not g.deleting},
                   {s.email: s for s in invites.staff_members(job.org_id)})


@dataclass
class Checked:
    row: csv_rows.Row
    email: Optional[str] = None
    choices: Optional[invites.Choices] = None
    name: str = ""
    reason: str = ""
    duplicate_of: Optional[int] = None


def _check_row(row: csv_rows.Row, context: Context) -> Checked:
    if row.problem:
        return Checked(row, reason=row.problem)
    entry = check_address(row.email)
    if not entry.valid:
        return Checked(row, reason=entry.reason)
    role = row.role or "client"
    if role not in ROLES:
        return Checked(row, entry.email, reason=f"Unknown role “{row.role}”: use Admin, Staff or Client.")
    if context.viewer.role != "admin" and role != "client":
        return Checked(row, entry.email, reason="Staff can invite Clients only.")
    group_id = None
    if row.group:
        group_id = context.groups.get(row.group.casefold())
        if group_id is None:
            return Checked(row, entry.email, reason=f"Unknown group “{row.group}”: create it first or fix the name.")
    staff = None
    if role == "client":
        staff_email = row.staff_email.lower()
        if staff_email:
            staff = context.staff.get(staff_email)
            if staff is None:
                return Checked(row, entry.email, reason=f"Unknown staff member “{row.staff_email}”.")
        elif context.viewer.role == "staff":
            staff = context.staff.get(context.viewer.email)
    try:
        name = accounts.clean_name(row.name, required=False)
    except ValidationError as error:
        return Checked(row, entry.email, reason=error.message)
    choices = invites.Choices(role, group_id, staff.account_id if staff else None, staff.email if staff else None)
    return Checked(row, entry.email, choices, name)


def _checked_rows(org_id: str, job_id: str, context: Context) -> Iterator[Checked]:
    """Every row checked, with duplicates within the file marked (first one wins)."""
    chunks, size = _chunks(org_id, job_id)
    first_row: Dict[str, int] = {}
    for row in csv_rows.rows(chunks, size):
        checked = _check_row(row, context)
        if checked.email and not checked.reason:
            if checked.email in first_row:
                checked.duplicate_of = first_row[checked.email]
                checked.reason = f"Duplicate of row {checked.duplicate_of}."
            else:
                first_row[checked.email] = row.number
        yield checked


def _parse_upload_key(key: str):
    match = _KEY.match(key)
    return (match.group(1), match.group(2)) if match else (None, None)


# --------------------------------------------------------------------------- the dry run

def check_upload(key: str) -> Optional[str]:
    """The bucket's notification that a file arrived: start the job's dry run.
    Returns the job id, or None when the key is not a waiting upload's (redelivery)."""
    org_id, job_id = _parse_upload_key(key)
    if not job_id:
        return None
    try:
        job = jobs.get_by_id(job_id, org_id)
    except NotFound:
        return None
    if job.kind != KIND or (job.status, job.phase) != ("running", "upload"):
        return None
    jobs.wake(job)  # its step finds the file now rather than at the sweeper's next round
    return job_id


UPLOAD_POLL_SECONDS = 60  # how often a job still waiting for its file looks again (with the sweeper's round)


def upload_step(job: Job) -> jobs.Step:
    """Has the file arrived? Then the dry run follows. Not yet: look again later (the
    notification wakes the job sooner). No file by the time the upload link expired: failed."""
    try:
        aws.client("s3").head_object(Bucket=config.bucket(), Key=upload_key(job.org_id, job.job_id))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        if utcnow() > job.created_at + timedelta(seconds=UPLOAD_SECONDS + UPLOAD_POLL_SECONDS):
            return jobs.Step(failed="No file arrived before the upload link expired: choose the file again.",
                             summary={"code": "no_file"})
        return jobs.Step(later=UPLOAD_POLL_SECONDS)
    return jobs.Step(phase="checking")


@jobs.step(KIND)
def run_step(job: Job) -> jobs.Step:
    """One step of an import: looking for the file, the whole dry run, or one chunk of the import."""
    if job.phase == "upload":
        return upload_step(job)
    if job.phase == "checking":
        return dry_run(job)
    if job.phase == "importing":
        return import_chunk(job)
    return jobs.Step(failed=f"This upload cannot continue from “{job.phase}”.")


def dry_run(job: Job) -> jobs.Step:
    """Read the file once: counts, row errors (and their report), the plan. Writes no
    account; safe to run again (it rewrites the same report and plan)."""
    org_id, job_id = job.org_id, job.job_id
    try:
        context = Context.load(job)
    except Forbidden as refused:
        return jobs.Step(failed=refused.message)
    counts = dict.fromkeys(COUNTS, 0)
    roles: Dict[str, int] = {}
    errors: List[dict] = []
    with _spool() as report_file, _spool() as plan_file:
        report_file.write(b"\xef\xbb\xbf" + _csv_line(["row", "email", "problem"]))  # BOM: spreadsheets read UTF-8
        batch: List[str] = []
        try:
            for checked in _checked_rows(org_id, job_id, context):
                counts["rows"] += 1
                if not checked.reason:
                    plan_file.write(_plan_line(checked))
                    roles[checked.choices.role] = roles.get(checked.choices.role, 0) + 1
                    batch.append(checked.email)
                    if len(batch) == 100:
                        _count_known(org_id, batch, counts)
                        batch = []
                    continue
                counts["duplicates" if checked.duplicate_of else "invalid"] += 1
                report_file.write(_csv_line([checked.row.number, csv_rows.report_cell(checked.row.email),
                                             csv_rows.report_cell(checked.reason)]))
                if len(errors) < ERRORS_SHOWN:
                    errors.append({"row": checked.row.number, "email": checked.row.email[:200],
                                   "problem": checked.reason})
            _count_known(org_id, batch, counts)
        except csv_rows.FileProblem as problem:
            return jobs.Step(failed=problem.message, summary={"code": problem.code})
        if counts["rows"] == 0:
            return jobs.Step(failed="The file has no rows to invite.", summary={"code": "empty"})
        s3 = aws.client("s3")
        has_report = counts["invalid"] + counts["duplicates"] > 0
        if has_report:
            report_file.seek(0)
            s3.put_object(Bucket=config.bucket(), Key=report_key(org_id, job_id), Body=report_file,
                          ContentType="text/csv")
        planned = counts["rows"] - counts["invalid"] - counts["duplicates"]
        if planned:
            plan_file.seek(0)
            s3.put_object(Bucket=config.bucket(), Key=plan_key(org_id, job_id), Body=plan_file)
    return jobs.Step(wait=True, phase="ready", summary={"dry_run": counts, "errors": errors, "report": has_report,
                                                        "planned": planned, "roles": roles})


def _csv_line(cells: list) -> bytes:
    line = io.StringIO()
    csv.writer(line).writerow(cells)
    return line.getvalue().encode("utf-8")


def _plan_line(checked: Checked) -> bytes:
    """One row to invite, as checked: JSON with escapes, so a line is always one row."""
    choices = checked.choices
    return (json.dumps({"row": checked.row.number, "email": checked.email, "name": checked.name,
                        "role": choices.role, "group_id": choices.group_id, "staff_id": choices.staff_id,
                        "staff_email": choices.staff_email}) + "\n").encode("ascii")


def _count_known(org_id: str, emails: List[str], counts: dict) -> None:
    if not emails:
        return
    existing, suppressed = invites._known(org_id, emails)
    counts["exists"] += len(existing)
    counts["suppressed"] += len(suppressed - existing)
    counts["would_invite"] += len(emails) - len(existing) - len(suppressed - existing)


# --------------------------------------------------------------------------- the import

def import_chunk(job: Job) -> jobs.Step:
    """Invite the `CHUNK_ROWS` planned rows from byte `cursor.offset` of the plan.
    Safe to run again: account creation never duplicates, and accounts this job
    created in an earlier attempt count as invited, not as existing."""
    offset, done = int(job.cursor.get("offset", 0)), int(job.done)
    planned = int((job.summary or {}).get("planned") or 0)
    lines, more = _plan_lines(job.org_id, job.job_id, offset, planned, done)
    result = {k: int(((job.summary or {}).get("result") or {}).get(k, 0)) for k in DONE_COUNTS}
    uploader = _uploader(job)
    invitees = []
    for line in lines:
        item = json.loads(line)
        if not may_invite(uploader, item["role"]):  # rights changed since the dry run
            result["invalid"] += 1
            continue
        outcome = invites.Outcome(item["email"], "pending", "", item["email"])
        choices = invites.Choices(item["role"], item["group_id"], item["staff_id"], item["staff_email"])
        invitees.append(invites.Invitee(item["email"], outcome, choices, item["name"]))
    if invitees:
        invites.invite_invitees(get_organisation(job.org_id), uploader, invitees,
                                bool(job.params.get("send_email", True)), job_id=job.job_id)
        for invitee in invitees:
            result[invitee.outcome.status] = result.get(invitee.outcome.status, 0) + 1
    summary = {**(job.summary or {}), "result": result}
    next_offset = offset + sum(len(line) for line in lines)
    return jobs.Step(cursor={"offset": next_offset}, done=done + len(lines), summary=summary, finished=not more)


def _plan_lines(org_id: str, job_id: str, start: int, planned: int, done: int):
    """Up to CHUNK_ROWS lines of the plan from byte `start`, and whether more follow."""
    if done >= planned:
        return [], False
    body = aws.client("s3").get_object(Bucket=config.bucket(), Key=plan_key(org_id, job_id),
                                       Range=f"bytes={start}-")["Body"]
    lines = []
    try:
        for line in body.iter_lines(keepends=True):
            lines.append(line)
            if len(lines) == CHUNK_ROWS:
                break
    finally:
        body.close()
    return lines, done + len(lines) < planned


def handle_queue_message(body: str) -> None:
    """One upload-queue message: the bucket's notification that a file arrived."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        return
    if not isinstance(message, dict):
        return
    for record in message.get("Records") or []:  # the first message is an s3:TestEvent: no Records
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            check_upload(unquote_plus(((record.get("s3") or {}).get("object") or {}).get("key", "")))


def report_url(viewer, job_id: str) -> str:
    """A short-lived link to the error report CSV."""
    job = get_job(viewer, job_id)
    if not (job.summary or {}).get("report"):
        raise NotFound("This upload has no error report.")
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": config.bucket(), "Key": report_key(job.org_id, job_id),
                              "ResponseContentDisposition": 'attachment; filename="invite-errors.csv"'},
        ExpiresIn=300)
