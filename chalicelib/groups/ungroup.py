"""Ungrouping a deleted group's members, one bounded step at a time.

A step reads up to `PAGE` members from the group's partitions of the Clients
Table's `group_name` index (live `org#group#L`, then archived `org#group#A`),
never the whole table, reads the members whole (BatchGetItem, 100 a request)
and ungroups them through the one write path, `accounts.change_many`
(TransactWriteItems of up to 100 version-checked updates that recompute every
listing key), on condition that each is still in the group. So a step is safe
to run twice (members already ungrouped are skipped) and a concurrent edit is
never overwritten: a member changed meanwhile is read again and ungrouped if it
is still in the group.
Cost per 1,000 members: 1000/PAGE queries + 10 BatchGetItem + 10
TransactWriteItems + one progress update per step.

Where it has got to is kept on the Group item (`ungroup_cursor`, `ungrouped`),
so whatever runs the steps (the request for a small group, a background job
for a large one) needs only the group's id; the last step deletes the item.
"""
import json
import logging
from dataclasses import dataclass
from typing import List, Optional

from pynamodb.exceptions import DoesNotExist

from chalicelib.core.errors import CaseloadError
from chalicelib.core.models import Account, Group
from chalicelib.people import accounts

log = logging.getLogger(__name__)
PAGE = 500  # members read (one Query page) and ungrouped per step
BATCH_GET = 100  # DynamoDB's BatchGetItem limit
PARTITIONS = ("L", "A")  # live members first: they are the ones the table shows


@dataclass
class Step:
    processed: int  # members looked at in this step
    done: int  # members ungrouped so far, all steps
    total: int  # members when the delete started
    finished: bool


def _ungroup_one(org_id: str, account_id: str, group_id: str) -> bool:
    """A member whose write lost a race: read it again and ungroup it if it is still in the group."""
    for _attempt in range(3):
        try:
            account = Account.get(org_id, account_id, consistent_read=True)
        except DoesNotExist:
            return False
        if account.group_id != group_id:
            return False  # moved meanwhile, or a stale index entry
        try:
            accounts.change(account, condition=Account.group_id == group_id, group_id=None)
            return True
        except CaseloadError:
            continue  # changed between the read and the write: read again
    log.warning("could not ungroup %s from %s after 3 attempts", account_id, group_id)
    return False


def ungroup_members(index_items: List[Account], group_id: str) -> int:
    """Ungroup these members (items of the group's index); returns how many were."""
    if not index_items:
        return 0
    org_id = index_items[0].org_id
    keys = [(m.org_id, m.account_id) for m in index_items]
    members = []
    for start in range(0, len(keys), BATCH_GET):
        members += [a for a in Account.batch_get(keys[start:start + BATCH_GET]) if a.group_id == group_id]
    done, failed = accounts.change_many([(member, {"group_id": None}) for member in members],
                                        condition_of=lambda account: Account.group_id == group_id)
    return len(done) + sum(_ungroup_one(org_id, account.account_id, group_id) for account, _error in failed)


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
