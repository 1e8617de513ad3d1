"""Background jobs: steps under a lease, the next message before the commit, the
sweeper, attempts and Retry, Cancel in every state, who may see a job, the
status API and page, and the local scheduler's cadence."""
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib import jobs
from chalicelib.core import aws, config
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.models import Job, utcnow
from chalicelib.jobs import lifecycle, queue, runner
from chalicelib.people.accounts import Viewer
from tests.conftest import reply_json
from tools.local import emulator

# Work the test kinds did, per job: a step that runs twice shows up here twice.
RUNS = Counter()
FAULTS = {}


@jobs.step("test_count")
def _count_step(job):
    """Counts to params.n in chunks of 3; `FAULTS[job_id]` makes the next attempts raise."""
    start = int(job.cursor.get("next", 0))
    RUNS[(job.job_id, start)] += 1
    if FAULTS.get(job.job_id):
        FAULTS[job.job_id] -= 1
        raise RuntimeError("injected")
    end = min(start + 3, int(job.params["n"]))
    return jobs.Step(cursor={"next": end}, done=end, summary={"counted": end}, finished=end >= int(job.params["n"]))


@jobs.step("test_bad_input")
def _bad_input_step(job):
    return jobs.Step(failed="The file has no rows to invite.")


def later(seconds: int):
    return utcnow() + timedelta(seconds=seconds)


def purge_jobs_queue() -> int:
    """Lose every pending step message (PurgeQueue is allowed once a minute: delete them instead)."""
    sqs, lost = aws.client("sqs"), 0
    while True:
        messages = sqs.receive_message(QueueUrl=config.jobs_queue_url(), MaxNumberOfMessages=10,
                                       VisibilityTimeout=0).get("Messages", [])
        if not messages:
            return lost
        for message in messages:
            sqs.delete_message(QueueUrl=config.jobs_queue_url(), ReceiptHandle=message["ReceiptHandle"])
        lost += len(messages)


def sweep_and_drain(pump, seconds: int = lifecycle.LEASE_SECONDS + 1):
    result = runner.sweep(now=later(seconds))
    pump.drain(rounds=1000)  # (the session's uploads still waiting for a file look again too)
    return result


@pytest.fixture
def admin(org):
    return Viewer.of(org.admin)


@pytest.fixture
def staff(org):
    return Viewer.of(org.staff)


@pytest.fixture(autouse=True)
def clean_queue(pump):
    pump.drain()
    yield
    FAULTS.clear()


# --------------------------------------------------------------------------- running

def test_a_job_runs_step_by_step_to_done(admin, pump):
    job = jobs.start(admin, "test_count", total=10, params={"n": 10})
    assert job.status == "running" and job.owner_id == admin.account_id and job.org_id == admin.org_id
    pump.drain()
    job.refresh()
    assert (job.status, int(job.done), int(job.total), job.summary, int(job.step_seq)) == (
        "done", 10, 10, {"counted": 10}, 4)
    assert [RUNS[(job.job_id, s)] for s in (0, 3, 6, 9)] == [1, 1, 1, 1]
    assert job.due is None and job.lease_owner is None and job.lease_until is None
    assert jobs.view(job)["state"] == "done" and jobs.view(job)["final"] is True


def test_a_redelivered_message_is_a_no_op(admin, pump):
    job = jobs.start(admin, "test_count", total=6, params={"n": 6})
    pump.drain()
    assert runner.run_step(job.job_id, 0) == runner.Outcome.STALE
    assert runner.run_step(job.job_id, 1) == runner.Outcome.STALE
    assert RUNS[(job.job_id, 0)] == 1 and RUNS[(job.job_id, 3)] == 1


def test_a_message_for_a_job_that_another_worker_holds_is_dropped(admin, pump):
    job = jobs.start(admin, "test_count", total=6, params={"n": 6})
    purge_jobs_queue()
    job.update(actions=[Job.lease_owner.set("someone"), Job.lease_until.set(lifecycle.iso(later(60)))])
    assert runner.run_step(job.job_id, 0) == runner.Outcome.BUSY
    assert RUNS[(job.job_id, 0)] == 0


def test_a_message_that_is_not_a_job_step_is_dropped():
    for body in ("", "{", "[]", '{"job_id": 1, "seq": 0}', '{"job_id": "' + "a" * 32 + '"}', '{"seq": "x"}'):
        assert runner.handle_message(body) == runner.Outcome.STALE


def test_an_unknown_kind_fails_after_its_attempts_with_a_message(admin, pump):
    job = jobs.start(admin, "no_such_kind")
    for _ in range(lifecycle.MAX_ATTEMPTS + 1):
        pump.drain()
        sweep_and_drain(pump, 3600)
    job.refresh()
    assert job.status == "failed" and "not known to this version" in job.error


# --------------------------------------------------------------------------- faults

def test_a_lost_queue_message_is_finished_by_the_sweeper(admin, pump):
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    purge_jobs_queue()  # the first message is lost
    assert job.job_id not in runner.sweep()["job_ids"]  # not yet: the hand-off has not run out
    result = sweep_and_drain(pump, lifecycle.HANDOFF_SECONDS + 1)
    job.refresh()
    assert job.job_id in result["job_ids"]  # (the session's other tests leave uploads that wait for a file)
    assert job.status == "done" and int(job.done) == 9
    assert sum(RUNS[(job.job_id, s)] for s in (0, 3, 6)) == 3  # each chunk exactly once


def test_a_crash_between_sending_the_next_message_and_the_commit(admin, pump, monkeypatch):
    """The step ran and queued its successor, then the worker died before committing:
    the successor is stale, the sweeper re-runs the step (idempotent), nothing is skipped."""
    job = jobs.start(admin, "test_count", total=6, params={"n": 6})
    real_commit = runner._commit

    def crash_once(*args):
        monkeypatch.setattr(runner, "_commit", real_commit)
        raise SystemExit("worker died")

    monkeypatch.setattr(runner, "_commit", crash_once)
    with pytest.raises(SystemExit):
        runner.handle_message(queue.message(job.job_id, 0))
    purge_jobs_queue()
    assert runner.run_step(job.job_id, 1) == runner.Outcome.STALE  # the early successor
    job.refresh()
    assert job.status == "running" and int(job.step_seq) == 0 and job.lease_owner
    sweep_and_drain(pump)
    job.refresh()
    assert job.status == "done" and int(job.done) == 6
    assert RUNS[(job.job_id, 0)] == 2 and RUNS[(job.job_id, 3)] == 1


def test_a_failed_send_of_the_next_message_commits_nothing(admin, pump, monkeypatch):
    job = jobs.start(admin, "test_count", total=6, params={"n": 6})
    purge_jobs_queue()

    def no_queue(*args):
        raise ConnectionError("sqs down")

    monkeypatch.setattr(queue, "send", no_queue)
    assert runner.run_step(job.job_id, 0) == runner.Outcome.RETRY
    job.refresh()
    assert int(job.step_seq) == 0 and int(job.done) == 0 and job.lease_owner is None
    assert "unexpected error (ConnectionError)" in job.last_error
    assert jobs.view(job)["state"] == "stalled" and "Stalled, retrying" in jobs.view(job)["message"]
    monkeypatch.undo()
    sweep_and_drain(pump, 3600)
    job.refresh()
    assert job.status == "done" and int(job.done) == 6 and job.last_error is None


def test_a_step_that_keeps_failing_fails_the_job_and_retry_continues_where_it_stopped(admin, pump):
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    pump.drain()
    job.refresh()
    assert job.status == "done"
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    runner.run_step(job.job_id, 0)  # first chunk commits
    purge_jobs_queue()
    FAULTS[job.job_id] = 100
    for _ in range(lifecycle.MAX_ATTEMPTS + 2):
        sweep_and_drain(pump, 3600)
    job.refresh()
    assert job.status == "failed" and job.retryable and int(job.done) == 3
    assert RUNS[(job.job_id, 3)] == lifecycle.MAX_ATTEMPTS
    shown = jobs.view(job)
    assert shown["message"].startswith("Failed: an unexpected error (RuntimeError)")
    assert "after 5 attempts" in shown["message"] and shown["can_retry"] and not shown["can_cancel"]
    FAULTS[job.job_id] = 0
    jobs.retry(admin, job.job_id)
    pump.drain()
    job.refresh()
    assert job.status == "done" and int(job.done) == 9 and RUNS[(job.job_id, 0)] == 1
    with pytest.raises(Conflict):
        jobs.retry(admin, job.job_id)


def test_a_job_that_fails_on_its_input_is_final_and_not_retryable(admin, pump):
    job = jobs.start(admin, "test_bad_input")
    pump.drain()
    job.refresh()
    assert job.status == "failed" and job.error == "The file has no rows to invite." and not job.retryable
    assert jobs.view(job)["message"] == "Failed: The file has no rows to invite."


# --------------------------------------------------------------------------- cancel

def test_cancel_a_waiting_job(admin):
    job = jobs.start(admin, "test_count", params={"n": 3}, wait=True, phase="ready")
    assert job.status == "waiting" and job.due is None
    assert jobs.cancel(admin, job.job_id).status == "cancelled"
    with pytest.raises(Conflict):
        jobs.cancel(admin, job.job_id)
    with pytest.raises(Conflict):
        jobs.resume(job, phase="importing", expected_phase="ready")


def test_cancel_a_queued_job_stops_it_before_its_next_step(admin, pump):
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    assert jobs.cancel(admin, job.job_id).status == "cancelled"
    pump.drain()
    job.refresh()
    assert job.status == "cancelled" and RUNS[(job.job_id, 0)] == 0 and job.due is None


def test_cancel_during_a_step_keeps_what_it_did_and_stops(admin, pump, monkeypatch):
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    purge_jobs_queue()
    real = _count_step

    def cancelled_meanwhile(running_job):
        assert jobs.cancel(admin, running_job.job_id).status == "running"  # a worker holds it
        return real(running_job)

    monkeypatch.setitem(jobs.registry._STEPS, "test_count", cancelled_meanwhile)
    assert jobs.view(Job.get(job.job_id))["state"] == "working"
    assert runner.run_step(job.job_id, 0) == runner.Outcome.CANCELLED
    pump.drain()
    job.refresh()
    assert job.status == "cancelled" and int(job.done) == 3 and RUNS[(job.job_id, 3)] == 0


def test_cancel_a_stalled_job(admin, pump):
    job = jobs.start(admin, "test_count", total=9, params={"n": 9})
    purge_jobs_queue()
    FAULTS[job.job_id] = 1
    runner.run_step(job.job_id, 0)
    job.refresh()
    assert jobs.view(job)["state"] == "stalled"
    assert jobs.cancel(admin, job.job_id).status == "cancelled"
    sweep_and_drain(pump, 3600)
    job.refresh()
    assert job.status == "cancelled"


# --------------------------------------------------------------------------- who may see a job

def test_a_job_belongs_to_its_starter_and_the_admins(org, admin, staff, other_org):
    staff_job = jobs.start(staff, "test_count", params={"n": 3}, wait=True)
    admin_job = jobs.start(admin, "test_count", params={"n": 3}, wait=True)
    assert jobs.get(staff, staff_job.job_id).job_id == staff_job.job_id
    assert jobs.get(admin, staff_job.job_id).job_id == staff_job.job_id  # admins see them all
    for viewer, job_id in ((staff, admin_job.job_id), (Viewer.of(org.client), staff_job.job_id),
                           (Viewer.of(other_org.admin), admin_job.job_id), (admin, "0" * 32), (admin, "../x"),
                           (admin, "A" * 32)):
        with pytest.raises(NotFound) as caught:
            jobs.get(viewer, job_id)
        assert caught.value.message == "No such job."
    for action in (jobs.cancel, jobs.retry):
        with pytest.raises(NotFound):
            action(staff, admin_job.job_id)
    assert Job.get(admin_job.job_id).status == "waiting"
    with pytest.raises(NotFound):
        jobs.get(admin, staff_job.job_id, kind="csv_import")


def test_the_status_api_answers_alike_for_others_jobs_and_missing_ones(http, org, other_org, pump):
    mine = jobs.start(Viewer.of(org.staff), "test_count", total=3, params={"n": 3})
    theirs = jobs.start(Viewer.of(other_org.admin), "test_count", params={"n": 3}, wait=True)
    admins = jobs.start(Viewer.of(org.admin), "test_count", params={"n": 3}, wait=True)
    pump.drain()
    http.sign_in(org.staff)
    found = reply_json(http.json("GET", f"/api/v1/jobs/{mine.job_id}"))
    assert (found["status"], found["done"], found["total"], found["message"]) == ("done", 3, 3, "Done.")
    answers = [http.json("GET", f"/api/v1/jobs/{job_id}") for job_id in (theirs.job_id, admins.job_id, "f" * 32)]
    assert {(a.status_code, a.body) for a in answers} == {(404, answers[0].body)}
    assert reply_json(answers[0]) == {"code": "not_found", "message": "No such job."}
    refused = http.json("POST", f"/api/v1/jobs/{admins.job_id}/cancel", {})
    assert refused.status_code == 404 and Job.get(admins.job_id).status == "waiting"
    final = http.json("POST", f"/api/v1/jobs/{mine.job_id}/cancel", {})
    assert final.status_code == 409 and reply_json(final)["code"] == "job_final"
    not_failed = http.json("POST", f"/api/v1/jobs/{mine.job_id}/retry", {})
    assert not_failed.status_code == 409 and reply_json(not_failed)["code"] == "not_retryable"


def test_the_status_page_and_its_cancel_form(http, org):
    job = jobs.start(Viewer.of(org.admin), "test_count", params={"n": 3}, total=3, wait=True)
    job.update(actions=[Job.status.set("running")])
    http.sign_in(org.admin)
    shown = http.get(f"/jobs/{job.job_id}")
    assert shown.status_code == 200
    body = shown.body.decode()
    assert "Still working — last progress at" in body and 'data-job-url="/api/v1/jobs/' in body
    assert 'data-poll-max="15000"' in body and ">Cancel</button>" in body
    cancelled = http.post_form(f"/jobs/{job.job_id}/cancel", {})
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == f"/jobs/{job.job_id}"
    assert Job.get(job.job_id).status == "cancelled"
    assert "Cancelled." in http.get(f"/jobs/{job.job_id}").body.decode()


# --------------------------------------------------------------------------- the sweeper

def test_the_sweeper_makes_one_request_when_nothing_is_due():
    calls = Counter()
    client = Job._get_connection().connection.client

    def count(model=None, **_):
        calls[model.name] += 1

    client.meta.events.register("after-call", count)
    try:
        result = runner.sweep(now=utcnow() - timedelta(days=365))
    finally:
        client.meta.events.unregister("after-call", count)
    assert result == {"due": 0, "requeued": 0, "job_ids": []}
    assert calls == Counter({"Query": 1})


# --------------------------------------------------------------------------- the local scheduler

@pytest.mark.parametrize("expression,after,expected", [
    ("rate(1 minute)", "2026-11-30T10:00:00", "2026-11-30T10:01:00"),
    ("rate(5 minutes)", "2026-11-30T10:00:30", "2026-11-30T10:05:30"),
    ("rate(1 hour)", "2026-11-30T10:00:00", "2026-11-30T11:00:00"),
    ("rate(2 days)", "2026-11-30T10:00:00", "2026-12-02T10:00:00"),
    ("cron(0 * * * ? *)", "2026-11-30T10:00:00", "2026-11-30T11:00:00"),
    ("cron(0/15 * * * ? *)", "2026-11-30T10:07:10", "2026-11-30T10:15:00"),
    ("cron(30 9 ? * MON-FRI *)", "2026-11-27T10:00:00", "2026-11-30T09:30:00"),  # Friday -> Monday
    ("cron(0 3 1 * ? *)", "2026-11-30T10:00:00", "2026-12-01T03:00:00"),
    ("cron(0 12 ? * 1 *)", "2026-11-30T10:00:00", "2026-12-06T12:00:00"),  # 1 = Sunday
])
def test_the_local_scheduler_fires_schedules_at_their_real_cadence(expression, after, expected):
    from datetime import datetime, timezone

    def epoch(text):
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()

    assert emulator.next_fire(expression, epoch(after)) == epoch(expected)


def test_the_pump_runs_the_sweeper_every_minute():
    from app import app

    pump = emulator.EventPump(app)
    assert "sweep_jobs" in pump.run_schedules(now=1_000_000.0)
    assert "sweep_jobs" not in pump.run_schedules(now=1_000_059.0)
    assert "sweep_jobs" in pump.run_schedules(now=1_000_060.0)
