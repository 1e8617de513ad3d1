"""Groups: list with member counts, create, rename, delete.

Staff see the groups; only admins change them. Every change is in the
organisation's audit log.
"""
from dataclasses import dataclass
from typing import List, Optional

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import jobs
from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, Forbidden, NotFound, ValidationError
from chalicelib.core.models import Group, Job, Lookup, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.metrics import counters, store

NAME_MAX = 80
ID_MAX = 64


@dataclass(frozen=True)
class GroupSummary:
    """A row of the Manage Groups window."""
    group_id: str
    name: str
    members: int  # live accounts in the group (the Clients Table's default view)
    archived: int  # archived accounts in the group
    deleting: bool = False
    ungrouped: int = 0  # while deleting: members ungrouped so far
    members_at_delete: int = 0
    job_id: Optional[str] = None
    job_state: str = ""  # while deleting: its job's state (chalicelib.jobs.lifecycle.STATES)
    job_message: str = ""

    @property
    def stopped(self) -> bool:
        """Deleting, but its job was cancelled or failed: Delete again continues it."""
        return self.deleting and self.job_state in ("cancelled", "failed")

    @property
    def total(self) -> int:
        """Everyone who becomes ungrouped if the group is deleted."""
        return self.members + self.archived

    def as_dict(self) -> dict:
        return {"group_id": self.group_id, "name": self.name, "members": self.members, "archived": self.archived,
                "deleting": self.deleting,
                "progress": {"done": self.ungrouped, "total": self.members_at_delete} if self.deleting else None,
                "job_id": self.job_id, "job_state": self.job_state or None}


def clean_group_name(raw) -> str:
    """The name as stored: trimmed, inner runs of spaces made one, 1-80 characters."""
    if raw is not None and not isinstance(raw, str):
        raise ValidationError("Send the name as text.", "name")
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationError("Enter a name for the group.", "name", code="name_required")
    if len(name) > NAME_MAX:
        raise ValidationError(f"Use at most {NAME_MAX} characters (this name has {len(name)}).", "name",
                              code="name_too_long")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise ValidationError("The name contains characters that are not allowed.", "name")
    return name


def name_key(org_id: str, name: str) -> str:
    """The claim that keeps a name unique in its organisation, whatever its case."""
    return f"group#{org_id}#{name.casefold()}"


def _require_team(viewer) -> None:
    if not viewer.is_team:
        raise Forbidden("Only admins and staff can see groups.")


def _require_admin(viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins can change groups.", code="admins_only")


def choices(org_id: str) -> List[Group]:
    """The groups a person can be put in, by name: what every group picker offers."""
    return sorted((g for g in Group.query(org_id) if not g.deleting), key=lambda g: g.name.casefold())


def _find(org_id: str, group_id: str) -> Group:
    """The group (deleting or not); another organisation's id is not found, like a made-up one."""
    if not isinstance(group_id, str) or not 0 < len(group_id) <= ID_MAX:
        raise NotFound("No such group.", code="group_not_found")
    try:
        return Group.get(org_id, group_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("No such group. It may have been deleted already.", code="group_not_found") from None


def get_live_group(org_id: str, group_id: str) -> Group:
    """The group, if people can be put in it now (it exists and is not being deleted)."""
    group = _find(org_id, group_id)
    if group.deleting:
        raise NotFound("No such group. It has been deleted.", code="group_not_found")
    return group


def _summaries(org_id: str, groups: list) -> List[GroupSummary]:
    keys = []
    for group in groups:
        keys += [counters.combo_key(group=group.group_id),
                 counters.combo_key(status="archived", group=group.group_id)]
    counts = store.read_counts(org_id, keys) if keys else []
    job_ids = [g.job_id for g in groups if g.deleting and g.job_id]
    found = {job.job_id: job for job in Job.batch_get(job_ids)} if job_ids else {}
    return [GroupSummary(g.group_id, g.name, max(counts[2 * i], 0), max(counts[2 * i + 1], 0), g.deleting,
                         int(g.ungrouped or 0), int(g.members_at_delete or 0), g.job_id,
                         *_job_state(found.get(g.job_id)))
            for i, g in enumerate(groups)]


def _job_state(job: Optional[Job]) -> tuple:
    if job is None:
        return "", ""
    shown = jobs.view(job)
    return shown["state"], shown["message"]


def list_groups(viewer) -> List[GroupSummary]:
    """The organisation's groups by name with their member counts: one Query and
    one BatchGetItem of counters (kept by the accounts stream), never a table scan.
    Groups being deleted come last, with their progress."""
    _require_team(viewer)
    groups = sorted(Group.query(viewer.org_id), key=lambda g: (g.deleting, g.name.casefold()))
    return _summaries(viewer.org_id, groups)


def summary(viewer, group_id: str) -> GroupSummary:
    _require_team(viewer)
    return _summaries(viewer.org_id, [_find(viewer.org_id, group_id)])[0]


def _failed(error: TransactWriteError, index: int) -> bool:
    reasons = error.cancellation_reasons or []
    return index < len(reasons) and reasons[index] is not None and reasons[index].code == "ConditionalCheckFailed"


def _taken(org_id: str, name: str) -> Conflict:
    """The refusal names the group that has the name, written as that group writes it ("Job Club",
    not the "JOB CLUB" just typed): read only on this rare path."""
    try:
        name = Group.get(org_id, Lookup.get(name_key(org_id, name)).target_id).name
    except DoesNotExist:  # released meanwhile: the typed name is all there is to say
        pass
    return Conflict(f"A group called “{name}” already exists (names are the same whatever their case).", "name",
                    code="name_taken")


def create_group(viewer, raw_name) -> Group:
    """A new group. Its name is claimed in the same transaction, so two admins
    creating "Job club" and "JOB CLUB" at once make one group, never two."""
    _require_admin(viewer)
    name = clean_group_name(raw_name)
    group = Group(org_id=viewer.org_id, group_id=new_id(), name=name, created_by=viewer.account_id)
    claim = Lookup(key=name_key(viewer.org_id, name), org_id=viewer.org_id, target_id=group.group_id)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.save(claim, condition=Lookup.key.does_not_exist())
            transaction.save(group, condition=Group.group_id.does_not_exist())
    except TransactWriteError as error:
        if _failed(error, 0):
            raise _taken(viewer.org_id, name) from None
        raise
    timeline.audit(viewer.org_id, "group_created", viewer, target_id=group.group_id, target=name)
    return group


def rename_group(viewer, group_id: str, raw_name) -> Group:
    """Rename in place: the new name is claimed and the old one released in one transaction.
    The same name again changes nothing (a retried rename succeeds)."""
    _require_admin(viewer)
    name = clean_group_name(raw_name)
    group = get_live_group(viewer.org_id, group_id)
    old = group.name
    if name == old:
        return group
    old_key, new_key = name_key(viewer.org_id, old), name_key(viewer.org_id, name)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.update(group, actions=[Group.name.set(name)],
                               condition=Group.deleted_at.does_not_exist() & (Group.name == old))
            if new_key != old_key:
                transaction.save(Lookup(key=new_key, org_id=viewer.org_id, target_id=group.group_id),
                                 condition=Lookup.key.does_not_exist())
                transaction.delete(Lookup(key=old_key),
                                   condition=Lookup.key.does_not_exist() | (Lookup.target_id == group.group_id))
    except TransactWriteError as error:
        if new_key != old_key and _failed(error, 1):
            raise _taken(viewer.org_id, name) from None
        if _failed(error, 0):
            raise Conflict("This group was changed by someone else meanwhile: reload and try again.",
                           code="changed") from None
        raise
    group.name = name
    timeline.audit(viewer.org_id, "group_renamed", viewer, target_id=group.group_id, target=name, renamed_from=old)
    return group


def start_delete(viewer, group_id: str) -> GroupSummary:
    """Mark the group deleted: it leaves every choice at once and its name is
    free again. Its members are ungrouped next (chalicelib.groups.ungroup).
    Deleting twice is refused: a group being deleted is a conflict, a group
    already gone is not found."""
    _require_admin(viewer)
    group = _find(viewer.org_id, group_id)
    if group.deleting:
        raise Conflict(f"“{group.name}” is already being deleted.", code="already_deleted")
    found = _summaries(viewer.org_id, [group])[0]
    now = utcnow()
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.update(group, actions=[
                Group.deleted_at.set(now), Group.deleted_by.set(viewer.account_id),
                Group.members_at_delete.set(found.total), Group.ungrouped.set(0)],
                condition=Group.group_id.exists() & Group.deleted_at.does_not_exist())
            transaction.delete(Lookup(key=name_key(viewer.org_id, group.name)),
                               condition=Lookup.key.does_not_exist() | (Lookup.target_id == group.group_id))
    except TransactWriteError as error:
        if _failed(error, 0):
            raise Conflict(f"“{group.name}” is already being deleted.", code="already_deleted") from None
        raise
    timeline.audit(viewer.org_id, "group_deleted", viewer, target_id=group.group_id, target=group.name,
                   members=found.total)
    return GroupSummary(group.group_id, group.name, found.members, found.archived, True, 0, found.total)
