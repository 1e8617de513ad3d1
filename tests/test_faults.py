"""Fault injection: one test per fault, each asserting exact counts afterwards
(nobody lost, nobody mailed twice, the job final). The crash between an
Idempotency-Key and its activity is in test_activities_api.py; the generic
job faults (lost message, crash before a commit) in test_jobs.py."""
from collections import Counter
from datetime import timedelta

import pytest
import requests
from botocore.awsrequest import AWSResponse
from pynamodb.exceptions import TransactWriteError

from chalicelib.core.models import Account, Job, utcnow
from chalicelib.invitations import csv_rows, imports, invites, mailer
from chalicelib.jobs import queue, runner
from chalicelib.metrics import counters, stream, store
from tests.conftest import reply_json
from tests.test_metrics import READER
from tools.local import outbox


def people(n: int, tag: str) -> list:
    return [f"f{i}.{tag}@faults.example.org" for i in range(n)]


def upload(http, content: bytes) -> str:
    started = reply_json(http.json("POST", "/api/v1/invites/uploads", {"filename": "people.csv"}))
    reply = requests.post(started["upload"]["url"], data=started["upload"]["fields"],
                          files={"file": ("people.csv", content, "text/csv")}, timeout=30)
    assert reply.status_code in (200, 201, 204)
    return started["job_id"]


def state(http, job_id: str) -> dict:
    return reply_json(http.json("GET", f"/api/v1/invites/uploads/{job_id}"))


def commit(http, job_id: str, send_email: bool = True):
    return http.json("POST", f"/api/v1/invites/uploads/{job_id}/commit", {"send_email": send_email})


def sweep_later(pump, minutes: int = 10) -> None:
    """The sweeper's round `minutes` from now, and everything it queued run (it also re-queues the
    session's other uploads that still wait for a file: each looks again, one message each)."""
    runner.sweep(now=utcnow() + timedelta(minutes=minutes))
    pump.drain(rounds=1000)


def mails_per_address(emails) -> Counter:
    wanted = set(emails)
    return Counter(m["to"] for m in outbox.sent_messages() if m["to"] in wanted)


def accounts_of(org_id: str, emails) -> list:
    found = []
    for email in emails:
        found += [Account.get(a.org_id, a.account_id) for a in Account.by_email.query(email) if a.org_id == org_id]
    return found


@pytest.fixture
def admin_http(http, org, pump):
    pump.drain(rounds=1000)  # whatever earlier tests left queued (one message a round), so counts here are exact
    http.sign_in(org.admin)
    return http


def assert_everyone_invited_once(org, emails):
    made = accounts_of(org.org_id, emails)
    assert len(made) == len(emails)  # nobody lost, nobody twice
    assert {a.invite_state for a in made} == {"invited"}
    assert mails_per_address(emails) == Counter({e: 1 for e in emails})  # nobody mailed twice


# --------------------------------------------------------------------------- the import

def test_a_crash_in_the_middle_of_a_dry_run(admin_http, pump, org, monkeypatch):
    emails = people(30, "dry")
    real_rows = csv_rows.rows

    def crash_after_ten(chunks, size=None):
        for index, row in enumerate(real_rows(chunks, size)):
            if index == 10:
                monkeypatch.setattr(csv_rows, "rows", real_rows)
                raise MemoryError("Lambda ran out of memory")
            yield row

    monkeypatch.setattr(csv_rows, "rows", crash_after_ten)
    job_id = upload(admin_http, ("email\n" + "\n".join(emails) + "\n").encode())
    pump.drain()
    stalled = state(admin_http, job_id)
    assert stalled["status"] == "checking" and stalled["job"]["state"] == "stalled"
    assert state(admin_http, job_id)["job"]["can_cancel"]  # Cancel works while it is stalled
    sweep_later(pump)
    ready = state(admin_http, job_id)
    assert ready["status"] == "ready" and ready["dry_run"]["rows"] == 30 and ready["dry_run"]["would_invite"] == 30
    commit(admin_http, job_id)
    pump.drain()
    done = state(admin_http, job_id)
    assert done["status"] == "done" and done["result"]["invited"] == 30
    assert_everyone_invited_once(org, emails)


def test_a_failed_queue_send_after_a_state_update(admin_http, pump, org, monkeypatch):
    """Invite moves the job to importing, then the queue refuses the message: the sweeper sends it."""
    emails = people(12, "send")
    job_id = upload(admin_http, ("email\n" + "\n".join(emails) + "\n").encode())
    pump.drain()
    real_send = queue.send

    def refused(*args):
        raise ConnectionError("SQS unavailable")

    monkeypatch.setattr(queue, "send", refused)
    assert commit(admin_http, job_id).status_code == 200
    monkeypatch.setattr(queue, "send", real_send)
    pump.drain()
    waiting = state(admin_http, job_id)
    assert waiting["status"] == "importing" and waiting["rows_done"] == 0
    assert Job.get(job_id).due == "due"  # the sweeper will find it
    sweep_later(pump)
    done = state(admin_http, job_id)
    assert done["status"] == "done" and done["result"]["invited"] == 12 and done["job"]["final"]
    assert_everyone_invited_once(org, emails)


def test_dynamodb_throttling_in_the_middle_of_an_import_chunk(admin_http, pump, org, monkeypatch):
    monkeypatch.setattr(invites, "TRANSACTION_ITEMS", 30)  # 7 people (4 items each) per transaction
    emails = people(40, "ddb")
    job_id = upload(admin_http, ("email\n" + "\n".join(emails) + "\n").encode())
    pump.drain()
    real_chunk, calls = invites._create_chunk, []

    def throttled_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise TransactWriteError("ProvisionedThroughputExceededException: rate of requests exceeds the "
                                     "allowed throughput")
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(invites, "_create_chunk", throttled_third)
    commit(admin_http, job_id)
    pump.drain()
    half = state(admin_http, job_id)
    assert half["status"] == "importing" and half["job"]["state"] == "stalled"
    assert len(accounts_of(org.org_id, emails)) == 2 * (30 // 4)  # two transactions had gone through
    sweep_later(pump)
    done = state(admin_http, job_id)
    assert done["status"] == "done" and done["result"] == {"invited": 40, "exists": 0, "invalid": 0,
                                                           "suppressed": 0, "duplicates": 0}
    assert_everyone_invited_once(org, emails)


def test_a_lost_import_message_is_finished_by_the_sweeper(admin_http, pump, org):
    from tests.test_jobs import purge_jobs_queue

    emails = people(15, "lost")
    job_id = upload(admin_http, ("email\n" + "\n".join(emails) + "\n").encode())
    pump.drain()
    commit(admin_http, job_id)
    assert purge_jobs_queue() == 1  # the message right after Invite is lost
    pump.drain()
    assert state(admin_http, job_id)["status"] == "importing"
    sweep_later(pump)
    assert state(admin_http, job_id)["status"] == "done"
    assert_everyone_invited_once(org, emails)


def purge(queue_url: str) -> int:
    """Lose every pending message of a queue (PurgeQueue is allowed once a minute: delete them instead)."""
    from chalicelib.core import aws
    sqs, lost = aws.client("sqs"), 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=0).get("Messages", [])
        if not messages:
            return lost
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        lost += len(messages)


def test_a_lost_file_arrived_notification_is_recovered_by_the_sweeper(admin_http, pump, org):
    from chalicelib.core import config

    emails = people(12, "nofile")
    started = reply_json(admin_http.json("POST", "/api/v1/invites/uploads", {"filename": "people.csv"}))
    job_id = started["job_id"]
    pump.drain()  # its first step looks for the file: not there yet, it looks again later
    assert (Job.get(job_id).status, Job.get(job_id).phase, Job.get(job_id).due) == ("running", "upload", "due")
    reply = requests.post(started["upload"]["url"], data=started["upload"]["fields"],
                          files={"file": ("people.csv", ("email\n" + "\n".join(emails) + "\n").encode(),
                                          "text/csv")}, timeout=30)
    assert reply.status_code in (200, 201, 204)
    assert purge(config.upload_queue_url()) >= 1  # S3's "file arrived" notification is lost
    pump.drain()
    assert state(admin_http, job_id)["status"] == "waiting"  # nothing woke it
    sweep_later(pump, minutes=2)  # the sweeper's round a minute or two later: the step finds the file
    ready = state(admin_http, job_id)
    assert ready["status"] == "ready" and ready["dry_run"]["rows"] == 12 and ready["dry_run"]["would_invite"] == 12
    commit(admin_http, job_id)
    pump.drain()
    assert state(admin_http, job_id)["result"]["invited"] == 12
    assert_everyone_invited_once(org, emails)


def test_an_upload_whose_file_never_comes_fails_after_the_link_expired(admin_http, pump, org, monkeypatch):
    job_id = reply_json(admin_http.json("POST", "/api/v1/invites/uploads", {"filename": "x.csv"}))["job_id"]
    pump.drain()
    monkeypatch.setattr(imports, "UPLOAD_SECONDS", -imports.UPLOAD_POLL_SECONDS - 1)  # the link has expired
    sweep_later(pump, minutes=2)
    failed = state(admin_http, job_id)
    assert failed["status"] == "failed" and "No file arrived" in failed["message"]
    assert Job.get(job_id).due is None  # nothing left for the sweeper


# --------------------------------------------------------------------------- SES

class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


THROTTLED = (b'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
             b'<Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error>'
             b'<RequestId>x</RequestId></ErrorResponse>')


@pytest.fixture
def ses_hooks(monkeypatch):
    """The paced SES client, with hooks removed afterwards; few, quick retries."""
    monkeypatch.setenv("CASELOAD_SES_ATTEMPTS", "2")
    monkeypatch.setattr(mailer, "RETRY_DELAY_SECONDS", 0)
    mailer._paced_client.cache_clear()
    client = mailer._ses_with_retries()
    added = []

    def register(event, handler):
        client.meta.events.register(event, handler)
        added.append((event, handler))

    yield register
    for event, handler in added:
        client.meta.events.unregister(event, handler)
    mailer._paced_client.cache_clear()


def reject_in_bulk_sends(ses_hooks, bad: str, error: str) -> None:
    """SES answers MessageRejected for `bad` in every bulk send (moto accepts every address):
    the address is taken out of the call and its status put back, in its place, in the reply."""
    def drop_bad(params, **_):
        destinations = params["Destinations"]
        params["Destinations"] = [d for d in destinations if d["Destination"]["ToAddresses"] != [bad]]
        drop_bad.index = next((i for i, d in enumerate(destinations) if d["Destination"]["ToAddresses"] == [bad]), None)

    def reject_bad(parsed, **_):
        if drop_bad.index is not None:
            parsed["Status"].insert(drop_bad.index, {"Status": "MessageRejected", "Error": error})

    ses_hooks("before-parameter-build.ses.SendBulkTemplatedEmail", drop_bad)
    ses_hooks("after-call.ses.SendBulkTemplatedEmail", reject_bad)



def test_ses_throttling_every_call_for_a_while_then_recovering(org, pump, ses_hooks):
    pump.drain()
    emails = people(60, "thr")
    sends = Counter()

    def throttle_first_three(request, **_):
        sends["attempts"] += 1
        if sends["attempts"] <= 3:
            return AWSResponse(request.url, 400, {}, _Raw(THROTTLED))
        return None

    ses_hooks("before-send.ses.SendBulkTemplatedEmail", throttle_first_three)
    report = invites.invite_many(invites.accounts.Viewer.of(org.admin), emails)
    assert report.counts["invited"] == 60
    pump.drain()
    # 2 messages (50 + 10), one SES call each (the tests' rate allows 50 a call), 2 tries a call: the
    # first call's 2 tries throttled (its 50 come back through the queue), the second call's first try
    # throttled and its retry went out, then the 50 came back and went out: 5 tries in all, whatever order.
    assert sends["attempts"] == 5
    assert_everyone_invited_once(org, emails)


def test_throttled_after_every_retry_is_not_sent_with_the_reason_and_resend_picks_it_up(org, pump, ses_hooks):
    pump.drain()
    emails = people(3, "never")

    def always(request, **_):
        return AWSResponse(request.url, 400, {}, _Raw(THROTTLED))

    ses_hooks("before-send.ses.SendBulkTemplatedEmail", always)
    invites.invite_many(invites.accounts.Viewer.of(org.admin), emails)
    pump.drain()
    made = accounts_of(org.org_id, emails)
    assert {a.invite_state for a in made} == {"not_sent"}
    assert all("throttled after retries" in a.invite_error for a in made)
    assert mails_per_address(emails) == Counter()
    from chalicelib.invitations import lifecycle
    assert {lifecycle.invitation_state(a) for a in made} == {"not_sent"}
    client = mailer._ses_with_retries()
    client.meta.events.unregister("before-send.ses.SendBulkTemplatedEmail", always)
    results = lifecycle.resend(invites.accounts.Viewer.of(org.admin), [a.account_id for a in made])
    assert {r["status"] for r in results} == {"sent"}
    pump.drain()
    assert_everyone_invited_once(org, emails)


def test_ses_rejecting_one_address_in_a_bulk_send(org, pump, ses_hooks):
    pump.drain()
    emails = people(5, "rej")
    bad = emails[2]

    reject_in_bulk_sends(ses_hooks, bad, "Email address is on the account-level suppression list")
    invites.invite_many(invites.accounts.Viewer.of(org.admin), emails)
    pump.drain()
    pump.drain()  # a redelivered message changes nothing
    by_email = {a.email: a for a in accounts_of(org.org_id, emails)}
    assert by_email[bad].invite_state == "not_sent" and "suppression list" in by_email[bad].invite_error
    good = [e for e in emails if e != bad]
    assert {by_email[e].invite_state for e in good} == {"invited"}
    assert mails_per_address(emails) == Counter({e: 1 for e in good})


def test_a_redelivered_mail_message_mails_nobody_twice(org, pump, monkeypatch):
    pump.drain()
    emails = people(4, "twice")
    bodies = []
    real = mailer._send_message
    monkeypatch.setattr(mailer, "_send_message", lambda sqs, message, delay=0: (bodies.append(message),
                                                                                 real(sqs, message, delay)))
    invites.invite_many(invites.accounts.Viewer.of(org.admin), emails)
    pump.drain()
    import json
    assert mailer.deliver(json.dumps(bodies[0])) == {}  # SQS delivers it again: claimed already
    assert_everyone_invited_once(org, emails)


def test_a_mail_worker_that_dies_mid_message_is_taken_over_after_its_lease(org, pump, monkeypatch):
    """A worker hands a chunk to SES and dies before recording it. Its claim is held only for
    MAIL_LEASE; the message's redelivery after that sends the rest, records the dead worker's
    chunk as Not sent (interrupted, for Resend) and mails nobody twice."""
    import json

    from bench.invites import FakeClock
    pump.drain()
    emails = people(9, "dies")
    bodies = []
    monkeypatch.setattr(mailer, "_send_message", lambda sqs, message, delay=0: bodies.append(message))
    invites.invite_many(invites.accounts.Viewer.of(org.admin), emails)
    assert len(bodies) == 1 and len(bodies[0]["invitations"]) == 9
    body = json.dumps(bodies[0])
    clock = FakeClock()
    real_send, calls = mailer._send_bulk, []

    def dies_after_the_second_call(items):
        calls.append(len(items))
        outcome = real_send(items)
        if len(calls) == 2:
            raise SystemExit("the Lambda timed out")  # SES took the chunk; nothing was recorded
        return outcome

    monkeypatch.setattr(mailer, "_send_bulk", dies_after_the_second_call)
    with pytest.raises(SystemExit):
        mailer.deliver(body, mailer.Pacer(3, clock=clock.now, sleep=clock.sleep))  # chunks of 3
    monkeypatch.setattr(mailer, "_send_bulk", real_send)
    with pytest.raises(mailer.ClaimHeld):  # redelivered while the lease runs: refused, the queue tries later
        mailer.deliver(body, mailer.Pacer(3, clock=clock.now, sleep=clock.sleep))
    from chalicelib.core.models import Lookup
    Lookup(key=f"mail#{bodies[0]['batch_id']}").update(actions=[Lookup.valid_until.set(utcnow() - timedelta(seconds=1))])
    outcomes = mailer.deliver(body, mailer.Pacer(3, clock=clock.now, sleep=clock.sleep))  # the lease ran out
    assert Counter(outcomes.values()) == Counter({"interrupted": 3, "sent": 3})
    assert mailer.deliver(body) == {}  # and once more after it finished: nothing
    made = {a.email: a for a in accounts_of(org.org_id, emails)}
    assert Counter(a.invite_state for a in made.values()) == Counter({"invited": 6, "not_sent": 3})
    assert {made[e].invite_error for e in emails[3:6]} == {mailer.REASONS["interrupted"]}
    assert mails_per_address(emails) == Counter({e: 1 for e in emails})  # the dead worker's 3 included: once each


def test_the_import_summary_counts_not_sent_separately(admin_http, pump, org, ses_hooks):
    emails = people(4, "sum")
    bad = emails[1]

    reject_in_bulk_sends(ses_hooks, bad, "Address blacklisted")
    job_id = upload(admin_http, ("email\n" + "\n".join(emails) + "\n").encode())
    pump.drain()
    commit(admin_http, job_id)
    pump.drain()
    done = state(admin_http, job_id)
    assert done["status"] == "done" and done["result"]["invited"] == 4
    assert done["mail"] == {"sent": 3, "not_sent": 1, "queued": 0}
    page = admin_http.get(f"/invites/uploads/{job_id}").body.decode()
    assert "not sent" in page.lower()


# --------------------------------------------------------------------------- the accounts stream

def test_a_poison_record_in_a_stream_batch(org, pump):
    from tests.conftest import make_account

    pump.drain()
    READER.read()
    make_account(org.org_id, name="Before Poison")
    make_account(org.org_id, name="After Poison")
    records = [r for r in READER.read() if r["dynamodb"]["Keys"]["org_id"]["S"] == org.org_id]
    assert len(records) == 2
    poison = {"eventID": "p", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
              "eventSourceARN": records[0]["eventSourceARN"],
              "dynamodb": {"SequenceNumber": str(int(records[0]["dynamodb"]["SequenceNumber"]) + 1).zfill(21),
                           "Keys": {}, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    batch = [records[0], poison, records[1]]
    reply = stream.apply_stream_batch({"Records": batch})
    assert reply == {"batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]}
    assert store.read_counters(org.org_id, counters.combo_key())["n"] == 5  # the rest applied
    # Lambda retries from the poison record on (it fails again and goes to the failure queue at last).
    assert stream.apply_stream_batch({"Records": batch[1:]})["batchItemFailures"] == reply["batchItemFailures"]
    assert stream.apply_stream_batch({"Records": batch[2:]}) == {"batchItemFailures": []}
    assert store.read_counters(org.org_id, counters.combo_key())["n"] == 5  # exact: each counted once
