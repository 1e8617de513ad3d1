"""Issue 2's operations as a browser meets them: sign in (POST /signin), then
View Clients (the page, its JavaScript partial, the JSON twin) on the seeded
organisation, through Chalice's test client as Lambda would run the routes.

`python -m bench.pages ORG_ID ACCOUNT_ID`, started by `bench.run` against its
moto server: in a process of its own, the peak memory is the app's alone.
Capacity units are what the endpoint reports: moto's are nominal (1 per
Query, 1 per key of a BatchGetItem), AWS's follow the bytes read.
"""
import re
import sys
from urllib.parse import urlencode

from bench.harness import Meter, line

PASSWORD = "bench-admin-passphrase"


class Browser:
    """Cookies and the page's CSRF token, as a browser keeps them."""

    def __init__(self, client):
        self.client, self.cookies = client, {}

    def request(self, method: str, path: str, body: bytes = b"", headers=None):
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        reply = self.client.http.request(method, path, body=body, headers={
            "user-agent": "bench", "x-forwarded-for": "203.0.113.7", **({"cookie": cookie} if cookie else {}),
            **(headers or {})})
        set_cookie = reply.headers.get("set-cookie") or reply.headers.get("Set-Cookie") or []
        for value in set_cookie if isinstance(set_cookie, list) else [set_cookie]:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";")[0]
        return reply

    def csrf(self, path: str) -> str:
        page = self.request("GET", path).body.decode()
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def main(org_id: str, account_id: str) -> None:
    meter = Meter()
    from chalice.test import Client

    import app
    from chalicelib import passwords
    from chalicelib.models import Account

    admin = Account.get(org_id, account_id)
    admin.update(actions=[Account.password_hash.set(passwords.hash_password(PASSWORD))])
    with Client(app.app) as client:
        browser = Browser(client)

        def sign_in():
            browser.cookies.clear()  # a new visitor each time
            form = urlencode({"email": admin.email, "password": PASSWORD, "csrf_token": browser.csrf("/signin")})
            reply = browser.request("POST", "/signin", form.encode(),
                                    {"content-type": "application/x-www-form-urlencoded"})
            assert reply.status_code == 303, reply.body

        _measure(meter, "sign in (POST /signin, argon2id verify)", sign_in,
             "argon2id's 19 MiB is C memory, not traced")
        browser.request("GET", "/clients")  # a warm function: templates compiled, clients made
        for label, path, headers in [
            ("View Clients (GET /clients)", "/clients", {}),
            ("View Clients, role + status filters", "/clients?role=client&status=activated", {}),
            ("View Clients, search 'ma'", "/clients?q=ma", {}),
            ("the table partial JavaScript fetches", "/clients?status=provisioned", {"x-requested-with": "caseload"}),
            ("JSON twin (GET /api/v1/clients)", "/api/v1/clients?size=100", {"accept": "application/json"}),
        ]:
            def load(path=path, headers=headers):
                reply = browser.request("GET", path, headers=headers)
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
