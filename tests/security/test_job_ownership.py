"""Issue 13 item 4: a background job belongs to the person who started it (and the
organisation's admins). A staff member who reads, commits, cancels or retries an
admin's job by its id (an import, a bulk action, a group delete) gets exactly the
answer a made-up id gets, and nothing changes. Committing an import re-checks the
starter's rights, as they are at that moment, for every role in the file."""
import re

import pytest

from chalicelib.actions import bulk
from chalicelib.core import aws, config
from chalicelib.core.models import Account, Job
from chalicelib.core.tokens import new_id
from chalicelib.groups import deletion
from chalicelib.invitations import imports
from chalicelib.jobs import runner
from chalicelib.people.accounts import Viewer
from tests.conftest import make_account, reply_json
from tests.test_jobs import purge_jobs_queue


@pytest.fixture(autouse=True)
def no_stale_messages():
    yield
    purge_jobs_queue()  # the steps ran here: their queue messages are stale, leave none to later tests


def run_until_settled(job_id: str) -> Job:
    for _ in range(20):
        job = Job.get(job_id, consistent_read=True)
        if job.status != "running":
            return job
        runner.run_step(job_id, int(job.step_seq))
    raise AssertionError("the job did not settle")


def checked_upload(viewer: Viewer, rows: str) -> Job:
    """An import its starter uploaded and whose dry run has run (waiting for Invite)."""
    job_id = imports.start_upload(viewer, "people.csv")["job_id"]
    aws.client("s3").put_object(Bucket=config.bucket(), Key=imports.upload_key(viewer.org_id, job_id),
                                Body=rows.encode())
    job = run_until_settled(job_id)
    assert (job.status, job.phase) == ("waiting", "ready"), job.error
    return job


def admins_jobs(org, group, monkeypatch) -> dict:
    admin = Viewer.of(org.admin)
    monkeypatch.setattr(bulk, "INLINE", 1)
    monkeypatch.setattr(deletion, "INLINE_MEMBERS", 1)
    for _ in range(3):
        make_account(org.org_id, "client", group_id=group.group_id)
    return {
        "import": checked_upload(admin, "email,role\nnew.client@example.org,client\n").job_id,
        "bulk": bulk.run(admin, "archive", {}, account_ids=[org.client.account_id, org.staff.account_id]).job.job_id,
        "group delete": deletion.delete_group(admin, group.group_id).job_id,
    }


def _same(reply, made_up) -> None:
    assert reply.status_code == made_up.status_code == 404
    if reply.headers.get("content-type", "").startswith("application/json"):
        assert reply_json(reply) == reply_json(made_up)


def _page_text(reply) -> str:
    return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", reply.body.decode())


@pytest.mark.parametrize("kind", ["import", "bulk", "group delete"])
def test_a_staff_member_gets_the_answer_of_a_made_up_id_for_an_admins_job(http, org, group, monkeypatch, kind):
    job_id = admins_jobs(org, group, monkeypatch)[kind]
    before = Job.get(job_id).attribute_values.copy()
    http.sign_in(org.staff)
    made_up = new_id()
    for method, path in (("GET", "/api/v1/jobs/{}"), ("POST", "/api/v1/jobs/{}/cancel"),
                         ("POST", "/api/v1/jobs/{}/retry")):
        _same(http.json(method, path.format(job_id), None if method == "GET" else {}),
              http.json(method, path.format(made_up), None if method == "GET" else {}))
    page, missing = http.get(f"/jobs/{job_id}"), http.get(f"/jobs/{made_up}")
    assert page.status_code == missing.status_code == 404 and _page_text(page) == _page_text(missing)
    for action in ("cancel", "retry"):
        _same(http.post_form(f"/jobs/{job_id}/{action}", {}), http.post_form(f"/jobs/{made_up}/{action}", {}))
    if kind == "import":
        for method, suffix, body in (("GET", "", None), ("POST", "/commit", {"send_email": False}),
                                     ("POST", "/cancel", {})):
            _same(http.json(method, f"/api/v1/invites/uploads/{job_id}{suffix}", body),
                  http.json(method, f"/api/v1/invites/uploads/{made_up}{suffix}", body))
        for suffix in ("/commit", "/cancel", "/retry"):
            _same(http.post_form(f"/invites/uploads/{job_id}{suffix}", {}),
                  http.post_form(f"/invites/uploads/{made_up}{suffix}", {}))
        _same(http.get(f"/invites/uploads/{job_id}/errors.csv"), http.get(f"/invites/uploads/{made_up}/errors.csv"))
    after = Job.get(job_id).attribute_values
    assert {k: after.get(k) for k in ("status", "phase", "step_seq", "cancel_requested", "done")} == \
        {k: before.get(k) for k in ("status", "phase", "step_seq", "cancel_requested", "done")}


def test_another_organisations_admin_gets_the_answer_of_a_made_up_id(http, org, other_org, group, monkeypatch):
    jobs_of_org = admins_jobs(org, group, monkeypatch)
    http.sign_in(other_org.admin)
    made_up = new_id()
    for job_id in jobs_of_org.values():
        _same(http.json("GET", f"/api/v1/jobs/{job_id}"), http.json("GET", f"/api/v1/jobs/{made_up}"))
        _same(http.json("POST", f"/api/v1/jobs/{job_id}/cancel", {}),
              http.json("POST", f"/api/v1/jobs/{made_up}/cancel", {}))


ROWS = {"client": "c1@example.org,client", "staff": "s1@example.org,staff", "admin": "a1@example.org,admin"}


@pytest.mark.parametrize("roles, allowed", [
    (("client",), True),
    (("staff",), False),
    (("admin",), False),
    (("client", "staff", "admin"), False),
])
def test_commit_rechecks_the_starters_rights_now_for_every_role_in_the_file(http, org, roles, allowed):
    """An admin uploads; before Invite their role drops to Staff. Whoever presses Invite (they
    themselves, or another admin), the file is imported with the starter's rights as they are now."""
    uploader = make_account(org.org_id, "admin", name="Una Uploader")
    job = checked_upload(Viewer.of(uploader), "email,role\n" + "\n".join(ROWS[r] for r in roles) + "\n")
    assert job.summary["dry_run"]["would_invite"] == len(roles)  # an admin could invite them all
    Account(org_id=org.org_id, account_id=uploader.account_id).update(
        actions=[Account.role.set("staff")], add_version_condition=False)
    for committer in (uploader, org.admin):
        http.sign_in(committer)
        reply = http.json("POST", f"/api/v1/invites/uploads/{job.job_id}/commit", {"send_email": False})
        if allowed:
            assert reply.status_code == 200, reply.body
            break
        assert reply.status_code == 403 and reply_json(reply)["code"] == "forbidden_role"
        assert "can invite Clients only" in reply_json(reply)["message"]
    job = run_until_settled(job.job_id)
    invited = [r for r in roles if any(a.org_id == org.org_id for a in Account.by_email.query(ROWS[r].split(",")[0]))]
    if allowed:
        assert (job.status, job.summary["result"]["invited"], invited) == ("done", 1, ["client"])
    else:
        assert (job.status, job.phase, invited) == ("waiting", "ready", [])  # nothing invited, still waiting


def test_a_starter_who_lost_their_rights_stops_their_bulk_job(org, monkeypatch):
    """A bulk job acts with its starter's rights at each step: demoted to Staff, the admin's
    reassignment of staff members fails the job with a reason and changes nobody."""
    monkeypatch.setattr(bulk, "INLINE", 1)
    starter = make_account(org.org_id, "admin", name="Bea Bulk")
    people = [make_account(org.org_id, "client") for _ in range(3)]
    job = bulk.run(Viewer.of(starter), "assign", {"staff_id": org.staff.account_id},
                   account_ids=[p.account_id for p in people]).job
    Account(org_id=org.org_id, account_id=starter.account_id).update(
        actions=[Account.role.set("staff")], add_version_condition=False)
    job = run_until_settled(job.job_id)
    assert (job.status, job.error) == ("failed", "Staff can move their own clients only between groups.")
    assert all(Account.get(org.org_id, p.account_id).staff_id is None for p in people)
