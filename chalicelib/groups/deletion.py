"""Deleting a group: mark it (it vanishes from every choice, its name is free),
untie the extra sign-up links tied to it, then ungroup its members. A small
group is ungrouped within the request; a large one by a background job whose
progress the Manage Groups window shows."""
from dataclasses import dataclass
from typing import Optional

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
    deleted = manage.start_delete(viewer, group_id)
    links.forget_group(viewer.org_id, group_id)
    step = ungroup.step(viewer.org_id, group_id, limit=INLINE_MEMBERS)
    if step is None or step.finished:
        done = step.done if step else 0
        return Deletion(group_id, deleted.name, max(deleted.total, done), True, done)
    return Deletion(group_id, deleted.name, step.total, False, step.done, _start_job(viewer, group_id, step))


def _start_job(viewer, group_id: str, step: ungroup.Step) -> Optional[str]:
    """Until the jobs package is on main, the rest runs here (bounded by the group's size)."""
    while not step.finished:
        step = ungroup.step(viewer.org_id, group_id)
        if step is None:
            break
    return None
