"""Inviting N addresses: AWS requests by service and operation, and time, in moto.

Run: `python -m bench.invites [N ...]` (default 100 and 10,000). A request
carries at most 5,000 addresses, so larger N are sent as several requests,
as the window would.
"""
import sys
import time
from collections import Counter
from contextlib import contextmanager


def _environment():
    import os

    from chalicelib.local import emulator

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
    from chalicelib import accounts, invites, organisations
    from chalicelib.addresses import MAX_ADDRESSES

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
    ses = {op: c for (service, op), c in calls.items() if service == "ses"}
    target = -(-n // 25) + -(-n // 100)
    return {"n": n, "invited": invited, "seconds": round(seconds, 1), "dynamodb": sum(dynamodb.values()),
            "dynamodb_by_op": dynamodb, "dynamodb_target": f"<= {target} + small constant",
            "ses": sum(ses.values()), "ses_by_op": ses, "ses_target": f"<= {-(-n // 50)} bulk sends"}


def main(argv=None) -> None:
    sizes = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [100, 10_000]
    _environment()
    for n in sizes:
        r = invite(n)
        print(f"invite N={r['n']:,}: {r['invited']:,} invited in {r['seconds']} s (moto); "
              f"DynamoDB requests {r['dynamodb']} ({r['dynamodb_target']}) {r['dynamodb_by_op']}; "
              f"SES requests {r['ses']} ({r['ses_target']}) {r['ses_by_op']}", flush=True)


if __name__ == "__main__":
    main()
