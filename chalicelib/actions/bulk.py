"""Many accounts at once: Assign staff/group, Archive or Restore on a selection,
and Transfer caseload (every client of one staff member to another).

`apply_chunk` is the step a background job runs (safe to run twice: an account
already in the wanted state is skipped, a stale one fails alone). Each step
reads its accounts with BatchGetItem (100 keys) and writes each change, its
timeline event and nothing else in TransactWriteItems of 100 items (50
accounts); one audit-log entry is written per step.
"""
from typing import Dict, Iterator, List, Optional, Sequence

from chalicelib.actions import rows
from chalicelib.activity import timeline
from chalicelib.core.errors import CaseloadError, Forbidden, ValidationError
from chalicelib.core.models import Account
from chalicelib.people import accounts, sessions
from chalicelib.people.accounts import Viewer

ACTIONS = ("assign", "archive", "restore")
MAX_INLINE = 1000  # selected rows handled within the request
# "Select all N matching": handled within the request up to this many, a chunk at a time
# (a background job with progress for larger selections waits for the jobs machinery).
MAX_MATCHING = 5000


def _plan(viewer: Viewer, action: str, account: Account, params: dict) -> dict:
    """The fields one account gets, or {} when it is already so. Raises the row's own refusal."""
    if action == "archive":
        if account.archived:
            return {}
        rows.check_archivable(viewer, account)
        if account.role == "admin":
            raise Forbidden("Archive admins one at a time, from their row.", code="bulk_admin")
        return rows.archive_fields(account)
    if action == "restore":
        return rows.restore_fields(account) if account.archived else {}
    fields = {}
    if "group_id" in params and params["group_id"] != account.group_id:
        fields["group_id"] = params["group_id"]
    if "staff" in params and account.role == "client":
        staff = params["staff"]
        if (staff.account_id if staff else None) != account.staff_id:
            fields.update(staff_id=staff.account_id if staff else None, staff_email=staff.email if staff else None)
    return fields


def check_params(viewer: Viewer, action: str, params: dict) -> dict:
    """Validate what applies to every selected row once: the action, the chosen staff member and group."""
    rows._require_team(viewer)
    if action not in ACTIONS:
        raise ValidationError("Choose Assign staff/group, Archive or Restore.", "action")
    if action != "assign":
        return {}
    clean = {}
    staff_id = params.get("staff_id", rows.KEEP)
    group_id = params.get("group_id", rows.KEEP)
    if staff_id is not rows.KEEP:
        staff_id = rows._clean_id(staff_id, "staff_id")
        if not viewer.is_admin:
            raise Forbidden("Staff can move their own clients only between groups.", "staff_id",
                            code="staff_reassign")
    if group_id is not rows.KEEP:
        group_id = rows._clean_id(group_id, "group_id")
    staff, group = rows._choices(viewer.org_id, staff_id if staff_id is not rows.KEEP else None,
                                 group_id if group_id is not rows.KEEP else None)
    if staff_id is not rows.KEEP:
        if staff_id and (staff is None or staff.role not in ("staff", "admin") or staff.archived):
            raise ValidationError(rows.STAFF_REFUSED, "staff_id", code="invalid_staff")
        clean["staff"] = staff
    if group_id is not rows.KEEP:
        if group_id and group is None:
            raise ValidationError(rows.GROUP_REFUSED, "group_id", code="invalid_group")
        clean["group_id"] = group_id
    if not clean:
        raise ValidationError("Choose a staff member or a group.", "staff_id")
    return clean


def apply_chunk(viewer: Viewer, action: str, account_ids: Sequence[str], params: dict,
                kind: Optional[str] = None) -> Dict[str, dict]:
    """Apply one action to up to a few thousand accounts (one job step).
    `params` comes from `check_params`. Returns {account_id: {status, message}}
    with status changed | unchanged | not_found | refused | conflict."""
    results: Dict[str, dict] = {}
    ids = list(dict.fromkeys(account_ids))
    found = {a.account_id: a for a in Account.batch_get([(viewer.org_id, i) for i in ids])} if ids else {}
    planned = []
    for account_id in ids:
        account = found.get(account_id)
        if account is None or not accounts.can_see(viewer, account) or (
                account.role == "admin" and not viewer.is_admin):
            results[account_id] = {"status": "not_found", "message": "No such account."}
            continue
        try:
            fields = _plan(viewer, action, account, params)
        except CaseloadError as error:
            results[account_id] = {"status": "refused", "message": error.message}
            continue
        if not fields:
            results[account_id] = {"status": "unchanged", "message": "Nothing to change."}
            continue
        planned.append((account, fields))
    event_kind = kind or {"assign": "assigned", "archive": "archived", "restore": "restored"}[action]
    done, failed = accounts.change_many(
        planned, also_save=lambda account: [timeline.new_activity(account.org_id, account.account_id, event_kind,
                                                                  viewer, bulk="yes")])
    for account in done:
        results[account.account_id] = {"status": "changed", "message": "Done."}
        if action == "archive":
            sessions.end_all(account, "archived")
    for account, error in failed:
        results[account.account_id] = {"status": "conflict", "message": getattr(error, "message", str(error))}
    changed = len(done)
    if changed:
        timeline.audit(viewer.org_id, f"bulk_{event_kind}", viewer, count=changed)
    return {i: results[i] for i in ids}


def matching_ids(viewer: Viewer, params: dict) -> List[str]:
    """Every account the Clients Table shows for these query parameters (all pages),
    refusing more than `MAX_MATCHING`."""
    from dataclasses import replace

    from chalicelib.table.filters import PAGE_SIZES, parse_filters
    from chalicelib.table.listing import list_page

    filters = replace(parse_filters(params, viewer), size=PAGE_SIZES[-1])
    ids: List[str] = []
    cursor = ""
    while True:
        page = list_page(viewer, filters, cursor)
        ids.extend(row.account_id for row in page.rows)
        if len(ids) > MAX_MATCHING:
            raise ValidationError(f"More than {MAX_MATCHING:,} people match: narrow the filters, or act on "
                                  "fewer at a time.", "scope", code="too_many")
        if not page.next_cursor:
            return ids
        cursor = page.next_cursor


def apply_all(viewer: Viewer, action: str, account_ids: Sequence[str], params: dict,
              chunk: int = 2000) -> Dict[str, int]:
    """`apply_chunk` over a large selection, a chunk at a time; returns the counts by outcome."""
    counts: Dict[str, int] = {}
    for start in range(0, len(account_ids), chunk):
        for status, n in summary(apply_chunk(viewer, action, account_ids[start:start + chunk], params)).items():
            counts[status] = counts.get(status, 0) + n
    return counts


def summary(results: Dict[str, dict]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for result in results.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


# --- Transfer caseload -----------------------------------------------------------------------------------------

def caseload_ids(org_id: str, staff_id: str) -> Iterator[str]:
    """Every client (live, then archived) whose staff member this is, from the staff index."""
    for live in ("L", "A"):
        for item in Account.staff_name.query(f"{org_id}#{staff_id}#{live}",
                                             filter_condition=Account.role == "client"):
            yield item.account_id


def transfer_targets(viewer: Viewer, from_id: str, to_id: str):
    """Check a transfer: admins only; from a staff member of this organisation to
    another live Staff or Admin member. Returns (from account, to account)."""
    if not viewer.is_admin:
        raise Forbidden("Only admins transfer caseloads.")
    source = rows.target(viewer, from_id)
    if source.role not in ("staff", "admin"):
        raise ValidationError("Only a staff member has a caseload to transfer.", "from_id")
    to_id = rows._clean_id(to_id, "to_id")
    if not to_id:
        raise ValidationError("Choose who takes over the caseload.", "to_id")
    if to_id == source.account_id:
        raise ValidationError("Choose someone else to take over the caseload.", "to_id")
    staff, _group = rows._choices(viewer.org_id, to_id, None)
    if staff is None or staff.role not in ("staff", "admin") or staff.archived:
        raise ValidationError(rows.STAFF_REFUSED, "to_id", code="invalid_staff")
    return source, staff


def transfer(viewer: Viewer, from_id: str, to_id: str, chunk: int = 2000) -> Dict[str, int]:
    """Move every client of `from_id` to `to_id`, a chunk of ids at a time.
    Returns the counts by outcome ({"changed": n, ...})."""
    source, staff = transfer_targets(viewer, from_id, to_id)
    counts: Dict[str, int] = {}
    batch: List[str] = []

    def flush():
        for status, n in summary(apply_chunk(viewer, "assign", batch, {"staff": staff},
                                             kind="transferred")).items():
            counts[status] = counts.get(status, 0) + n
        batch.clear()

    for account_id in caseload_ids(viewer.org_id, source.account_id):
        batch.append(account_id)
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    timeline.audit(viewer.org_id, "caseload_transferred", viewer, target_id=source.account_id,
                   target=source.name or source.email, to=staff.email, count=counts.get("changed", 0))
    return counts
