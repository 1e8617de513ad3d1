"""Inviting N addresses: AWS requests by service and operation, and time, in moto.

Run: `python -m bench.invites [N ...]` (default 100 and 10,000). A request
carries at most 5,000 addresses, so larger N are sent as several requests,
as the window would.
"""
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager


def _environment():
    import os

    from tools.local import emulator

    if os.environ.get("AWS_ENDPOINT_URL"):  # already started (by another bench of this run)
        return
    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()


@contextmanager
def counting():
    """Every botocore request made meanwhile, as {(service, operation): n}."""
    import botocore.client

    calls = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        calls[(self.meta.service_model.service_name, operation)] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original


def invite(n: int) -> dict:
    from chalicelib.invitations import invites
    from chalicelib.invitations.addresses import MAX_ADDRESSES
    from chalicelib.people import accounts, organisations

    org, _token = organisations.create_organisation(f"Bench {n}")
    admin = accounts.create_account(accounts.new_account(org.org_id, f"admin@{org.org_id}.example.org", "Admin",
                                                         "admin", status="activated"))
    viewer = accounts.Viewer.of(admin)
    addresses = [f"person{i}@{org.org_id[:8]}.example.org" for i in range(n)]
    started = time.perf_counter()
    invited = 0
    with counting() as calls:
        for start in range(0, n, MAX_ADDRESSES):
            invited += invites.invite_many(viewer, addresses[start:start + MAX_ADDRESSES]).counts["invited"]
    seconds = time.perf_counter() - started
    dynamodb = {op: c for (service, op), c in calls.items() if service == "dynamodb"}
    ses = {op: c for (service, op), c in calls.items() if service in ("ses", "sqs")}
    target = -(-n // 25) + -(-n // 100)
    return {"n": n, "invited": invited, "seconds": round(seconds, 1), "dynamodb": sum(dynamodb.values()),
            "dynamodb_by_op": dynamodb, "dynamodb_target": f"<= {target} + small constant",
            "ses": sum(ses.values()), "ses_by_op": ses, "ses_target": f"<= {-(-n // 50)} mail-queue messages"}


def parse_peak_mib(rows: int) -> float:
    """Peak Python memory while streaming a `rows`-row file through the CSV reader
    and row checks, in a process of its own: moto's server threads share the
    bench's process, and tracemalloc would count what they allocate meanwhile."""
    code = f"from bench.invites import _parse_peak_mib; print(_parse_peak_mib({int(rows)}))"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip())


def _parse_peak_mib(rows: int) -> float:
    import tracemalloc

    from chalicelib.invitations import csv_rows
    from chalicelib.invitations.addresses import check_address

    def chunks():
        line = "email,first_name,last_name\n"
        for start in range(0, rows, 500):
            yield (line + "".join(f"row{i}@example.org,First{i},Last{i}\n"
                                  for i in range(start, min(rows, start + 500)))).encode()
            line = ""

    tracemalloc.start()
    for row in csv_rows.rows(chunks()):
        check_address(row.email)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 2**20, 2)


def _run_job(job_id: str) -> None:
    """Run a job's steps one after another, as the jobs queue's handler would."""
    from chalicelib.core.models import Job
    from chalicelib.jobs import runner

    job = Job.get(job_id, consistent_read=True)
    while job.status == "running":
        runner.run_step(job_id, int(job.step_seq))
        job = Job.get(job_id, consistent_read=True)


class FakeClock:
    """The pacer's clock: sleeping moves it on, so pacing is computed, not waited for."""

    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def largest_burst(sends, window: float = 1.0) -> int:
    """The most recipients sent within any `window` seconds, from [(time, recipients)]."""
    best, total, first = 0, 0, 0
    for last in range(len(sends)):
        total += sends[last][1]
        while sends[last][0] - sends[first][0] >= window:
            total -= sends[first][1]
            first += 1
        best = max(best, total)
    return best


def deliver_mail(rate: float):
    """Deliver the mail queue through `mailer.deliver` with a simulated clock at `rate` recipients/s."""
    from chalicelib.core import aws, config
    from chalicelib.invitations import mailer

    clock, sends = FakeClock(), []
    pacer = mailer.Pacer(rate, clock=clock.now, sleep=clock.sleep)
    take = pacer.take

    def recorded(wanted):
        count = take(wanted)
        sends.append((clock.now(), count))
        return count

    pacer.take = recorded
    sqs, queue_url = aws.client("sqs"), config.mail_queue_url()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            mailer.deliver(message["Body"], pacer)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return clock.t, sends


def simulate_mail(recipients: int, rate: float = 14.0) -> dict:
    """The mail queue's pacing for `recipients`, computed with the real `mailer.Pacer` on a
    simulated clock (no SES, no waiting): messages of BULK_LIMIT recipients shared by
    MAIL_CONSUMERS consumers, each paced at rate / MAIL_CONSUMERS as `mailer._pacer` does,
    each SES call at most `pacer.chunk` recipients. Returns the time to send everything,
    the SES requests and the largest number of recipients sent in any one second."""
    from chalicelib.invitations import mailer

    consumers = mailer.MAIL_CONSUMERS
    messages = [min(mailer.BULK_LIMIT, recipients - start) for start in range(0, recipients, mailer.BULK_LIMIT)]
    sends, finish, requests = [], 0.0, 0
    for consumer in range(consumers):
        clock = FakeClock()
        pacer = mailer.Pacer(max(1.0, rate / consumers), clock=clock.now, sleep=clock.sleep)
        for size in messages[consumer::consumers]:
            left = size
            while left:  # as mailer._deliver does: each call as many as the pacer allows now
                count = pacer.take(left)
                sends.append((clock.now(), count))
                left -= count
                requests += 1
        finish = max(finish, clock.t)
    sends.sort()
    return {"recipients": sum(n for _t, n in sends), "seconds": round(finish, 1), "ses_requests": requests,
            "largest_burst": largest_burst(sends), "rate": rate, "consumers": consumers}


def csv_import(rows: int, rate: float = 14.0) -> dict:
    """Dry run + import of a `rows`-row CSV as the jobs queue runs them (step after step),
    then its emails through the mail queue, paced at `rate` recipients per second."""
    from chalicelib.core import aws, config
    from chalicelib.invitations import imports
    from chalicelib.people import accounts, organisations

    org, _token = organisations.create_organisation(f"Bench CSV {rows}")
    admin = accounts.create_account(accounts.new_account(org.org_id, f"admin@{org.org_id}.example.org", "Admin",
                                                         "admin", status="activated"))
    job = imports.start_upload(accounts.Viewer.of(admin), "bench.csv")
    body = "email,first_name,last_name\n" + "".join(
        f"row{i}@{org.org_id[:8]}.example.org,First{i},Last{i}\n" for i in range(rows))
    aws.client("s3").put_object(Bucket=config.bucket(), Key=imports.upload_key(org.org_id, job["job_id"]),
                                Body=body.encode())
    del body
    started = time.perf_counter()
    with counting() as calls:
        imports.check_upload(imports.upload_key(org.org_id, job["job_id"]))
        _run_job(job["job_id"])
        checked = time.perf_counter() - started
        imports.commit_import(accounts.Viewer.of(admin), job["job_id"], send_email=True)
        _run_job(job["job_id"])
    seconds = time.perf_counter() - started
    with counting() as mail_calls:
        send_seconds, sends = deliver_mail(rate)
    by_service = Counter()
    for (service, _op), count in calls.items():
        by_service[service] += count
    mail_by_service = Counter()
    for (service, _op), count in mail_calls.items():
        mail_by_service[service] += count
    return {"rows": rows, "dry_run_seconds": round(checked, 1), "seconds": round(seconds, 1),
            "peak_mib": parse_peak_mib(rows), "per_1000": {s: round(c * 1000 / rows, 1) for s, c in by_service.items()},
            "calls": dict(by_service), "rate": rate, "send_seconds": round(send_seconds, 1),
            "recipients": sum(n for _t, n in sends), "ses_sends": mail_calls[("ses", "SendBulkTemplatedEmail")],
            "largest_burst": largest_burst(sends),
            "mail_per_1000": {s: round(c * 1000 / rows, 1) for s, c in mail_by_service.items()}}


def sweeper_cost() -> dict:
    """AWS requests of one sweep when no job is due."""
    from datetime import datetime, timezone

    from chalicelib.jobs import runner

    with counting() as calls:
        runner.sweep(now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    return dict(calls)


def main(argv=None) -> None:
    """Invites of N addresses (measured), a CSV import measured end to end (default 2,000 rows:
    requests per 1,000 rows, its emails through the real mail queue at a simulated rate), and the
    50,000-row import's email pacing computed with the real pacer on a simulated clock."""
    args = list(argv if argv is not None else sys.argv[1:])
    csv_rows = [int(a.split("=", 1)[1]) for a in args if a.startswith("csv=")] or [2_000]
    sizes = [int(a) for a in args if not a.startswith("csv=")] or [100, 10_000]
    _environment()
    for n in sizes:
        r = invite(n)
        print(f"invite N={r['n']:,}: {r['invited']:,} invited in {r['seconds']} s (moto); "
              f"DynamoDB requests {r['dynamodb']} ({r['dynamodb_target']}) {r['dynamodb_by_op']}; "
              f"mail queued {r['ses']} ({r['ses_target']}, sent later at SES's rate) {r['ses_by_op']}", flush=True)
    for rows in csv_rows:
        r = csv_import(rows)
        print(f"CSV import of {r['rows']:,} rows: dry run {r['dry_run_seconds']} s, total {r['seconds']} s (moto); "
              f"peak memory of the streamed read {r['peak_mib']} MiB (5,000 rows: {parse_peak_mib(5000)} MiB); requests per 1,000 rows {r['per_1000']} "
              f"(total {r['calls']})", flush=True)
        print(f"  its emails at a simulated MaxSendRate of {r['rate']:g}/s: {r['recipients']:,} recipients sent in "
              f"{r['send_seconds']:,} s (computed from the pacing; {r['recipients'] / r['rate']:,.0f} s is the floor); "
              f"SES requests {r['ses_sends']} (SendBulkTemplatedEmail, at most one second's worth each); largest burst in any 1 s "
              f"{r['largest_burst']} recipients (<= {r['rate']:g}: {'yes' if r['largest_burst'] <= r['rate'] else 'NO'}); "
              f"mail-queue requests per 1,000 rows {r['mail_per_1000']}", flush=True)
    for recipients in (csv_rows[-1], 50_000):
        m = simulate_mail(recipients)
        print(f"  {m['recipients']:,}-row import's emails at a simulated MaxSendRate of {m['rate']:g}/s, computed from "
              f"the pacing ({m['consumers']} consumers at {m['rate'] / m['consumers']:g}/s each): all sent after "
              f"{m['seconds']:,} s ({m['recipients'] / m['rate']:,.0f} s is the floor); SES requests "
              f"{m['ses_requests']:,}; largest burst in any 1 s {m['largest_burst']} recipients "
              f"(<= {m['rate']:g}: {'yes' if m['largest_burst'] <= m['rate'] else 'NO'})", flush=True)
    cost = sweeper_cost()
    print(f"Jobs sweeper when nothing is due: {sum(cost.values())} request(s) {cost} (bound: 1)", flush=True)


if __name__ == "__main__":
    main()
