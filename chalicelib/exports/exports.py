"""Starting an export, running it in the background, listing and downloading exports.

Delivery. An export the counters say is small (`DIRECT_MAX_ROWS`) is answered
in the request itself. Anything larger is written to S3 by a background job:
one S3 multipart upload, one part per step (`run_step`), each step reading
rows from the stored position until it holds `PART_BYTES`, so memory stays
flat whatever the row count. A step is safe to run twice: it re-reads from
the stored position and re-uploads the same part number, and its record is
saved with a version condition (a step that lost the race stops).

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
  100 rows). moto is the slow part (56 rows/s measured on this loaded,
  shared machine: it serves each item slowly), which only the local runner feels.
Above it the background job costs the person one progress page, which is fine
for a file they wait for anyway.

Files live under `exports/<org_id>/` and expire with the bucket's lifecycle
rule (RETENTION_DAYS, which deploy/resources.py reads); the record says until
when the file is there, and the download answers "expired" after that.
"""
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.activity import timeline
from chalicelib.core import aws, config
from chalicelib.core.errors import Forbidden, Gone, NotFound, ValidationError
from chalicelib.core.models import Account, Export, Group, Organisation, utcnow
from chalicelib.exports import csvfile, reader
from chalicelib.people.accounts import Viewer
from chalicelib.people.organisations import get_organisation
from chalicelib.table import listing
from chalicelib.table.filters import Filters, parse_filters

DIRECT_MAX_ROWS = 10_000
DIRECT_MAX_BYTES = 4 * 1024 * 1024  # above this a direct body is stored in S3 instead (see above)
PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (but the last): fewest requests in constant memory
READ_ROWS = 1000  # rows read between checks of the part's size
RETENTION_DAYS = 30  # the bucket deletes exports/ files after this (deploy/resources.py)
RECORD_DAYS = 90  # the Exports list keeps a record this long after its file is gone
LINK_SECONDS = 300  # presigned download links are short-lived; the page makes a fresh one each click
LIST_LIMIT = 50
STATUSES = ("running", "ready", "downloaded", "failed")
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
    params = export.filters.as_dict() if hasattr(export.filters, "as_dict") else dict(export.filters or {})
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
    export.position = reader.dumps(reader.start(viewer.org_id, filters))
    export.object_key = f"exports/{viewer.org_id}/{export.export_id}.csv"
    if export_id:  # a scheduled run names its export: a second firing of the same run does nothing
        try:
            export.save(condition=Export.export_id.does_not_exist())
        except PutError:
            return Export.get(viewer.org_id, export_id)
    else:
        export.save()
    queue_step(export)
    return export


def _direct(export: Export, filters: Filters, group_names: dict) -> Download:
    writer = csvfile.Writer(export.time_zone)
    position = reader.start(export.org_id, filters)
    while position:
        batch = reader.read(export.org_id, filters, position, READ_ROWS)
        writer.write(batch.rows, group_names)
        position = batch.position
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

def queue_step(export: Export) -> None:
    """The next step of a background export, through the work queue.
    (Until the jobs queue exists, the upload queue carries it: `handle_queue_message`.)"""
    aws.client("sqs").send_message(QueueUrl=config.upload_queue_url(), MessageBody=json.dumps(
        {"export_id": export.export_id, "org_id": export.org_id}))


def handle_queue_message(body: str) -> bool:
    """Run the step a queue message names; False when the message is not an export's."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        return False
    if not isinstance(message, dict) or "export_id" not in message:
        return False
    if run_step(str(message.get("org_id", "")), str(message["export_id"])):
        queue_step(Export(org_id=str(message["org_id"]), export_id=str(message["export_id"])))
    return True


def run_step(org_id: str, export_id: str) -> bool:
    """Write the next part of an export's file; True while there is more to do.
    Saved before the next step is queued: a crash in between leaves the message
    to SQS, whose redelivery carries on from the saved state."""
    try:
        export = Export.get(org_id, export_id)
    except DoesNotExist:
        return False
    if export.status != "running":
        return False
    try:
        return _step(export)
    except (PutError, UpdateError) as error:
        if _lost_race(error):
            return False  # another delivery of this step saved first and queued the next one
        raise
    except Exception as error:  # noqa: BLE001  (recorded for the person waiting, then re-raised for SQS)
        _fail(export, error)
        raise


def _lost_race(error) -> bool:
    return "ConditionalCheckFailed" in str(getattr(error, "cause", "") or error)


def _step(export: Export) -> bool:
    s3, bucket = aws.client("s3"), config.bucket()
    if not export.upload_id:
        export.upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=export.object_key, ContentType="text/csv; charset=utf-8")["UploadId"]
        export.save()
    position = reader.loads(export.position)
    if position is not None:
        filters = _owner_filters(export)
        writer = csvfile.Writer(export.time_zone, with_header=not export.etags)
        group_names = _group_names(export.org_id)
        while position is not None and writer.pending() < PART_BYTES:
            batch = reader.read(export.org_id, filters, position, READ_ROWS)
            writer.write(batch.rows, group_names)
            position = batch.position
        data = writer.take()
        if data or not export.etags:  # the last page may hold nothing more to write
            part = s3.upload_part(Bucket=bucket, Key=export.object_key, UploadId=export.upload_id,
                                  PartNumber=len(export.etags) + 1, Body=data)
            export.etags = [*export.etags, part["ETag"]]
        export.rows += writer.rows
        export.bytes += len(data)
        export.position = reader.dumps(position)
        export.save()
        if position is not None:
            return True
    _complete(s3, bucket, export)
    return False


def _complete(s3, bucket: str, export: Export) -> None:
    try:
        s3.complete_multipart_upload(Bucket=bucket, Key=export.object_key, UploadId=export.upload_id,
                                     MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": number}
                                                                for number, etag in enumerate(export.etags, 1)]})
    except ClientError as error:
        # Completed by an earlier delivery that crashed before saving: the file is there.
        if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        s3.head_object(Bucket=bucket, Key=export.object_key)
    now = utcnow()
    export.status, export.finished_at, export.file_until = "ready", now, now + timedelta(days=RETENTION_DAYS)
    export.save()
    _audit(export)
    if export.schedule_id:
        from chalicelib.exports import schedules  # schedules starts exports: imported late, one way

        schedules.finished(export)


def _fail(export: Export, error: Exception) -> None:
    try:
        fresh = Export.get(export.org_id, export.export_id)
        fresh.status, fresh.error = "failed", "The export stopped on an error. Start it again."
        fresh.save()
    except Exception:  # noqa: BLE001  (the original error matters more)
        pass


# --------------------------------------------------------------------------- reading

def get_export(viewer: Viewer, export_id: str) -> Export:
    """An export of the viewer's organisation (staff: their own); anything else does not exist."""
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
    return list(Export.query(viewer.org_id, scan_index_forward=False, filter_condition=condition, limit=limit,
                             page_size=limit))


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
    return {"export_id": export.export_id, "status": export.status, "kind": export.kind,
            "owner_id": export.owner_id, "owner_name": export.owner_name, "filters": dict(_owner_params(export)),
            "summary": export.summary, "rows": export.rows, "expected_rows": export.expected_rows,
            "bytes": export.bytes, "time_zone": export.time_zone, "created_at": export.created_at.isoformat(),
            "finished_at": export.finished_at.isoformat() if export.finished_at else None,
            "file_until": export.file_until.isoformat() if export.file_until else None,
            "file_available": file_available(export), "error": export.error, "schedule_id": export.schedule_id}


def _owner_params(export: Export) -> dict:
    return export.filters.as_dict() if hasattr(export.filters, "as_dict") else dict(export.filters or {})
