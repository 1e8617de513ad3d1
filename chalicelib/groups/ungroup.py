"""Ungrouping a deleted group's members, one bounded step at a time.

A step reads up to `PAGE` members from the group's partitions of the Clients
Table's `group_name` index (live `org#group#L`, then archived `org#group#A`),
never the whole table, and ungroups them `CHUNK` per TransactWriteItems: each
update removes the group, sets the listing keys that depend on it (derived by
`Account.derive_keys`, the one definition) and bumps the version, on condition
that the account is still in the group with the status and caseload the keys
were derived from. So a step is safe to run twice (already ungrouped members
fail the condition and are skipped) and a concurrent edit is never overwritten.
Cost per 1,000 members: 1000/25 transactions + 1000/PAGE queries + one progress
update per step.

Where it has got to is kept on the Group item (`ungroup_cursor`, `ungrouped`),
so whatever runs the steps (the request for a small group, a background job
for a large one) needs only the group's id; the last step deletes the item.
"""
import json
import logging
from dataclasses import dataclass
from typing import List, Optional

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.core import aws
from chalicelib.core.models import Account, Group, utcnow

log = logging.getLogger(__name__)
PAGE = 500  # members read (one Query page) and ungrouped per step
CHUNK = 25  # members per TransactWriteItems
PARTITIONS = ("L", "A")  # live members first: they are the ones the table shows


@dataclass
class Step:
    processed: int  # members looked at in this step
    done: int  # members ungrouped so far, all steps
    total: int  # members when the delete started
    finished: bool


def _keys_without_group(member: Account) -> dict:
    """The listing keys of `member` once ungrouped, derived by the model from the
    attributes the index projects (role, status, caseload)."""
    shadow = Account(org_id=member.org_id, account_id=member.account_id, email="-", role=member.role,
                     status=member.status, created_at=utcnow(),
                     staff_id=member.caseload_id if member.role == "client" else None)
    shadow.derive_keys()
    return {"p_group": shadow.p_group, "p_sg": shadow.p_sg, "p_gs": shadow.p_gs}


def _update(transaction, member: Account, group_id: str) -> None:
    keys = _keys_without_group(member)
    caseload = (Account.caseload_id == member.caseload_id) if member.caseload_id \
        else Account.caseload_id.does_not_exist()
    member.version = member.version or 0  # the index does not project it: makes pynamodb ADD 1 (not SET 1)
    transaction.update(
        member,
        actions=[Account.group_id.remove(), Account.p_group.set(keys["p_group"]), Account.p_sg.set(keys["p_sg"]),
                 Account.p_gs.set(keys["p_gs"])],
        condition=(Account.group_id == group_id) & (Account.status == member.status) & caseload,
        add_version_condition=False,
    )


def _write(members: List[Account], group_id: str) -> List[Account]:
    """One transaction; returns the members whose condition failed (nothing written then)."""
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            for member in members:
                _update(transaction, member, group_id)
    except TransactWriteError as error:
        reasons = error.cancellation_reasons or []
        if not reasons:
            raise
        failed = [m for m, r in zip(members, reasons) if r is not None and r.code == "ConditionalCheckFailed"]
        if not failed:
            raise
        rest = [m for m in members if m not in failed]
        return failed + (_write(rest, group_id) if rest else [])
    return []


def _ungroup_one(org_id: str, account_id: str, group_id: str) -> bool:
    """A member whose chunk condition failed: read it and ungroup it if it is still in the group."""
    for _attempt in range(3):
        try:
            account = Account.get(org_id, account_id, consistent_read=True)
        except DoesNotExist:
            return False
        if account.group_id != group_id:
            return False  # moved meanwhile, or a stale index entry
        account.group_id = None
        account.derive_keys()
        try:
            account.update(actions=[Account.group_id.remove(), Account.p_group.set(account.p_group),
                                    Account.p_sg.set(account.p_sg), Account.p_gs.set(account.p_gs)])
            return True
        except UpdateError:
            continue  # changed between the read and the write: read again
    log.warning("could not ungroup %s from %s after 3 attempts", account_id, group_id)
    return False


def ungroup_members(members: List[Account], group_id: str) -> int:
    """Ungroup these members (index items), CHUNK per transaction; returns how many were."""
    ungrouped = 0
    for start in range(0, len(members), CHUNK):
        chunk = members[start:start + CHUNK]
        failed = _write(chunk, group_id)
        ungrouped += len(chunk) - len(failed)
        ungrouped += sum(_ungroup_one(m.org_id, m.account_id, group_id) for m in failed)
    return ungrouped


def step(org_id: str, group_id: str, limit: int = PAGE) -> Optional[Step]:
    """Ungroup up to `limit` more members of a group being deleted; the last
    step deletes the group. None when there is nothing to do (no such group,
    or it is not being deleted)."""
    try:
        group = Group.get(org_id, group_id, consistent_read=True)
    except DoesNotExist:
        return None
    if not group.deleting:
        return None
    cursor = json.loads(group.ungroup_cursor) if group.ungroup_cursor else {"part": 0, "key": None}
    processed = ungrouped = 0
    finished = False
    while processed < limit:
        part = PARTITIONS[cursor["part"]]
        query = Account.group_name.query(f"{org_id}#{group_id}#{part}", limit=limit - processed,
                                         page_size=limit - processed, last_evaluated_key=cursor["key"])
        members = list(query)
        processed += len(members)
        ungrouped += ungroup_members(members, group_id)
        cursor["key"] = query.last_evaluated_key
        if cursor["key"] is None:
            if cursor["part"] + 1 == len(PARTITIONS):
                finished = True
                break
            cursor["part"] += 1
    done = int(group.ungrouped or 0) + ungrouped
    total = max(int(group.members_at_delete or 0), done)
    if finished:
        group.delete(condition=Group.deleted_at.exists())
    else:
        group.update(actions=[Group.ungrouped.add(ungrouped), Group.ungroup_cursor.set(json.dumps(cursor))],
                     condition=Group.deleted_at.exists())
    return Step(processed, done, total, finished)
