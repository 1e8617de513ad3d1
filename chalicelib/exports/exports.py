"""Starting an export, running it in the background, listing and downloading exports.

Delivery. An export the counters say is small (`DIRECT_MAX_ROWS`) is answered
in the request itself. Anything larger is a background job (chalicelib.jobs,
kind "export": lease, attempts, sweeper, Retry, Cancel, progress) writing one
S3 multipart upload, `PART_BYTES` at a time, so memory stays flat whatever the
row count. Each step works for at most STEP_SECONDS from the job's cursor and
returns the new cursor; everything it writes is named by that cursor (run n,
part n), so a step run twice overwrites the same objects and parts, and the
last step's CompleteMultipartUpload, repeated, finds the file already there.
Rows are read into runs (RUN_BYTES, or what STEP_SECONDS allows) stored in S3,
then merged part by part (chalicelib.exports.sorting): the table path sorts
each run by the Clients Table's keys, so the file comes in the table's order;
the index and search paths read in that order already and their runs are laid
end to end. A selection read at once is written as the file's only part.

Why DIRECT_MAX_ROWS = 10,000 (bench/exports.py prints the inputs):
- size: a row is ~170 bytes (measured: UTF-8, ISO dates, ids), so 10,000 rows
  are ~1.7 MB. Lambda's response limit is 6 MB *after* the body is put in a
  JSON envelope, where every non-ASCII character becomes a 6-byte \\uXXXX
  escape: an organisation of long non-Latin names can triple the size. 10,000
  rows keeps typical files at a third of the limit, and DIRECT_MAX_BYTES
  guards the rest: a body larger than 4 MB is stored in S3 (one PUT) and
  answered with its page instead, so no export ever fails on size.
- time: on AWS a Query returns a 1 MB page (~1,000 account items) in tens of
  ms, so 10,000 rows are ~10 pages + formatting (~20 us a row): well under a
  second, far from API Gateway's 29 s even on the index path (2 requests per
  100 rows). The 1.2 s formatting of 10,000 rows measured here is the
  app's own part (bench/exports.py). moto is the slow part (1,500-2,300
  rows/s on this loaded, shared machine, 40-300 before tools/local/emulator.py
  skipped moto's response serializer for reads and answered a Query from its
  partition instead of re-sorting the whole table for every page), which only
  the local runner feels.
Above it the background job costs the person one progress page, which is fine
for a file they wait for anyway.

Files live under `exports/<org_id>/` and expire with the bucket's lifecycle
rule (RETENTION_DAYS, which deploy/resources.py reads); the record says until
when the file is there, and the download answers "expired" after that.
"""
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib import jobs
from chalicelib.activity import timeline
from chalicelib.core import aws, config
from chalicelib.core.errors import Conflict, Forbidden, Gone, NotFound, ValidationError
from chalicelib.core.models import JOB_FINAL, Account, Export, Group, Job, Organisation, utcnow
from chalicelib.exports import csvfile, reader, sorting
from chalicelib.people.accounts import Viewer
from chalicelib.people.organisations import get_organisation
from chalicelib.table import listing
from chalicelib.table.filters import Filters, parse_filters

DIRECT_MAX_ROWS = 10_000
DIRECT_MAX_BYTES = 4 * 1024 * 1024  # above this a direct body is stored in S3 instead (see above)
PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (but the last): fewest requests in constant memory
READ_ROWS = 1000  # rows read between checks of the part's size
# One job step's work (then it commits its cursor): well inside the jobs Lambda's 90 s and the 120 s lease,
# and few steps on AWS (a 1 MB page in tens of ms: a step reads hundreds of MB). In moto a step does less.
STEP_SECONDS = 20
KIND = "export"
RETENTION_DAYS = 30  # the bucket deletes exports/ files after this (deploy/resources.py)
RECORD_DAYS = 90  # the Exports list keeps a record this long after its file is gone
LINK_SECONDS = 300  # presigned download links are short-lived; the page makes a fresh one each click
LIST_LIMIT = 50
STATUSES = ("running", "ready", "downloaded", "failed", "cancelled")
_ID = re.compile(r"^[0-9]{14}[0-9a-f]{12}$")
# The Clients Table's state an export keeps (page size and cursor are not part of "what is selected").
FILTER_KEYS = ("role", "status", "group", "staff", "no_visit", "box", "q", "sort", "dir")


@dataclass
class Download:
    """A direct answer: the file itself."""
    body: bytes
    file_name: str
    export: Export


def new_export_id(when=None) -> str:
    return f"{(when or utcnow()):%Y%m%d%H%M%S}{secrets.token_hex(6)}"


def require_team(viewer: Viewer) -> None:
    if not viewer.is_team:
        raise Forbidden("Only admins and staff can export clients.")


def time_zone(org: Organisation) -> str:
    return org.time_zone or csvfile.DEFAULT_ZONE


def org_time_zone(org_id: str) -> str:
    return time_zone(get_organisation(org_id))


def set_time_zone(viewer: Viewer, raw: str) -> str:
    """Admins choose the zone export dates are shown in (an IANA name)."""
    if not viewer.is_admin:
        raise Forbidden("Only admins can change the organisation's time zone.")
    zone = csvfile.check_zone(raw)
    org = get_organisation(viewer.org_id)
    org.update(actions=[Organisation.time_zone.set(zone)])
    timeline.audit(viewer.org_id, "time_zone_changed", viewer, time_zone=zone)
    return zone


def filter_params(filters: Filters) -> dict:
    """What an export stores of the filters: their query parameters, without page size or cursor."""
    return {k: str(v) for k, v in filters.params().items() if k in FILTER_KEYS}


def params_from(raw) -> dict:
    """The filter parameters in a form or JSON body (anything else there is not a filter)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError("filters must be an object of Clients Table parameters.", field="filters",
                              code="invalid_filter")
    return {k: str(v) for k, v in raw.items() if k in FILTER_KEYS and isinstance(v, (str, int))}


def describe(org_id: str, filters: Filters, group_names: Optional[dict] = None) -> str:
    """The filters in words, for the Exports list and the audit log."""
    group_names = group_names if group_names is not None else _group_names(org_id)
    parts = []
    if filters.q:
        parts.append(f"Search “{filters.q}”")
    if filters.role:
        parts.append(f"Role: {csvfile.ROLE_LABELS[filters.role]}")
    if filters.status:
        parts.append(f"Status: {csvfile.STATUS_LABELS[filters.status]}")
    if filters.group:
        parts.append("No group" if filters.group == "-" else f"Group: {group_names.get(filters.group, 'unknown')}")
    if filters.staff:
        parts.append("Unassigned" if filters.staff == "-" else f"Staff: {_staff_email(org_id, filters.staff)}")
    if filters.no_visit:
        parts.append(f"No visit in {filters.no_visit} days")
    if filters.box:
        parts.append({"new": "New clients", "engaged": "Engaged clients"}[filters.box])
    return " · ".join(parts) or "All clients"


def _staff_email(org_id: str, account_id: str) -> str:
    try:
        return Account.get(org_id, account_id, attributes_to_get=["email"]).email
    except DoesNotExist:
        return "unknown"


def _group_names(org_id: str) -> dict:
    return {g.group_id: g.name for g in Group.query(org_id) if not g.deleting}  # a deleted group: no name


def _owner_filters(export: Export) -> Filters:
    """The stored filters, parsed again (they were valid when stored; staff keep their own caseload)."""
    params = dict(export.filters or {})
    return parse_filters(params, Viewer(export.org_id, export.owner_id, "admin", "", ""))


# --------------------------------------------------------------------------- starting

def start(viewer: Viewer, params: dict, kind: str = "manual", schedule_id: Optional[str] = None,
          export_id: Optional[str] = None, direct: bool = True):
    """Export what these Clients Table parameters select: a `Download` when small
    (and `direct`), else an `Export` record whose file a background job writes."""
    require_team(viewer)
    filters = parse_filters(params, viewer)
    org = get_organisation(viewer.org_id)
    zone = time_zone(org)
    group_names = _group_names(viewer.org_id)
    expected = listing.stats(viewer, filters).boxes.total
    now = utcnow()
    export = Export(org_id=viewer.org_id, export_id=export_id or new_export_id(now), owner_id=viewer.account_id,
                    owner_name=viewer.name or viewer.email, kind=kind, schedule_id=schedule_id,
                    filters=filter_params(filters), summary=describe(viewer.org_id, filters, group_names),
                    time_zone=zone, expected_rows=expected, created_at=now,
                    expires_at=now + timedelta(days=RETENTION_DAYS + RECORD_DAYS))
    if direct and kind == "manual" and expected <= DIRECT_MAX_ROWS:
        return _direct(export, filters, group_names)
    export.object_key = f"exports/{viewer.org_id}/{export.export_id}.csv"
    export.job_id = job_id_of(export)
    try:  # a scheduled run names its export: a second firing of the same run finds it
        export.save(condition=Export.export_id.does_not_exist())
    except PutError:
        export = Export.get(viewer.org_id, export.export_id)
    try:  # ... and its job (named after the export), started once even if the first firing died in between
        jobs.start(viewer, KIND, total=int(export.expected_rows or 0), params={"export_id": export.export_id},
                   phase="reading", job_id=export.job_id)
    except PutError:
        pass
    return export


def job_id_of(export: Export) -> str:
    return hashlib.sha256(f"export#{export.org_id}#{export.export_id}".encode()).hexdigest()[:32]


def _direct(export: Export, filters: Filters, group_names: dict) -> Download:
    writer = csvfile.Writer(export.time_zone)
    position = reader.start(export.org_id, filters)
    keys, records = [], []
    while position:
        batch = reader.read(export.org_id, filters, position, READ_ROWS)
        if batch.keys is None:
            writer.write(batch.rows, group_names)
        else:  # account-id order: sorted into the table's order (at most DIRECT_MAX_ROWS rows)
            keys.extend(batch.keys)
            records.extend(csvfile.record(row, group_names, export.time_zone) for row in batch.rows)
        position = batch.position
    if records:
        writer.add(sorting.in_order(keys, records, filters.direction == "desc"))
    body = writer.take()
    export.rows, export.bytes, export.finished_at = writer.rows, len(body), utcnow()
    if len(body) > DIRECT_MAX_BYTES:  # too big for one response after all: stored, and answered with its page
        export.object_key = f"exports/{export.org_id}/{export.export_id}.csv"
        aws.client("s3").put_object(Bucket=config.bucket(), Key=export.object_key, Body=body,
                                    ContentType="text/csv; charset=utf-8")
        export.status, export.file_until = "ready", export.finished_at + timedelta(days=RETENTION_DAYS)
        export.save()
        _audit(export)
        return export
    export.status = "downloaded"
    export.save()
    _audit(export)
    return Download(body, csvfile.file_name(export.created_at, export.time_zone), export)


def _audit(export: Export) -> None:
    actor = Viewer(export.org_id, export.owner_id, "", export.owner_name, "")
    timeline.audit(export.org_id, "export", actor, export_id=export.export_id, delivery=export.kind,
                   filters=export.summary, rows=export.rows, bytes=export.bytes, schedule_id=export.schedule_id)


# --------------------------------------------------------------------------- the background job

class _File:
    """One step's view of the export being written: the multipart upload, and the cursor (the job's)
    that says how far it is. Every write is named by the cursor, so a step run twice writes the same."""

    def __init__(self, export: Export, cursor: dict):
        self.export, self.cursor = export, cursor
        self.s3, self.bucket = aws.client("s3"), config.bucket()
        self.filters = _owner_filters(export)
        self.group_names = _group_names(export.org_id)
        # Only the table path sorts by the table's keys; the others count rows (always ascending).
        self.descending = cursor["path"] == "table" and self.filters.direction == "desc"

    def upload_part(self, writer: csvfile.Writer) -> None:
        """Part n+1 of the file, from what the writer holds (n parts are already stored)."""
        data = writer.take()
        etags = self.cursor["etags"]
        part = self.s3.upload_part(Bucket=self.bucket, Key=self.export.object_key, UploadId=self.cursor["upload"],
                                   PartNumber=len(etags) + 1, Body=bytes(data))
        self.cursor["etags"] = [*etags, part["ETag"]]
        self.cursor["rows"] += writer.rows
        self.cursor["bytes"] += len(data)

    def writer(self) -> csvfile.Writer:
        return csvfile.Writer(self.export.time_zone, with_header=not self.cursor["etags"])

    def run_key(self, number: int) -> str:
        return f"{self.export.object_key}.runs/{number}"


def _first_cursor(export: Export) -> dict:
    position = reader.start(export.org_id, _owner_filters(export))
    upload = aws.client("s3").create_multipart_upload(Bucket=config.bucket(), Key=export.object_key,
                                                      ContentType="text/csv; charset=utf-8")["UploadId"]
    # (A step that dies before committing leaves this upload unused: the bucket aborts it within 2 days.)
    return {"path": position["path"], "read": position, "upload": upload, "etags": [], "rows": 0, "bytes": 0,
            "read_rows": 0, "runs": [], "offsets": None}


@jobs.step(KIND)
def run_job(job: Job) -> jobs.Step:
    """One step of a background export: as much as STEP_SECONDS allows, from the job's cursor."""
    try:
        export = Export.get(job.org_id, job.params["export_id"])
    except DoesNotExist:
        return jobs.Step(failed="This export's record is gone.")
    if export.status != "running":  # finished by an earlier run of this step whose commit was lost
        return jobs.Step(finished=True)
    deadline = time.monotonic() + STEP_SECONDS
    cursor = dict(job.cursor) if job.cursor else _first_cursor(export)
    file = _File(export, cursor)
    while True:  # one unit at least (a run, a part), then more while time is left
        if cursor["read"] is not None:
            _read_some(file, deadline)
        elif cursor["offsets"] is not None:
            _merge_part(file)
        else:
            _finish(file)
            return jobs.Step(cursor=cursor, done=cursor["rows"], phase="done", finished=True)
        if time.monotonic() >= deadline:
            break
    writing = cursor["offsets"] is not None  # reading counts rows read, writing rows written
    return jobs.Step(cursor=cursor, done=cursor["rows"] if writing else cursor["read_rows"],
                     phase="writing" if writing else "reading")


def _read_some(file: _File, deadline: float) -> None:
    """Read on from the cursor until RUN_BYTES are held or the step's time is up: all of it at once is
    one part; otherwise a sorted run (the table path's sort keys; the index and search paths read in
    order already, so their keys just count rows and the merge lays the runs end to end)."""
    cursor, export = file.cursor, file.export
    position = cursor["read"]
    keys, records, held = [], [], 0
    while position is not None and held < sorting.RUN_BYTES:
        batch = reader.read(export.org_id, file.filters, position, READ_ROWS)
        first = cursor["read_rows"] + len(records)
        for number, row in enumerate(batch.rows):
            records.append(csvfile.record(row, file.group_names, export.time_zone))
            keys.append(batch.keys[number] if batch.keys is not None else f"{first + number:012d}")
            held += len(records[-1]) + len(keys[-1])
        position = batch.position
        if time.monotonic() >= deadline:
            break  # a shorter run: a step never holds its lease much past STEP_SECONDS
    cursor["read"], cursor["read_rows"] = position, cursor["read_rows"] + len(records)
    if position is None and not cursor["runs"]:  # all of it held at once: in order here, no runs
        writer = file.writer()
        writer.add(sorting.in_order(keys, records, file.descending))
        file.upload_part(writer)  # at most RUN_BYTES: one part (S3 allows up to 5 GiB)
        return
    number = len(cursor["runs"])
    size = sorting.put_run(file.s3, file.bucket, file.run_key(number), keys, records, file.descending)
    cursor["runs"] = [*cursor["runs"], size]
    if position is None:
        cursor["offsets"] = [0] * len(cursor["runs"])


def _merge_part(file: _File) -> None:
    """The next part of the file from the sorted runs (merged from their offsets)."""
    cursor = file.cursor
    offsets = list(cursor["offsets"])
    keys = [file.run_key(n) for n in range(len(cursor["runs"]))]
    writer, records = file.writer(), []
    for number, after, record in sorting.merged(file.s3, file.bucket, keys, cursor["runs"], offsets,
                                                file.descending):
        records.append(record)
        offsets[number] = after
        if len(records) == READ_ROWS:
            writer.add(records)
            records = []
            if writer.pending() >= PART_BYTES:
                break
    writer.add(records)
    file.upload_part(writer)
    done = all(offset >= size for offset, size in zip(offsets, cursor["runs"]))
    cursor["offsets"] = None if done else offsets


def _finish(file: _File) -> None:
    """Complete the upload, drop the runs, mark the export ready, audit it (once), mail a schedule's admins."""
    s3, bucket, cursor, export = file.s3, file.bucket, file.cursor, file.export
    try:
        s3.complete_multipart_upload(Bucket=bucket, Key=export.object_key, UploadId=cursor["upload"],
                                     MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": number}
                                                                for number, etag in enumerate(cursor["etags"], 1)]})
    except ClientError as error:
        # Completed by an earlier run of this step that died before committing: the file is there.
        if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        s3.head_object(Bucket=bucket, Key=export.object_key)
    if cursor["runs"]:
        s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
            {"Key": file.run_key(n)} for n in range(len(cursor["runs"]))]})
    now = utcnow()
    try:
        export.update(actions=[Export.status.set("ready"), Export.rows.set(cursor["rows"]),
                               Export.bytes.set(cursor["bytes"]), Export.finished_at.set(now),
                               Export.file_until.set(now + timedelta(days=RETENTION_DAYS))],
                      condition=Export.status == "running")
    except UpdateError:
        return  # an earlier run of this step got here first (and audited)
    _audit(export)
    if export.schedule_id:
        from chalicelib.exports import schedules  # schedules starts exports: imported late, one way

        schedules.finished(export)


def _job_of(export: Export) -> Optional[Job]:
    if not export.job_id:
        return None
    try:
        return Job.get(export.job_id, consistent_read=True)
    except DoesNotExist:
        return None


def _as_job_says(export: Export, job: Optional[Job]) -> Export:
    """A running export as its job says (in memory only): rows so far, or cancelled / failed."""
    if export.status != "running" or job is None:
        return export
    if job.status == "cancelled":
        export.status, export.error = "cancelled", "Cancelled before the file was finished."
    elif job.status == "failed":
        export.status, export.error = "failed", job.error
    else:
        export.rows = int(job.done)  # rows read, then rows written (the job's phase says which)
    return export


def progress(viewer: Viewer, export_id: str) -> tuple:
    """(export, its job's view or None) for the export's page."""
    export = _fetch(viewer, export_id)
    job = _job_of(export) if export.status == "running" else None
    return _as_job_says(export, job), (jobs.view(job) if job else None)


def cancel(viewer: Viewer, export_id: str) -> Export:
    export = _fetch(viewer, export_id)
    job = _job_of(export)
    if job is None or export.status != "running":
        raise Conflict("This export has already finished.", code="job_final")
    jobs.cancel_job(job)
    return export


def retry(viewer: Viewer, export_id: str) -> Export:
    export = get_export(viewer, export_id)
    if export.job_id is None:
        raise Conflict("Only a background export that stopped on errors can be retried.", code="not_retryable")
    jobs.retry(viewer, export.job_id)
    return export


# --------------------------------------------------------------------------- reading

def get_export(viewer: Viewer, export_id: str) -> Export:
    """An export of the viewer's organisation (staff: their own), as its job says while running;
    anything else does not exist."""
    export = _fetch(viewer, export_id)
    return _as_job_says(export, _job_of(export)) if export.status == "running" else export


def _fetch(viewer: Viewer, export_id: str) -> Export:
    require_team(viewer)
    if not isinstance(export_id, str) or not _ID.match(export_id):
        raise NotFound("No such export.")
    try:
        export = Export.get(viewer.org_id, export_id)
    except DoesNotExist:
        raise NotFound("No such export.") from None
    if not viewer.is_admin and export.owner_id != viewer.account_id:
        raise NotFound("No such export.")
    return export


def recent(viewer: Viewer, limit: int = LIST_LIMIT) -> list:
    """The organisation's exports, newest first (staff: their own)."""
    require_team(viewer)
    condition = None if viewer.is_admin else (Export.owner_id == viewer.account_id)
    found = list(Export.query(viewer.org_id, scan_index_forward=False, filter_condition=condition, limit=limit,
                              page_size=limit))
    running = [e.job_id for e in found if e.status == "running" and e.job_id]
    job_of = {job.job_id: job for job in Job.batch_get(running)} if running else {}
    return [_as_job_says(e, job_of.get(e.job_id)) for e in found]


def file_available(export: Export, now=None) -> bool:
    return export.status == "ready" and export.file_until is not None and export.file_until > (now or utcnow())


def download_url(viewer: Viewer, export_id: str) -> str:
    """A short-lived presigned GET of the file, saved as a dated attachment."""
    export = get_export(viewer, export_id)
    if export.status == "downloaded":
        raise NotFound("This export was downloaded when it was made; it has no stored file. Export again.",
                       code="no_file")
    if export.status != "ready":
        raise ValidationError("This export is not ready yet.", code="not_ready")
    if not file_available(export):
        raise Gone(f"This export's file has expired (files are kept {RETENTION_DAYS} days). Export again.",
                   code="expired")
    name = csvfile.file_name(export.created_at, export.time_zone)
    return aws.client("s3").generate_presigned_url("get_object", Params={
        "Bucket": config.bucket(), "Key": export.object_key, "ResponseContentType": "text/csv; charset=utf-8",
        "ResponseContentDisposition": f'attachment; filename="{name}"'}, ExpiresIn=LINK_SECONDS)


def as_dict(export: Export) -> dict:
    return {"export_id": export.export_id, "status": export.status, "job_id": export.job_id, "kind": export.kind,
            "owner_id": export.owner_id, "owner_name": export.owner_name, "filters": dict(_owner_params(export)),
            "summary": export.summary, "rows": export.rows, "expected_rows": export.expected_rows,
            "bytes": export.bytes, "time_zone": export.time_zone, "created_at": export.created_at.isoformat(),
            "finished_at": export.finished_at.isoformat() if export.finished_at else None,
            "file_until": export.file_until.isoformat() if export.file_until else None,
            "file_available": file_available(export), "error": export.error, "schedule_id": export.schedule_id}


def _owner_params(export: Export) -> dict:
    return dict(export.filters or {})
