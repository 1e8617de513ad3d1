"""Issue 10 on the jobs machinery (issue 12): bulk actions over more than a page,
"all N matching" whatever N, a large caseload's transfer, a group delete and a
staff member's new email on their clients' rows run as background jobs with
progress, a summary, Cancel and Retry. Sizes are made small by lowering the
limits (INLINE, PART), so every path runs with a handful of accounts."""
import pytest

from chalicelib import jobs
from chalicelib.actions import bulk, rows
from chalicelib.core.errors import Conflict
from chalicelib.core.models import Account, Activity, Group, Job
from chalicelib.groups import deletion, manage, ungroup
from chalicelib.jobs import runner
from chalicelib.people.accounts import Viewer
from tests.conftest import make_account, reply_json
from tests.test_jobs import purge_jobs_queue
from tests.test_account_writes import assert_keys_consistent, stored


@pytest.fixture(autouse=True)
def small(monkeypatch):
    monkeypatch.setattr(bulk, "INLINE", 2)
    monkeypatch.setattr(bulk, "PART", 3)
    monkeypatch.setattr(bulk, "KEYS_PER_QUERY", 2)
    yield
    purge_jobs_queue()  # run_job ran the steps: their queue messages are stale, leave none to later tests


def run_job(job_id: str, limit: int = 50) -> Job:
    """Run a job's steps one after another, as the queue would; returns it final (or waiting)."""
    for _ in range(limit):
        job = Job.get(job_id, consistent_read=True)
        if job.status != "running":
            return job
        assert runner.run_step(job_id, int(job.step_seq)) in (runner.Outcome.RAN, runner.Outcome.CANCELLED)
    raise AssertionError("the job did not finish")


def audit_kinds(org_id: str) -> list:
    return [a.kind for a in Activity.query(f"{org_id}#org")]


def clients(org, n: int, **attributes) -> list:
    return [make_account(org.org_id, "client", **attributes) for _ in range(n)]


# --------------------------------------------------------------------------- bulk actions

def test_ticked_rows_over_a_page_run_as_a_job_with_progress_and_a_summary(org, group):
    people = clients(org, 7)
    admin = Viewer.of(org.admin)
    outcome = bulk.run(admin, "assign", {"group_id": group.group_id}, account_ids=[p.account_id for p in people])
    assert outcome.counts is None and outcome.job.kind == bulk.BULK_KIND and int(outcome.job.total) == 7
    assert all(stored(org.org_id, p.account_id).group_id is None for p in people)  # nothing in the request
    job = run_job(outcome.job.job_id)
    assert (job.status, int(job.done), int(job.total), int(job.step_seq)) == ("done", 7, 7, 3)  # 3 + 3 + 1
    assert job.summary["counts"] == {"changed": 7}
    for person in people:
        assert assert_keys_consistent(org.org_id, person.account_id).group_id == group.group_id
    assert audit_kinds(org.org_id).count("bulk_assigned") == 1  # one entry for the whole job


def test_all_matching_collects_the_selection_then_changes_exactly_it(org):
    people = clients(org, 6, staff_id=org.staff.account_id, staff_email=org.staff.email)
    admin = Viewer.of(org.admin)
    outcome = bulk.run(admin, "archive", {}, filters={"role": "client"}, expected=7)
    job = Job.get(outcome.job.job_id)
    assert (job.phase, int(job.total)) == ("collecting", 7)
    job = run_job(job.job_id)
    # 7 clients (Cleo and the six): collected in 3 parts of at most 3, then archived a part a step
    assert (job.status, int(job.done), int(job.total), job.cursor["parts"]) == ("done", 7, 7, 3)
    assert job.summary["counts"] == {"changed": 7}
    for person in people + [org.client]:
        assert assert_keys_consistent(org.org_id, person.account_id).status == "archived"
    assert stored(org.org_id, org.staff.account_id).status == "activated"  # not a client: not selected
    again = bulk.run(admin, "restore", {}, filters={"status": "archived"})  # and back, whatever N
    assert run_job(again.job.job_id).summary["counts"] == {"changed": 7}
    assert all(stored(org.org_id, p.account_id).status == "activated" for p in people)


def test_all_matching_a_search_acts_on_exactly_what_the_search_finds(org, group, pump):
    found = [make_account(org.org_id, "client", name=f"Zebedee Found{i}") for i in range(4)]
    clients(org, 2)  # not found by the search
    pump.drain(rounds=1000)  # the search's word items are kept by the accounts stream
    outcome = bulk.run(Viewer.of(org.admin), "assign", {"group_id": group.group_id}, filters={"q": "zebedee"})
    job = run_job(outcome.job.job_id)
    assert (job.status, int(job.total), job.summary["counts"]) == ("done", 4, {"changed": 4})
    in_group = {a.account_id for a in Account.query(org.org_id) if a.group_id == group.group_id}
    assert in_group == {p.account_id for p in found}


def test_a_staff_members_bulk_job_reaches_only_their_own_clients(org, group):
    mine = clients(org, 3, staff_id=org.staff.account_id, staff_email=org.staff.email)
    others = clients(org, 2)
    staff = Viewer.of(org.staff)
    outcome = bulk.run(staff, "assign", {"group_id": group.group_id}, filters={"role": "client"})
    job = run_job(outcome.job.job_id)
    assert job.summary["counts"] == {"changed": 4}  # Cleo and the three
    assert all(stored(org.org_id, p.account_id).group_id == group.group_id for p in mine + [org.client])
    assert all(stored(org.org_id, p.account_id).group_id is None for p in others)
    ids = bulk.run(staff, "assign", {"group_id": None}, account_ids=[p.account_id for p in others + mine])
    assert run_job(ids.job.job_id).summary["counts"] == {"not_found": 2, "changed": 3}


def test_cancel_stops_a_bulk_job_and_retry_continues_where_it_stopped(org, group, monkeypatch):
    people = clients(org, 7)
    admin = Viewer.of(org.admin)
    ids = [p.account_id for p in people]
    cancelled = bulk.run(admin, "assign", {"group_id": group.group_id}, account_ids=ids).job
    jobs.cancel(admin, cancelled.job_id)
    assert run_job(cancelled.job_id).status == "cancelled"
    assert all(stored(org.org_id, i).group_id is None for i in ids)  # cancelled before its first step

    failing = bulk.run(admin, "assign", {"group_id": group.group_id}, account_ids=ids).job
    assert runner.run_step(failing.job_id, 0) == runner.Outcome.RAN  # the first part: 3 people
    real, calls = bulk.apply_chunk, []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(bulk, "apply_chunk", broken)
    for _ in range(jobs.MAX_ATTEMPTS + 1):
        job = Job.get(failing.job_id, consistent_read=True)
        Job(job_id=job.job_id).update(actions=[Job.lease_until.set("2000-01-01")])  # the backoff has passed
        runner.run_step(job.job_id, int(job.step_seq))
    job = Job.get(failing.job_id, consistent_read=True)
    assert (job.status, job.retryable, len(calls)) == ("failed", True, jobs.MAX_ATTEMPTS)
    assert "DynamoDB is down" not in job.error and "Retry continues" in job.error
    monkeypatch.setattr(bulk, "apply_chunk", real)
    jobs.retry(admin, job.job_id)
    job = run_job(job.job_id)
    assert (job.status, int(job.done)) == ("done", 7)
    assert job.summary["counts"] == {"changed": 7}  # each person exactly once
    assert all(stored(org.org_id, i).group_id == group.group_id for i in ids)


def test_a_chosen_staff_member_archived_before_the_job_ran_fails_it_with_a_reason(org):
    receiver = make_account(org.org_id, "staff", name="Rita Receiver")
    people = clients(org, 3)
    admin = Viewer.of(org.admin)
    job = bulk.run(admin, "assign", {"staff_id": receiver.account_id}, account_ids=[p.account_id for p in people]).job
    rows.archive(admin, receiver.account_id)
    job = run_job(job.job_id)
    assert (job.status, job.retryable) == ("failed", False)
    assert job.error == rows.STAFF_REFUSED
    assert all(stored(org.org_id, p.account_id).staff_id is None for p in people)


# --------------------------------------------------------------------------- transfer caseload

def test_a_large_caseload_moves_in_a_job_live_and_archived(org):
    held = clients(org, 4, staff_id=org.staff.account_id, staff_email=org.staff.email)
    held += clients(org, 2, status="archived", staff_id=org.staff.account_id, staff_email=org.staff.email)
    receiver = make_account(org.org_id, "staff", name="Rita Receiver")
    admin = Viewer.of(org.admin)
    outcome = bulk.transfer(admin, org.staff.account_id, receiver.account_id)
    assert int(outcome.job.total) == 7 and outcome.job.kind == bulk.CASELOAD_KIND
    job = run_job(outcome.job.job_id)
    assert (job.status, int(job.done)) == ("done", 7)
    assert job.summary["counts"] == {"changed": 7}
    for person in held + [org.client]:
        moved = assert_keys_consistent(org.org_id, person.account_id)
        assert (moved.staff_id, moved.staff_email) == (receiver.account_id, receiver.email)
    assert rows.caseload_count(org.org_id, org.staff.account_id) == 0
    assert audit_kinds(org.org_id).count("caseload_transferred") == 1


def test_a_staff_members_new_email_follows_on_their_clients_rows(org):
    admin = Viewer.of(org.admin)
    rows.edit(admin, org.staff.account_id, email="sam.new@example.org")  # a small caseload: in the request
    assert assert_keys_consistent(org.org_id, org.client.account_id).staff_email == "sam.new@example.org"

    held = clients(org, 4, staff_id=org.staff.account_id, staff_email="sam.new@example.org")
    rows.edit(admin, org.staff.account_id, email="sam.newer@example.org")  # 5 clients > INLINE: a job
    job = next(j for j in Job.by_org.query(org.org_id) if j.kind == bulk.CASELOAD_KIND)
    assert job.params["purpose"] == "email"
    job = run_job(job.job_id)
    assert job.summary["counts"] == {"changed": 5}
    for person in held + [org.client]:
        fresh = assert_keys_consistent(org.org_id, person.account_id)
        assert (fresh.staff_id, fresh.staff_email) == (org.staff.account_id, "sam.newer@example.org")
    # no timeline noise: the clients' own timelines did not get an event for a copied address
    assert [a.kind for a in Activity.query(f"{org.org_id}#{held[0].account_id}")] == ["created"]


# --------------------------------------------------------------------------- group delete

def test_a_large_group_is_ungrouped_by_a_job_which_cancel_stops_and_delete_continues(org, group, monkeypatch):
    monkeypatch.setattr(deletion, "INLINE_MEMBERS", 1)
    monkeypatch.setattr(ungroup, "PAGE", 2)
    members = clients(org, 5, group_id=group.group_id)
    admin = Viewer.of(org.admin)
    deleted = deletion.delete_group(admin, group.group_id)
    assert not deleted.finished and deleted.job_id and deleted.done == 1
    assert Group.get(org.org_id, group.group_id).job_id == deleted.job_id
    shown = manage.summary(admin, group.group_id)
    assert (shown.deleting, shown.job_state, shown.stopped) == (True, "working", False)
    with pytest.raises(Conflict):
        deletion.delete_group(admin, group.group_id)  # deleting twice while it runs
    assert runner.run_step(deleted.job_id, 0) == runner.Outcome.RAN  # 2 more
    jobs.cancel(admin, deleted.job_id)
    shown = manage.summary(admin, group.group_id)
    assert (shown.job_state, shown.stopped, shown.ungrouped) == ("cancelled", True, 3)
    resumed = deletion.delete_group(admin, group.group_id)  # Delete again continues it
    assert resumed.job_id != deleted.job_id and resumed.done == 3
    job = run_job(resumed.job_id)
    assert (job.status, int(job.done), int(job.total)) == ("done", 5, 5)
    assert [g for g in Group.query(org.org_id)] == []
    for person in members:
        assert assert_keys_consistent(org.org_id, person.account_id).group_id is None


# --------------------------------------------------------------------------- pages and API

def test_the_api_runs_all_matching_as_a_job_and_reports_it(http, org, group, pump):
    clients(org, 3)
    http.sign_in(org.admin)
    reply = http.json("POST", "/api/v1/clients/bulk", {"action": "assign", "group_id": group.group_id,
                                                       "filters": {"role": "client"}})
    assert reply.status_code == 202, reply.body
    job_id = reply_json(reply)["job_id"]
    for _ in range(30):  # the queue also holds the earlier tests' (stale) step messages
        if pump.drain() == 0 or Job.get(job_id).status == "done":
            break
    status = reply_json(http.get(f"/api/v1/jobs/{job_id}"))
    assert (status["state"], status["done"], status["summary"]["counts"]) == ("done", 4, {"changed": 4})
    page = http.get(f"/jobs/{job_id}").body.decode()
    assert "Bulk action" in page and "Summary" in page and "Back to the Clients Table" in page


def test_a_bulk_job_says_why_people_were_not_changed(http, org, monkeypatch):
    people = clients(org, 3)
    second_admin = make_account(org.org_id, "admin", name="Abe Admin")
    ticked = [p.account_id for p in people] + [second_admin.account_id]
    outcome = bulk.run(Viewer.of(org.admin), "archive", {}, account_ids=ticked)
    job = run_job(outcome.job.job_id)
    assert job.summary["counts"] == {"changed": 3, "refused": 1}
    assert job.summary["reasons"] == {"Archive admins one at a time, from their row.": 1}
    assert stored(org.org_id, second_admin.account_id).status != "archived"
    http.sign_in(org.admin)
    page = http.get(f"/jobs/{job.job_id}").body.decode()
    assert "Why some were not changed" in page and "Archive admins one at a time, from their row. " in page
    assert "(1 person)" in page

    monkeypatch.setattr(bulk, "MAX_REASONS", 1)  # a bounded list: a reason past it is counted, not listed
    assert bulk._tallied(job, {"x": {"status": "refused", "message": "Another reason."}})["reasons"] == {
        "Archive admins one at a time, from their row.": 1}


@pytest.mark.parametrize("body, status, field", [
    ({"action": "archive"}, 400, "account_ids"),
    ({"action": "archive", "account_ids": ["x"], "filters": {}}, 400, "account_ids"),
    ({"action": "archive", "filters": {"role": "owner"}}, 400, "role"),
    ({"action": "archive", "filters": {"role": 3}}, 422, None),
])
def test_bulk_api_bad_input_changes_nothing(http, org, body, status, field):
    http.sign_in(org.admin)
    before = Account.get(org.org_id, org.client.account_id).version
    reply = http.json("POST", "/api/v1/clients/bulk", body)
    assert reply.status_code == status, reply.body
    answer = reply_json(reply)
    assert answer["message"] and (field is None or answer.get("field") == field)
    assert Account.get(org.org_id, org.client.account_id).version == before
    assert [j for j in Job.by_org.query(org.org_id)] == []
