"""Issue 2's operations as a browser meets them: sign in (POST /signin), then
View Clients (the page, its JavaScript partial, the JSON twin) on the seeded
organisation, through Chalice's test client as Lambda would run the routes.

`python -m bench.pages ORG_ID ACCOUNT_ID`, started by `bench.run` against its
moto server: in a process of its own, the peak memory is the app's alone.
Capacity units are what the endpoint reports: moto's are nominal (1 per
Query, 1 per key of a BatchGetItem), AWS's follow the bytes read.
"""
import sys

from bench.harness import Meter, line
from tests.http_client import Http

PASSWORD = "bench-admin-passphrase"


def main(org_id: str, account_id: str) -> None:
    meter = Meter()
    from chalice.test import Client

    import app
    from chalicelib.core.models import Account
    from chalicelib.people import passwords

    admin = Account.get(org_id, account_id)
    admin.update(actions=[Account.password_hash.set(passwords.hash_password(PASSWORD))])
    with Client(app.app) as client:
        browser = Http(client)

        def sign_in():
            browser.cookies.clear()  # a new visitor each time
            browser.sign_in(admin, PASSWORD)

        _measure(meter, "sign in (POST /signin, argon2id verify)", sign_in,
             "argon2id's 19 MiB is C memory, not traced")
        browser.get("/clients")  # a warm function: templates compiled, clients made
        for label, path, headers in [
            ("View Clients (GET /clients)", "/clients", {}),
            ("View Clients, role + status filters", "/clients?role=client&status=activated", {}),
            ("View Clients, search 'ma'", "/clients?q=ma", {}),
            ("the table partial JavaScript fetches", "/clients?status=provisioned", {"x-requested-with": "caseload"}),
            ("JSON twin (GET /api/v1/clients)", "/api/v1/clients?size=100", {"accept": "application/json"}),
        ]:
            def load(path=path, headers=headers):
                reply = browser.get(path, headers)
                assert reply.status_code == 200, (path, reply.status_code)

            _measure(meter, label, load)


def _measure(meter, label: str, operation, note: str = "") -> None:
    """Requests and time from one run, peak memory from a second (tracemalloc slows what it watches)."""
    with meter.measure() as cost:
        operation()
    with meter.measure(memory=True) as traced:
        operation()
    line(label, f"{cost.summary()}, {cost.seconds * 1000:.0f} ms, peak {traced.peak_bytes / 2 ** 20:.1f} MiB", note)


if __name__ == "__main__":
    main(*sys.argv[1:3])
