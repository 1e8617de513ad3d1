"""Issue 10's figures for the row actions: Edit, Assign staff/group, Archive and
Restore of one account (bound: 3 DynamoDB requests each), and bulk Assign of
10,000 accounts ("all matching") and Transfer of a 10,000-client caseload, each
run as the background job it is (bound: 1,000/25 + c DynamoDB requests per
1,000 accounts, the job's own reads and writes included), with their time in moto.

`python -m bench.actions` alone starts its own moto (ACTIONS_BENCH_SIZE, default
10,000); `make bench` runs it on the shared emulator.
"""
import os
import sys

from bench.harness import Meter, line

def _seed(size: int):
    """An organisation whose one staff member holds every client (unmeasured, bulk-written)."""
    from chalicelib.core.models import Account, Group
    from chalicelib.core.tokens import new_id
    from chalicelib.people import organisations

    org, _ = organisations.create_organisation(f"Actions bench {size:,}")
    groups = [Group(org_id=org.org_id, group_id=new_id(), name=f"Group {i + 1}") for i in range(3)]
    admin = Account(org_id=org.org_id, account_id=new_id(), email="admin@actions.example.org", name="Bench Admin",
                    role="admin", status="activated")
    holder, taker = [Account(org_id=org.org_id, account_id=new_id(), email=f"staff{i}@actions.example.org",
                             name=f"Staff {i}", role="staff", status="activated") for i in range(2)]
    clients = [Account(org_id=org.org_id, account_id=new_id(), email=f"c{i}@actions.example.org",
                       name=f"Client {i:05d}", role="client", status="activated", staff_id=holder.account_id,
                       staff_email=holder.email) for i in range(size)]
    with Group.batch_write() as batch:
        for group in groups:
            batch.save(group)
    with Account.batch_write() as batch:
        for person in [admin, holder, taker, *clients]:
            batch.save(person)
    # the email claims the edit moves
    from chalicelib.core.models import Lookup
    from chalicelib.people.accounts import email_lookup_key
    Lookup(key=email_lookup_key(org.org_id, clients[0].email), org_id=org.org_id,
           account_id=clients[0].account_id).save()
    return org, admin, holder, taker, groups, clients


def run(meter: Meter, size: int = 10_000) -> None:
    from chalicelib.actions import bulk, rows
    from chalicelib.people.accounts import Viewer

    org, admin, holder, taker, groups, clients = _seed(size)
    viewer = Viewer.of(admin)
    one = clients[0].account_id
    print(f"  one account (organisation of {size:,} clients)")
    singles = [
        ("Edit (name, email, phone)", lambda: rows.edit(viewer, one, name="Renamed Client",
                                                          email="renamed@actions.example.org",
                                                          phone="+44 20 7946 0000")),
        ("Assign staff/group", lambda: rows.assign(viewer, one, staff_id=taker.account_id,
                                                   group_id=groups[0].group_id)),
        ("Archive (no live session)", lambda: rows.archive(viewer, one)),
        ("Restore", lambda: rows.restore(viewer, one)),
    ]
    for label, action in singles:
        with meter.measure() as cost:
            action()
        n = cost.count("dynamodb")
        line(label, f"{n} DynamoDB requests", "<= 3", n <= 3)
        print(f"      {cost.summary()}; {cost.seconds * 1000:.0f} ms in moto")

    # "Select all N matching" (role = Client) then Assign a group: a background job, its steps run one after
    # another as the jobs queue runs them (collect the selection, then change a part a step).
    with meter.measure() as cost:
        outcome = bulk.run(viewer, "assign", {"group_id": groups[1].group_id}, filters={"role": "client"})
        job = _run_job(outcome.job.job_id)
    _bulk_line(f"Bulk assign of {size:,} accounts (all matching, a job of {int(job.step_seq)} steps)", cost, size,
               job.summary["counts"].get("changed", 0))

    with meter.measure() as cost:
        outcome = bulk.transfer(viewer, holder.account_id, taker.account_id)
        job = _run_job(outcome.job.job_id)
    _bulk_line(f"Transfer caseload of {size:,} clients (a job of {int(job.step_seq)} steps)", cost, size,
               job.summary["counts"].get("changed", 0))


def _run_job(job_id: str):
    """A job's steps one after another, as the jobs queue's handler runs them; the job, final."""
    from chalicelib.core.models import Job
    from chalicelib.jobs import runner

    job = Job.get(job_id, consistent_read=True)
    while job.status == "running":
        runner.run_step(job_id, int(job.step_seq))
        job = Job.get(job_id, consistent_read=True)
    assert job.status == "done", job.error
    return job


def _bulk_line(label: str, cost, size: int, changed: int) -> None:
    per_thousand = cost.count("dynamodb") * 1000 / size
    bound = 1000 / 25 + 5
    line(label, f"{per_thousand:.1f} DynamoDB requests per 1,000", f"<= {bound:g} (1000/25 + 5)",
         per_thousand <= bound)
    print(f"      {changed:,} changed; {cost.summary()}; {cost.seconds:.1f} s in moto")


def main() -> int:
    meter = Meter()
    from tools.local import emulator

    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()
    run(meter, int(os.environ.get("ACTIONS_BENCH_SIZE", "10000")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
