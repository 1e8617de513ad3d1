"""One moto server (in this process, on loopback) for the whole run, resources
created once from the project's definitions; every test gets a fresh
organisation, which is all the isolation a multi-tenant app needs."""
import socket
from dataclasses import dataclass

import pytest

from tools.local import emulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


APP_PORT = _free_port()
APP_URL = f"http://127.0.0.1:{APP_PORT}"
_moto, ENDPOINT = emulator.start_moto_server()
# chalice.test's requests come from 127.0.0.1: trusted here as a proxy, so a test can say which
# address a request comes from with X-Forwarded-For (tests/http_client.py does).
emulator.configure_environment(APP_URL, ENDPOINT, CASELOAD_TRUSTED_PROXIES="127.0.0.1")
RESOURCES = emulator.create_resources()

from chalice.test import Client  # noqa: E402  (the environment must be set first)

from app import app  # noqa: E402
from chalicelib.core.models import Account, Group  # noqa: E402
from chalicelib.core.tokens import new_id  # noqa: E402
from chalicelib.people import accounts, organisations, passwords  # noqa: E402
from tests.http_client import (  # noqa: E402,F401  (tests import both from here)
    PASSWORD,
    Http,
)
from tools.local import outbox  # noqa: E402

outbox.install(app)  # as `make run` does
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


@pytest.fixture
def http(chalice_client) -> Http:
    return Http(chalice_client)


@pytest.fixture
def admin_http(http, org) -> Http:
    """The test client, signed in as the organisation's admin."""
    http.sign_in(org.admin)
    return http


_PUMP = emulator.EventPump(app)


@pytest.fixture
def pump():
    """Delivers pending stream records and queue messages, as Lambda would
    (one pump for the run: it remembers how far each stream was read)."""
    return _PUMP


def reply_json(response) -> dict:
    import json

    return json.loads(response.body)



def mailed_link(email: str, pattern: str) -> str:
    """The token in the newest email to `email` whose text matches `pattern` (one group).
    Emails wait in the mail queue until its consumer runs: deliver it first, as Lambda would."""
    import re

    _PUMP.drain()
    for message in outbox.sent_messages():
        if email.lower() in message["to"].lower():
            found = re.search(pattern, message["text"] or "")
            if found:
                return found.group(1)
    raise AssertionError(f"no email to {email} matching {pattern}")


def join_and_confirm(http, token: str, fields: dict):
    """Sign up through a link and use the emailed confirmation link, as a person would.
    Returns the last response (the form's own answer when it did not get as far as the email)."""
    started = http.post_form(f"/join/{token}", {"mode": "signup", **fields})
    if started.status_code != 200 or "Check your email" not in started.body.decode():
        return started
    confirm = mailed_link(fields["email"], r"/signup/confirm/([A-Za-z0-9_-]+)")
    assert http.get(f"/signup/confirm/{confirm}").status_code == 200
    return http.post_form(f"/signup/confirm/{confirm}", {})
