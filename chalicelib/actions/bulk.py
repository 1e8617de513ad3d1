"""Many accounts at once: Assign staff/group, Archive or Restore on a selection,
and Transfer caseload (every client of one staff member to another).

A small selection (`INLINE` people or fewer) is changed within the request. A
larger one, "all N matching" the filters whatever N, and a large caseload run
as background jobs on `chalicelib.jobs` (lease, attempts, sweeper, Cancel,
Retry), whose page shows the progress and then the summary:

- `bulk_action`: "all matching" is first collected (`collecting`: the ids the
  filters select, read from the table's listing index a thousand keys a Query,
  written to S3 in parts of `PART` ids), so the job acts on exactly the rows
  the person chose, however the changes move rows in the listing; then each
  step applies the action to one part (`applying`). Selected ids ride in the
  job's parameters.
- `caseload`: Transfer caseload, and refreshing the clients' copy of a staff
  member's email after it changed; each step reads a page of the staff
  member's index partition (live, then archived) and changes those clients.

`apply_chunk` is what every step and the request run (safe to run twice: an
account already in the wanted state is skipped, a stale one fails alone).
It reads its accounts with BatchGetItem (100 keys) and writes each change and
its timeline event in TransactWriteItems of 100 items (50 accounts). A job
writes one audit-log entry when it ends, the request one per action.
"""
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from pynamodb.exceptions import DoesNotExist

from chalicelib import jobs
from chalicelib.actions import rows
from chalicelib.activity import timeline
from chalicelib.core import aws, config
from chalicelib.core.errors import CaseloadError, Forbidden, ValidationError
from chalicelib.core.models import CASELOAD_ROLES, Account, Job
from chalicelib.people import accounts, sessions
from chalicelib.people.accounts import Viewer

ACTIONS = ("assign", "archive", "restore")
ACTION_LABELS = {"assign": "Assign staff/group", "archive": "Archive", "restore": "Restore"}
EVENTS = {"assign": "assigned", "archive": "archived", "restore": "restored"}
OUTCOMES = ("changed", "unchanged", "refused", "not_found", "conflict")
MAX_INLINE = 1000  # ids one request may name (the form's ticked rows, the API's list)
INLINE = 100  # people changed within the request (a page of the table); more run as a background job
MAX_REASONS = 10  # distinct reasons a job's summary keeps for refusals (a handful of rules make them)
PART = 2000  # ids a job step collects or changes (well inside a minute, even in moto)
KEYS_PER_QUERY = 1000  # ids one listing Query returns
BULK_KIND = "bulk_action"
CASELOAD_KIND = "caseload"


@dataclass
class Outcome:
    """What a bulk action or transfer did: `counts` by outcome (and, for a bulk action,
    each person's `results`) when done within the request, or the background `job` doing it."""
    counts: Optional[Dict[str, int]] = None
    job: Optional[Job] = None
    results: Optional[Dict[str, dict]] = None

    @property
    def changed(self) -> int:
        return (self.counts or {}).get("changed", 0)


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
        staff_id, staff_email = (staff.account_id, staff.email) if staff else (None, None)
        if (staff_id, staff_email) != (account.staff_id, account.staff_email):  # also a changed email's copy
            fields.update(staff_id=staff_id, staff_email=staff_email)
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
    staff, group, _left = rows._choices(viewer.org_id, staff_id if staff_id is not rows.KEEP else None,
                                        group_id if group_id is not rows.KEEP else None)
    if staff_id is not rows.KEEP:
        if staff_id and (staff is None or staff.role not in CASELOAD_ROLES or staff.archived):
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
                kind: Optional[str] = None, audit: bool = True, record: bool = True) -> Dict[str, dict]:
    """Apply one action to up to a few thousand accounts (one job step).
    `params` comes from `check_params`. Returns {account_id: {status, message}}
    with status changed | unchanged | not_found | refused | conflict.
    `audit`: one audit-log entry for what changed (a job writes its own at the end);
    `record`: a timeline event per account (not for refreshing a copied email)."""
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
    event_kind = kind or EVENTS[action]

    def events(account: Account) -> list:
        return [timeline.new_activity(account.org_id, account.account_id, event_kind, viewer, bulk="yes")]

    done, failed = accounts.change_many(planned, also_save=events if record else None)
    for account in done:
        results[account.account_id] = {"status": "changed", "message": "Done."}
        if action == "archive":
            sessions.end_all(account, "archived")
    for account, error in failed:
        results[account.account_id] = {"status": "conflict", "message": getattr(error, "message", str(error))}
    if audit and done:
        timeline.audit(viewer.org_id, f"bulk_{event_kind}", viewer, count=len(done))
    return {i: results[i] for i in ids}


def summary(results: Dict[str, dict]) -> Dict[str, int]:
    return dict(Counter(result["status"] for result in results.values()))


def why_not(results: Dict[str, dict], reasons: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """How many were refused or in conflict for each reason, added to `reasons` (at most
    MAX_REASONS reasons: one past them is counted by `summary` but not listed)."""
    reasons = dict(reasons or {})
    for result in results.values():
        message = result["message"]
        if result["status"] in ("refused", "conflict") and (message in reasons or len(reasons) < MAX_REASONS):
            reasons[message] = reasons.get(message, 0) + 1
    return reasons


def _tallied(job: Job, results: Dict[str, dict]) -> dict:
    """The job's summary with one more chunk's `results` (the job page lists the reasons)."""
    before = job.summary or {}
    return {**before, "counts": dict(Counter(before.get("counts") or {}) + Counter(summary(results))),
            "reasons": why_not(results, before.get("reasons"))}


def _starter(job: Job) -> Viewer:
    """Who started the job, as they are now: their rights apply to every step."""
    return accounts.team_member_now(job.org_id, job.owner_id,
                                    "The person who started this can no longer change accounts.", "starter_gone")


# --- Bulk actions ----------------------------------------------------------------------------------------------

def _filters(viewer: Viewer, params: dict):
    from dataclasses import replace

    from chalicelib.table.filters import PAGE_SIZES, parse_filters

    return replace(parse_filters(params, viewer), size=PAGE_SIZES[-1])


def run(viewer: Viewer, action: str, choice: dict, account_ids: Optional[Sequence[str]] = None,
        filters: Optional[dict] = None, expected: int = 0) -> Outcome:
    """Apply `action` to the ticked `account_ids`, or to every row the table's `filters`
    (its query parameters) select. `choice`: staff_id / group_id for Assign. Up to
    `INLINE` people within the request; more as a background job (`Outcome.job`).
    `expected`: the count the person was shown (the job's total until it has counted)."""
    from chalicelib.table.listing import matching_ids

    clean = check_params(viewer, action, choice)
    if filters is not None:
        parsed = _filters(viewer, filters)
        ids, more = matching_ids(viewer, parsed, None, INLINE + 1)
        if len(ids) > INLINE or more:
            return Outcome(job=_start_bulk(viewer, action, choice, {"filters": dict(filters)},
                                           phase="collecting", total=max(int(expected or 0), 0)))
    else:
        ids = list(dict.fromkeys(account_ids or []))
        if len(ids) > MAX_INLINE:
            raise ValidationError(f"Select at most {MAX_INLINE:,} rows, or use “Select all matching”.", "account_id",
                                  code="too_many")
        if len(ids) > INLINE:
            return Outcome(job=_start_bulk(viewer, action, choice, {"ids": ids}, phase="applying", total=len(ids)))
    if not ids:
        raise ValidationError("Select at least one row first.", "account_id", code="nothing_selected")
    results = apply_chunk(viewer, action, ids, clean)
    return Outcome(counts=summary(results), results=results)


def _start_bulk(viewer: Viewer, action: str, choice: dict, selection: dict, phase: str, total: int) -> Job:
    params = {"action": action, "choice": {k: v for k, v in choice.items() if k in ("staff_id", "group_id")},
              **selection}
    return jobs.start(viewer, BULK_KIND, total=total, params=params, phase=phase,
                      summary={"counts": {}, "action": action})


def part_key(org_id: str, job_id: str, part: int) -> str:
    return f"bulk/{org_id}/{job_id}/{part:05d}.txt"


@jobs.step(BULK_KIND)
def bulk_step(job: Job) -> jobs.Step:
    """One step of a bulk action: collect a part of "all matching", or apply the action to a part."""
    try:
        viewer = _starter(job)
        action = job.params["action"]
        clean = check_params(viewer, action, job.params.get("choice") or {})
    except CaseloadError as refused:  # the chosen staff member was archived meanwhile, the starter demoted...
        return jobs.Step(failed=refused.message)
    if job.phase == "collecting":
        return _collect(job, viewer)
    return _apply(job, viewer, action, clean)


def _collect(job: Job, viewer: Viewer) -> jobs.Step:
    """Up to PART ids of the selection, from where the last step stopped, written as one part."""
    filters = _filters(viewer, job.params.get("filters") or {})
    from chalicelib.table.listing import matching_ids

    position, part = job.cursor.get("position"), int(job.cursor.get("parts", 0))
    collected = int(job.cursor.get("collected", 0))
    ids: List[str] = []
    while len(ids) < PART:
        found, position = matching_ids(viewer, filters, position, min(KEYS_PER_QUERY, PART - len(ids)))
        ids += found
        if position is None:
            break
    if ids:
        aws.client("s3").put_object(Bucket=config.bucket(), Key=part_key(job.org_id, job.job_id, part),
                                    Body="\n".join(ids).encode("ascii"))
        part, collected = part + 1, collected + len(ids)
    if position is not None:
        return jobs.Step(cursor={"position": position, "parts": part, "collected": collected},
                         total=max(int(job.total), collected))
    if not collected:
        return jobs.Step(failed="No rows match these filters any more: nothing was changed.")
    return jobs.Step(phase="applying", cursor={"parts": part, "part": 0}, done=0, total=collected)


def _part_ids(job: Job) -> List[str]:
    if "ids" in job.params:
        start = int(job.cursor.get("next", 0))
        return list(job.params["ids"][start:start + PART])
    part = int(job.cursor.get("part", 0))
    if part >= int(job.cursor.get("parts", 0)):
        return []
    body = aws.client("s3").get_object(Bucket=config.bucket(), Key=part_key(job.org_id, job.job_id, part))["Body"]
    return [line for line in body.read().decode("ascii").split("\n") if line]


def _apply(job: Job, viewer: Viewer, action: str, clean: dict) -> jobs.Step:
    ids = _part_ids(job)
    tally = _tallied(job, apply_chunk(viewer, action, ids, clean, audit=False) if ids else {})
    counts = tally["counts"]
    cursor = dict(job.cursor)
    if "ids" in job.params:
        cursor["next"] = int(cursor.get("next", 0)) + len(ids)
        finished = cursor["next"] >= len(job.params["ids"])
    else:
        cursor["part"] = int(cursor.get("part", 0)) + 1
        finished = cursor["part"] >= int(cursor.get("parts", 0))
    if finished and counts.get("changed"):
        timeline.audit(job.org_id, f"bulk_{EVENTS[action]}", viewer, count=counts["changed"], job_id=job.job_id)
    return jobs.Step(cursor=cursor, done=int(job.done) + len(ids), finished=finished, summary=tally)


# --- Transfer caseload (and a staff member's new email on their clients) -------------------------------------

def _caseload_page(org_id: str, staff_id: str, cursor: dict, limit: int):
    """Up to `limit` clients of a staff member from `cursor` ({"part": 0 live | 1 archived, "key"}):
    (ids, next cursor or None at the end)."""
    part, key = int(cursor.get("part", 0)), cursor.get("key")
    ids: List[str] = []
    while len(ids) < limit:
        query = Account.staff_name.query(f"{org_id}#{staff_id}#{'LA'[part]}", filter_condition=Account.role == "client",
                                         limit=limit - len(ids), page_size=KEYS_PER_QUERY, last_evaluated_key=key)
        ids += [item.account_id for item in query]
        key = query.last_evaluated_key
        if key is None:
            if part == 1:
                return ids, None
            part += 1
    return ids, {"part": part, "key": key}


def transfer_targets(viewer: Viewer, from_id: str, to_id: str):
    """Check a transfer: admins only; from a staff member of this organisation to
    another live Staff or Admin member. Returns (from account, to account)."""
    if not viewer.is_admin:
        raise Forbidden("Only admins transfer caseloads.")
    source = rows.target(viewer, from_id)
    if source.role not in CASELOAD_ROLES:
        raise ValidationError("Only a staff member has a caseload to transfer.", "from_id")
    to_id = rows._clean_id(to_id, "to_id")
    if not to_id:
        raise ValidationError("Choose who takes over the caseload.", "to_id")
    if to_id == source.account_id:
        raise ValidationError("Choose someone else to take over the caseload.", "to_id")
    staff, _group, _left = rows._choices(viewer.org_id, to_id, None)
    if staff is None or staff.role not in CASELOAD_ROLES or staff.archived:
        raise ValidationError(rows.STAFF_REFUSED, "to_id", code="invalid_staff")
    return source, staff


def transfer(viewer: Viewer, from_id: str, to_id: str) -> Outcome:
    """Move every client of `from_id` to `to_id`: within the request up to `INLINE`
    clients, else as a background job (`Outcome.job`)."""
    source, staff = transfer_targets(viewer, from_id, to_id)
    ids, more = _caseload_page(viewer.org_id, source.account_id, {}, INLINE + 1)
    if len(ids) > INLINE or more:
        return Outcome(job=jobs.start(viewer, CASELOAD_KIND, total=rows.caseload_count(viewer.org_id, from_id),
                                      params={"from_id": source.account_id, "to_id": staff.account_id,
                                              "purpose": "transfer"}, summary={"counts": {}}))
    counts = summary(apply_chunk(viewer, "assign", ids, {"staff": staff}, kind="transferred", audit=False))
    _audit_transfer(viewer, source, staff, counts.get("changed", 0))
    return Outcome(counts=counts)


def _audit_transfer(viewer: Viewer, source: Account, staff: Account, changed: int, **detail) -> None:
    timeline.audit(viewer.org_id, "caseload_transferred", viewer, target_id=source.account_id,
                   target=source.name or source.email, to=staff.email, count=changed, **detail)


def refresh_staff_email(viewer: Viewer, staff: Account) -> Outcome:
    """After a staff member's email changed: the copy on each of their clients' rows
    (Assigned staff email: the table, its filters and exports) follows, within the
    request for a small caseload, else as a background job."""
    ids, more = _caseload_page(staff.org_id, staff.account_id, {}, INLINE + 1)
    if not ids:
        return Outcome(counts={})
    if len(ids) > INLINE or more:
        return Outcome(job=jobs.start(viewer, CASELOAD_KIND, total=rows.caseload_count(staff.org_id, staff.account_id),
                                      params={"from_id": staff.account_id, "to_id": staff.account_id,
                                              "purpose": "email"}, summary={"counts": {}}))
    return Outcome(counts=summary(apply_chunk(viewer, "assign", ids, {"staff": staff}, audit=False, record=False)))


@jobs.step(CASELOAD_KIND)
def caseload_step(job: Job) -> jobs.Step:
    """A page of the staff member's clients moved to `to_id` (or given its new email)."""
    params = job.params
    try:
        viewer = _starter(job)
        if params.get("purpose") == "transfer":
            source, staff = transfer_targets(viewer, params["from_id"], params["to_id"])
        else:
            source = staff = Account.get(job.org_id, params["to_id"], consistent_read=True)
    except DoesNotExist:
        return jobs.Step(finished=True, summary=job.summary)  # the staff member is gone: nothing to refresh
    except CaseloadError as refused:
        return jobs.Step(failed=refused.message)
    ids, cursor = _caseload_page(job.org_id, source.account_id, job.cursor or {}, PART)
    transfer_kind = params.get("purpose") == "transfer"
    tally = _tallied(job, apply_chunk(viewer, "assign", ids, {"staff": staff}, kind="transferred", audit=False,
                                      record=transfer_kind) if ids else {})
    counts = tally["counts"]
    done = int(job.done) + len(ids)
    if cursor is None and transfer_kind:
        _audit_transfer(viewer, source, staff, counts.get("changed", 0), job_id=job.job_id)
    return jobs.Step(cursor=cursor or {}, done=done, total=max(int(job.total), done), finished=cursor is None,
                     summary=tally)
