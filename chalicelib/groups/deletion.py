"""Deleting a group: mark it (it vanishes from every choice, its name is free),
untie the extra sign-up links tied to it, then ungroup its members. A small
group is ungrouped within the request; a large one by a background job whose
progress the Manage Groups window shows."""
from dataclasses import dataclass
from typing import Optional

from pynamodb.exceptions import UpdateError

from chalicelib import jobs
from chalicelib.core.errors import Conflict
from chalicelib.core.models import Group, Job
from chalicelib.groups import manage, ungroup
from chalicelib.invitations import links

INLINE_MEMBERS = 200  # ungrouped within the request (about 10 requests); more go to a background job
JOB_KIND = "group_delete"


@dataclass(frozen=True)
class Deletion:
    group_id: str
    name: str
    members: int  # who were (or are being) ungrouped
    finished: bool
    done: int = 0
    job_id: Optional[str] = None

    def as_dict(self) -> dict:
        return {"group_id": self.group_id, "name": self.name, "members": self.members, "finished": self.finished,
                "progress": {"done": self.done, "total": self.members}, "job_id": self.job_id}


def delete_group(viewer, group_id: str) -> Deletion:
    """Delete a group; deleting again a group whose ungrouping job was cancelled or
    failed continues it (a group being ungrouped is a conflict, one gone not found)."""
    try:
        deleted = manage.start_delete(viewer, group_id)
    except Conflict:
        stopped = manage.summary(viewer, group_id)
        if not stopped.stopped:
            raise
        step = ungroup.Step(0, stopped.ungrouped, stopped.members_at_delete, False)
        return Deletion(group_id, stopped.name, stopped.members_at_delete, False, stopped.ungrouped,
                        _start_job(viewer, group_id, step))
    links.forget_group(viewer.org_id, group_id)
    step = ungroup.step(viewer.org_id, group_id, limit=INLINE_MEMBERS)
    if step is None or step.finished:
        done = step.done if step else 0
        return Deletion(group_id, deleted.name, max(deleted.total, done), True, done)
    return Deletion(group_id, deleted.name, step.total, False, step.done, _start_job(viewer, group_id, step))


def _start_job(viewer, group_id: str, step: ungroup.Step) -> str:
    """The rest of the members are ungrouped by a background job (chalicelib.jobs:
    lease, attempts, sweeper, Cancel, Retry); the Manage Groups window shows its progress."""
    job = jobs.start(viewer, JOB_KIND, total=step.total, params={"group_id": group_id},
                     summary={"ungrouped": step.done})
    try:
        Group(org_id=viewer.org_id, group_id=group_id).update(actions=[Group.job_id.set(job.job_id)],
                                                              condition=Group.deleted_at.exists())
    except UpdateError:
        pass  # the job already ungrouped everyone and deleted the group
    return job.job_id


@jobs.step(JOB_KIND)
def run_step(job: Job) -> jobs.Step:
    """Ungroup the next `ungroup.PAGE` members; the group item keeps where it got to,
    so a step run twice skips who is already ungrouped."""
    step = ungroup.step(job.org_id, job.params["group_id"], limit=ungroup.PAGE)
    if step is None:  # the group is gone: the last step deleted it
        return jobs.Step(finished=True, done=int(job.total), summary=job.summary)
    return jobs.Step(done=step.done, total=step.total, finished=step.finished, summary={"ungrouped": step.done})
