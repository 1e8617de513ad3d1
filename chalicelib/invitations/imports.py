"""Bulk invitations from a CSV file (SPEC 4.3): upload straight to S3, a dry run,
then an import in chunks, all driven by the upload queue.

Flow: `start_upload` makes a job and a presigned POST for a key the server
chooses (`uploads/<org_id>/<job_id>.csv`, at most 10 MB). The bucket notifies
the upload queue (S3 → SQS → `on_sqs_message`, because `chalice package`
cannot deploy `on_s3_event`); `check_upload` streams the file once and writes
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
for the same reason. The job lives in Lookup (`import#<job_id>`) like other
short-lived records; its `data` map stays small (counts, the first errors).
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

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import aws, config
from chalicelib.core.errors import Conflict, NotFound, ValidationError
from chalicelib.core.models import ROLES, Account, Group, Lookup, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.invitations import csv_rows, invites
from chalicelib.invitations.addresses import check_address
from chalicelib.people import accounts
from chalicelib.people.organisations import get_organisation

CHUNK_ROWS = 1000
UPLOAD_SECONDS = 15 * 60
JOB_KEPT = timedelta(days=30)
ERRORS_SHOWN = 20
_KEY = re.compile(r"^uploads/([0-9a-f]{32})/([0-9a-f]{32})\.csv$")
COUNTS = ("rows", "would_invite", "exists", "duplicates", "invalid", "suppressed")
DONE_COUNTS = ("invited", "exists", "invalid", "suppressed", "duplicates")


def _job_key(job_id: str) -> str:
    return f"import#{job_id}"


def _data(job: Lookup) -> dict:
    """The job's data as a plain dict (pynamodb gives a raw MapAttribute)."""
    data = job.data
    return data.as_dict() if hasattr(data, "as_dict") else dict(data or {})


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
    """A new import job and the presigned POST that uploads its file to S3."""
    invites.require_team(viewer)
    job_id = new_id()
    name = " ".join(str(filename or "").split())[:120] or "invites.csv"
    Lookup(key=_job_key(job_id), org_id=viewer.org_id, account_id=viewer.account_id,
           expires_at=utcnow() + JOB_KEPT, data={"status": "waiting", "filename": name}).save()
    return {"job_id": job_id, "upload": _presigned_post(viewer.org_id, job_id), "max_bytes": csv_rows.MAX_BYTES}


def upload_form(job: Lookup, return_to: str) -> Optional[dict]:
    """A fresh presigned POST for a plain HTML form (no JavaScript): S3 sends
    the browser back to `return_to` once the file is in. None once the job has its file."""
    if _data(job).get("status") != "waiting":
        return None
    return _presigned_post(job.org_id, job.key.split("#", 1)[1], return_to)


def _presigned_post(org_id: str, job_id: str, return_to: str = "") -> dict:
    fields, conditions = {}, [["content-length-range", 1, csv_rows.MAX_BYTES]]
    if return_to:
        fields["success_action_redirect"] = return_to
        conditions.append({"success_action_redirect": return_to})
    post = aws.client("s3").generate_presigned_post(
        Bucket=config.bucket(), Key=upload_key(org_id, job_id), Fields=fields, Conditions=conditions,
        ExpiresIn=UPLOAD_SECONDS)
    return {"url": post["url"], "fields": post["fields"]}


def get_job(viewer, job_id: str) -> Lookup:
    """The job if it is this viewer's organisation's (another's looks like nothing)."""
    invites.require_team(viewer)
    if not isinstance(job_id, str) or not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise NotFound("No such upload.")
    try:
        job = Lookup.get(_job_key(job_id), consistent_read=True)
    except DoesNotExist:
        raise NotFound("No such upload.") from None
    if job.org_id != viewer.org_id:
        raise NotFound("No such upload.")
    return job


def job_view(job: Lookup) -> dict:
    data = _data(job)
    job_id = job.key.split("#", 1)[1]
    return {"job_id": job_id, "status": data.get("status"), "filename": data.get("filename"),
            "message": data.get("message"), "dry_run": data.get("dry_run"), "result": data.get("result"),
            "rows_done": int(data.get("rows_done") or 0), "planned": int(data.get("planned") or 0),
            "errors": data.get("errors") or [],
            "has_report": bool(data.get("report")), "send_email": data.get("send_email")}


def _set(job: Lookup, expected_status: str, **values) -> Lookup:
    """Update the job's data only while it is in `expected_status` (no double commits)."""
    try:
        job.update(actions=[Lookup.data[name].set(value) for name, value in values.items()],
                   condition=Lookup.data["status"] == expected_status)
    except UpdateError:
        raise Conflict("This upload has moved on meanwhile: reload to see where it is.", code="job_changed") from None
    return job


def commit_import(viewer, job_id: str, send_email: bool = True) -> Lookup:
    """Invite the rows the dry run found: queue the first chunk."""
    job = get_job(viewer, job_id)
    if _data(job).get("status") != "ready":
        raise Conflict("Only a checked upload can be imported.", code="not_ready")
    dry_run = _data(job).get("dry_run") or {}
    result = {k: 0 for k in DONE_COUNTS}
    result.update(invalid=int(dry_run.get("invalid", 0)), duplicates=int(dry_run.get("duplicates", 0)))
    _set(job, "ready", status="importing", next_row=0, rows_done=0, send_email=bool(send_email), result=result)
    _queue({"job_id": job_id, "start": 0})
    return Lookup.get(job.key, consistent_read=True)


def cancel_import(viewer, job_id: str) -> Lookup:
    job = get_job(viewer, job_id)
    status = _data(job).get("status")
    if status not in ("ready", "failed"):
        raise Conflict("Only an upload that is waiting for your decision can be cancelled.", code="not_ready")
    return _set(job, status, status="cancelled")


def _queue(message: dict) -> None:
    aws.client("sqs").send_message(QueueUrl=config.upload_queue_url(), MessageBody=json.dumps(message))


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
    staff: Dict[str, Account]  # e-mail -> staff account

    @classmethod
    def load(cls, org_id: str, account_id: str) -> "Context":
        uploader = Account.get(org_id, account_id)
        return cls(accounts.Viewer.of(uploader), {g.name.casefold(): g.group_id for g in Group.query(org_id) if not g.deleting},
                   {s.email: s for s in invites.staff_members(org_id)})


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
    """The dry run of an uploaded file (called for the bucket's notification).
    Returns the job id, or None when the key is not a waiting job's (redelivery)."""
    org_id, job_id = _parse_upload_key(key)
    if not job_id:
        return None
    try:
        job = Lookup.get(_job_key(job_id), consistent_read=True)
    except DoesNotExist:
        return None
    if job.org_id != org_id or _data(job).get("status") != "waiting":
        return None
    _set(job, "waiting", status="checking")
    context = Context.load(org_id, job.account_id)
    counts = dict.fromkeys(COUNTS, 0)
    errors: List[dict] = []
    with _spool() as report_file, _spool() as plan_file:
        report_file.write(b"\xef\xbb\xbf" + _csv_line(["row", "email", "problem"]))  # BOM: spreadsheets read UTF-8
        batch: List[str] = []
        try:
            for checked in _checked_rows(org_id, job_id, context):
                counts["rows"] += 1
                if not checked.reason:
                    plan_file.write(_plan_line(checked))
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
            _set(job, "checking", status="failed", message=problem.message, code=problem.code)
            return job_id
        if counts["rows"] == 0:
            _set(job, "checking", status="failed", message="The file has no rows to invite.", code="empty")
            return job_id
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
    _set(job, "checking", status="ready", dry_run=counts, errors=errors, report=has_report, planned=planned)
    return job_id


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

def import_chunk(job_id: str, start: int) -> Optional[int]:
    """Invite the `CHUNK_ROWS` planned rows from byte `start` of the plan; queue the
    next chunk. Returns the next offset, or None when the job is finished or the
    message was stale (a redelivery of a chunk already done)."""
    try:
        job = Lookup.get(_job_key(job_id), consistent_read=True)
    except DoesNotExist:
        return None
    data = _data(job)
    if data.get("status") != "importing" or int(data.get("next_row", -1)) != start:
        return None
    lines, more = _plan_lines(job.org_id, job_id, start, int(data.get("planned") or 0), int(data["rows_done"]))
    result = {k: int((data.get("result") or {}).get(k, 0)) for k in DONE_COUNTS}
    invitees = []
    for line in lines:
        item = json.loads(line)
        outcome = invites.Outcome(item["email"], "pending", "", item["email"])
        choices = invites.Choices(item["role"], item["group_id"], item["staff_id"], item["staff_email"])
        invitees.append(invites.Invitee(item["email"], outcome, choices, item["name"]))
    if invitees:
        uploader = accounts.Viewer.of(Account.get(job.org_id, job.account_id))
        invites.invite_invitees(get_organisation(job.org_id), uploader, invitees, bool(data.get("send_email", True)))
        for invitee in invitees:
            result[invitee.outcome.status] = result.get(invitee.outcome.status, 0) + 1
    next_start = start + sum(len(line) for line in lines)
    try:
        job.update(actions=[Lookup.data["next_row"].set(next_start),
                            Lookup.data["rows_done"].set(int(data["rows_done"]) + len(lines)),
                            Lookup.data["result"].set(result),
                            Lookup.data["status"].set("importing" if more else "done")],
                   condition=(Lookup.data["status"] == "importing") & (Lookup.data["next_row"] == start))
    except UpdateError:
        return None  # another delivery of this chunk finished first
    if more:
        _queue({"job_id": job_id, "start": next_start})
        return next_start
    return None


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
    """One upload-queue message: an S3 notification (dry run) or a chunk to import."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        return
    if not isinstance(message, dict):
        return
    if "job_id" in message:
        import_chunk(str(message["job_id"]), int(message.get("start", 0)))
        return
    for record in message.get("Records") or []:  # the first message is an s3:TestEvent: no Records
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            check_upload(unquote_plus(((record.get("s3") or {}).get("object") or {}).get("key", "")))


def report_url(viewer, job_id: str) -> str:
    """A short-lived link to the error report CSV."""
    job = get_job(viewer, job_id)
    if not _data(job).get("report"):
        raise NotFound("This upload has no error report.")
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": config.bucket(), "Key": report_key(job.org_id, job_id),
                              "ResponseContentDisposition": 'attachment; filename="invite-errors.csv"'},
        ExpiresIn=300)
