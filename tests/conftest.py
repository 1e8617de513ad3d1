"""One moto server (in this process, on loopback) for the whole run, resources
created once from the project's definitions; every test gets a fresh
organisation, which is all the isolation a multi-tenant app needs."""
import re
import socket
from dataclasses import dataclass

import pytest

from chalicelib.local import emulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


APP_PORT = _free_port()
APP_URL = f"http://127.0.0.1:{APP_PORT}"
_moto, ENDPOINT = emulator.start_moto_server()
emulator.configure_environment(APP_URL, ENDPOINT)
RESOURCES = emulator.create_resources()

from chalice.test import Client  # noqa: E402  (the environment must be set first)

from app import app  # noqa: E402
from chalicelib import accounts, organisations, passwords  # noqa: E402
from chalicelib.models import Account, Group  # noqa: E402
from chalicelib.tokens import new_id  # noqa: E402

PASSWORD = "correct-horse-battery-staple"
_PASSWORD_HASH = passwords.hash_password(PASSWORD)


@dataclass
class Org:
    org_id: str
    name: str
    join_token: str
    admin: Account
    staff: Account
    client: Account


def make_account(org_id: str, role: str = "client", status: str = "activated", name: str = None,
                 email: str = None, **attributes) -> Account:
    name = name or f"{role.title()} {new_id()[:6]}"
    email = email or f"{name.lower().replace(' ', '.')}@{org_id[:8]}.example.org"
    account = accounts.new_account(org_id, email, name, role, status=status, password_hash=_PASSWORD_HASH,
                                   **attributes)
    return accounts.create_account(account)


@pytest.fixture
def org() -> Org:
    organisation, token = organisations.create_organisation(f"Org {new_id()[:6]}")
    admin = make_account(organisation.org_id, "admin", name="Ada Admin")
    staff = make_account(organisation.org_id, "staff", name="Sam Staff")
    client = make_account(organisation.org_id, "client", name="Cleo Client", staff_id=staff.account_id,
                          staff_email=staff.email)
    return Org(organisation.org_id, organisation.name, token, admin, staff, client)


@pytest.fixture
def other_org() -> Org:
    organisation, token = organisations.create_organisation(f"Other {new_id()[:6]}")
    admin = make_account(organisation.org_id, "admin", name="Olga Other")
    staff = make_account(organisation.org_id, "staff", name="Oscar Other")
    client = make_account(organisation.org_id, "client", name="Otto Other", staff_id=staff.account_id)
    return Org(organisation.org_id, organisation.name, token, admin, staff, client)


@pytest.fixture
def group(org) -> Group:
    found = Group(org_id=org.org_id, group_id=new_id(), name="Job Club")
    found.save()
    return found


@pytest.fixture(scope="session")
def chalice_client():
    with Client(app, stage_name="local") as client:
        yield client


class Http:
    """A chalice.test client with a cookie jar and the page's CSRF token, like a browser."""

    def __init__(self, client):
        self.client = client
        self.cookies = {}

    def _headers(self, headers=None):
        merged = {"user-agent": "pytest", "x-forwarded-for": "203.0.113.9"}
        if self.cookies:
            merged["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        merged.update(headers or {})
        return merged

    def _remember(self, response):
        values = response.headers.get("Set-Cookie") or response.headers.get("set-cookie")
        for value in (values if isinstance(values, list) else [values] if values else []):
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";")[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        return response

    def get(self, path, headers=None):
        return self._remember(self.client.http.get(path, headers=self._headers(headers)))

    def request(self, method, path, body=b"", headers=None):
        return self._remember(self.client.http.request(method, path, headers=self._headers(headers), body=body))

    def csrf(self, path="/signin") -> str:
        response = self.get(path)
        if response.status_code != 200:
            response = self.get("/signin")
        page = response.body.decode()
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def post_form(self, path, fields: dict, csrf: bool = True, headers=None):
        from urllib.parse import urlencode

        if csrf and "csrf_token" not in fields:
            fields = {**fields, "csrf_token": self.csrf(path if path.startswith("/join") else "/signin")
                      if not self.cookies.get("caseload_session") else self.csrf("/home")}
        return self.request("POST", path, urlencode(fields).encode(),
                            {"content-type": "application/x-www-form-urlencoded", **(headers or {})})

    def json(self, method, path, body=None, csrf: bool = True, headers=None):
        import json

        extra = {"content-type": "application/json", "accept": "application/json"}
        if csrf and method != "GET":
            extra["x-csrf-token"] = self.csrf("/home")
        return self.request(method, path, json.dumps(body).encode() if body is not None else b"",
                            {**extra, **(headers or {})})

    def sign_in(self, account: Account, password: str = PASSWORD):
        response = self.post_form("/signin", {"email": account.email, "password": password})
        assert response.status_code == 303, response.body
        return response


@pytest.fixture
def http(chalice_client) -> Http:
    return Http(chalice_client)


_PUMP = emulator.EventPump(app)


@pytest.fixture
def pump():
    """Delivers pending stream records and queue messages, as Lambda would
    (one pump for the run: it remembers how far each stream was read)."""
    return _PUMP


def reply_json(response) -> dict:
    import json

    return json.loads(response.body)

