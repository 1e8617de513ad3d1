"""Deleting a group of 10,000 members: DynamoDB requests per 1,000 members
(target: at most 1,000/25 + a small constant) and total time, in moto.

The delete runs as it does for real: the request marks the group deleted and
ungroups the first members; the rest is ungrouped by the background job
(chalicelib.jobs, run step by step as its queue runs them), each step reading one page of the group's index partition,
the members whole (BatchGetItem) and ungrouping them through
accounts.change_many (TransactWriteItems). Run: `python -m bench.groups [N]`
(BENCH_GROUP_SIZE or 10,000).
"""
import os
import sys
import time

from bench.invites import _environment, counting


def _seed(org_id: str, group_id: str, n: int) -> None:
    from chalicelib.core.models import Account, utcnow
    from chalicelib.core.tokens import new_id

    now = utcnow()
    with Account.batch_write() as batch:
        for index in range(n):
            batch.save(Account(org_id=org_id, account_id=new_id(), email=f"member{index}@{org_id[:8]}.example.org",
                               name=f"Member {index:05d}", role="client",
                               status="archived" if index % 20 == 0 else "activated", group_id=group_id,
                               created_at=now))


def delete_group(n: int) -> dict:
    from chalicelib.core.models import Job
    from chalicelib.groups import deletion, manage
    from chalicelib.jobs import runner
    from chalicelib.people import accounts, organisations

    org, _token = organisations.create_organisation(f"Bench groups {n}")
    admin = accounts.create_account(accounts.new_account(org.org_id, f"admin@{org.org_id}.example.org", "Admin",
                                                         "admin", status="activated"))
    viewer = accounts.Viewer.of(admin)
    group = manage.create_group(viewer, "Everyone")
    _seed(org.org_id, group.group_id, n)
    started = time.perf_counter()
    with counting() as calls:
        deleted = deletion.delete_group(viewer, group.group_id)  # the request (the rest: the job's steps)
        request_calls = sum(c for (service, _op), c in calls.items() if service == "dynamodb")
        steps = 0
        job = Job.get(deleted.job_id, consistent_read=True) if deleted.job_id else None
        while job is not None and job.status == "running":  # the background job, as the jobs queue runs it
            runner.run_step(job.job_id, int(job.step_seq))
            steps += 1
            job = Job.get(job.job_id, consistent_read=True)
    seconds = time.perf_counter() - started
    dynamodb = {op: c for (service, op), c in calls.items() if service == "dynamodb"}
    total = sum(dynamodb.values())
    from chalicelib.core.models import Account

    left = sum(1 for part in ("L", "A") for _ in Account.group_name.query(f"{org.org_id}#{group.group_id}#{part}"))
    return {"n": n, "steps": steps, "seconds": round(seconds, 1), "dynamodb": total, "per_1000": round(total * 1000 / n, 1),
            "request_dynamodb": request_calls, "by_op": dynamodb, "still_in_group": left,
            "target_per_1000": f"<= {1000 // 25} + small constant"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else int(os.environ.get("BENCH_GROUP_SIZE", "10000"))
    _environment()
    result = delete_group(n)
    ops = ", ".join(f"{op} {c}" for op, c in sorted(result["by_op"].items()))
    print(f"Delete a group of {result['n']:,} members: {result['dynamodb']:,} DynamoDB requests "
          f"({result['per_1000']} per 1,000 members; target {result['target_per_1000']}) in "
          f"{result['seconds']} s in moto; the request itself {result['request_dynamodb']} requests; "
          f"{result['still_in_group']} left in the group [{ops}]", flush=True)
    return 0 if result["still_in_group"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
