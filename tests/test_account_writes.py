"""The one write path (people.accounts.change): after every domain operation
that writes an account, the stored listing keys equal the keys derived from
the stored attributes; lost races are refused with what changed."""
import re

import pytest

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import StaleVersion
from chalicelib.core.models import DERIVED_KEYS, Account
from chalicelib.core.tokens import new_id
from chalicelib.invitations import acceptance, invites, lifecycle, links, signup
from chalicelib.invitations.suppression import mark_suppressed
from chalicelib.people import accounts, auth
from chalicelib.people.accounts import Viewer
from tests.conftest import PASSWORD, mailed_link, make_account

LINK = re.compile(r"/invite/([A-Za-z0-9_-]{40,})")


def stored(org_id: str, account_id: str) -> Account:
    """The item exactly as stored (derive_keys does not run on a read)."""
    item = aws.client("dynamodb").get_item(TableName=Account.Meta.table_name, ConsistentRead=True,
                                           Key={"org_id": {"S": org_id}, "account_id": {"S": account_id}})["Item"]
    return Account.from_raw_data(item)


def assert_keys_consistent(org_id: str, account_id: str) -> Account:
    """Fails naming every stored key that differs from what the stored attributes derive."""
    raw = stored(org_id, account_id)
    wrong = {}
    derived = stored(org_id, account_id)
    derived.derive_keys()
    for name in DERIVED_KEYS:
        if getattr(raw, name) != getattr(derived, name):
            wrong[name] = (getattr(raw, name), getattr(derived, name))
    assert not wrong, f"stored keys differ from derived (stored, derived): {wrong}"
    return raw


def _token_for(email: str) -> str:
    return mailed_link(email, LINK.pattern)


def test_change_writes_the_fields_and_every_key_they_move(org, group):
    account = accounts.get_account(org.org_id, org.client.account_id)
    changed = accounts.change(account, name="Zed Renamed", group_id=group.group_id, status="archived")
    assert changed.version == org.client.version + 1
    raw = assert_keys_consistent(org.org_id, account.account_id)
    assert (raw.name, raw.group_id, raw.status, raw.p_all) == ("Zed Renamed", group.group_id, "archived", None)
    assert raw.p_group == f"{org.org_id}#{group.group_id}#A"


def test_nothing_to_change_sends_nothing(org, monkeypatch):
    account = accounts.get_account(org.org_id, org.client.account_id)
    monkeypatch.setattr(Account, "update", lambda *a, **k: pytest.fail("no write expected"))
    assert accounts.change(account, name=account.name) is account


def test_derived_keys_cannot_be_set_by_hand(org):
    account = accounts.get_account(org.org_id, org.client.account_id)
    with pytest.raises(TypeError):
        accounts.change(account, p_all="elsewhere")
    with pytest.raises(TypeError):
        accounts.change(account, version=99)


def test_a_stale_change_is_refused_with_what_changed_and_nothing_lost(org):
    first = accounts.get_account(org.org_id, org.client.account_id)
    second = accounts.get_account(org.org_id, org.client.account_id)
    accounts.change(first, name="First Writer")
    with pytest.raises(StaleVersion) as caught:
        accounts.change(second, phone="+44 20 7946 0000")
    error = caught.value
    assert error.code == "stale_version" and "reload" in error.message
    assert error.changes == {"Name": {"was": "Cleo Client", "now": "First Writer"}}
    assert error.to_dict()["changes"]["Name"]["now"] == "First Writer"
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.name, raw.phone) == ("First Writer", None)
    assert second.name == "Cleo Client" and second.s_name.startswith("cleo client#")  # left as read


def test_change_many_writes_chunks_and_fails_only_the_stale_rows(org, group):
    people = [make_account(org.org_id, "client", status="provisioned") for _ in range(5)]
    stale = accounts.get_account(org.org_id, people[2].account_id)
    accounts.change(accounts.get_account(org.org_id, people[2].account_id), name="Moved Meanwhile")
    batch = [(p, {"group_id": group.group_id}) for p in people[:2]] + [(stale, {"group_id": group.group_id})] + [
        (p, {"group_id": group.group_id}) for p in people[3:]]
    done, failed = accounts.change_many(batch)
    assert {a.account_id for a in done} == {p.account_id for i, p in enumerate(people) if i != 2}
    assert [a.account_id for a, _error in failed] == [people[2].account_id]
    assert isinstance(failed[0][1], StaleVersion)
    for person in people:
        raw = assert_keys_consistent(org.org_id, person.account_id)
        assert raw.group_id == (None if person is people[2] else group.group_id)


def test_every_existing_write_keeps_the_keys_right(org, group):
    viewer = Viewer.of(org.admin)
    # invite (a new account, and its timeline says so)
    email = f"inv.{new_id()[:8]}@example.org"
    report = invites.invite_many(viewer, [email], role="client", group_id=group.group_id,
                                 staff_id=org.staff.account_id)
    invited_id = report.outcomes[0].account_id
    assert_keys_consistent(org.org_id, invited_id)
    assert [a.kind for a in timeline.latest(org.org_id, invited_id)] == ["invited"]
    # resend, revoke, resend again, bounce
    assert lifecycle.resend(viewer, [invited_id])[0]["status"] == "sent"
    assert_keys_consistent(org.org_id, invited_id)
    assert lifecycle.revoke(viewer, [invited_id])[0]["status"] == "revoked"
    assert_keys_consistent(org.org_id, invited_id)
    assert [a.kind for a in timeline.latest(org.org_id, invited_id)] == ["invite_revoked", "invite_resent", "invited"]
    assert lifecycle.resend(viewer, [invited_id])[0]["status"] == "sent"
    # accept (name, password; Activated at the first session)
    _cookie, _session, accepted = acceptance.accept(_token_for(email), "Ines Invited", PASSWORD, "1.2.3.4", "test")
    raw = assert_keys_consistent(org.org_id, invited_id)
    assert (raw.status, raw.name, raw.p_status) == ("activated", "Ines Invited", f"{org.org_id}#activated")
    # sign in again: a visit
    auth.sign_in(email, PASSWORD, "1.2.3.4", "test")
    assert_keys_consistent(org.org_id, invited_id)
    accounts.record_visit(accounts.get_account(org.org_id, invited_id))
    assert_keys_consistent(org.org_id, invited_id)
    # rename yourself
    accounts.rename_self(Viewer.of(accepted), "Ines Renamed")
    assert stored(org.org_id, invited_id).s_name.startswith("ines renamed#")
    assert_keys_consistent(org.org_id, invited_id)
    # bounce of a pending invitation
    bounced = f"bounce.{new_id()[:8]}@example.org"
    bounced_id = invites.invite_many(viewer, [bounced]).outcomes[0].account_id
    assert mark_suppressed(bounced, "bounced") == 1
    assert_keys_consistent(org.org_id, bounced_id)
    # sign-up through the organisation's link
    link = links.join_link(org.join_token)
    sid = f"sid.{new_id()[:8]}@example.org"
    signup.start_sign_up(link, org.join_token, "Sid Signup", sid, PASSWORD, "192.0.2.60")
    confirm = mailed_link(sid, r"/signup/confirm/([A-Za-z0-9_-]+)")
    _cookie, _session, joined = signup.confirm(confirm, "1.2.3.4", "test")
    assert_keys_consistent(org.org_id, joined.account_id)
    # first sign-in of a Provisioned account
    provisioned = make_account(org.org_id, "client", status="provisioned")
    auth.sign_in(provisioned.email, PASSWORD, "1.2.3.4", "test")
    raw = assert_keys_consistent(org.org_id, provisioned.account_id)
    assert raw.status == "activated"
