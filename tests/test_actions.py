"""Row actions (Edit, Assign staff/group, Archive, Restore), bulk actions and
caseload transfer: the rules, the bad inputs (clear error, nothing changed),
the records they leave, and the keys they keep right."""
import pytest

from chalicelib.actions import bulk, rows
from chalicelib.activity import timeline
from chalicelib.core.errors import CaseloadError, Conflict, Forbidden, NotFound, StaleVersion, ValidationError
from chalicelib.core.models import Account, Lookup
from chalicelib.core.tokens import new_id
from chalicelib.invitations import invites
from chalicelib.people import accounts, auth, sessions
from chalicelib.people.accounts import Viewer
from tests.conftest import PASSWORD, make_account
from tests.test_account_writes import assert_keys_consistent, stored


def admin_of(org) -> Viewer:
    return Viewer.of(org.admin)


def staff_of(org) -> Viewer:
    return Viewer.of(org.staff)


def unchanged(org_id: str, account: Account) -> None:
    """Nothing about the account moved (same version, same keys)."""
    raw = assert_keys_consistent(org_id, account.account_id)
    assert raw.version == account.version


def kinds(org_id: str, account_id: str) -> list:
    return [a.kind for a in timeline.latest(org_id, account_id)]


# --------------------------------------------------------------------------- Edit

def test_edit_changes_profile_moves_the_email_claim_and_records_who(org):
    old_email = org.client.email
    new_email = f"cleo.new.{new_id()[:6]}@example.org"
    edited = rows.edit(admin_of(org), org.client.account_id, name="Cleo Renamed", email=new_email.upper(),
                       phone="+44 20 7946 0001", version=org.client.version)
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.name, raw.email, raw.phone) == ("Cleo Renamed", new_email, "+44 20 7946 0001")
    assert edited.version == org.client.version + 1
    assert Lookup.get(accounts.email_lookup_key(org.org_id, new_email)).account_id == org.client.account_id
    with pytest.raises(Lookup.DoesNotExist):
        Lookup.get(accounts.email_lookup_key(org.org_id, old_email))
    # the old address is free again
    make_account(org.org_id, "client", email=old_email)
    event = next(iter(timeline.latest(org.org_id, org.client.account_id)))
    assert (event.kind, event.actor_id, event.detail["email_to"]) == ("profile_edited", org.admin.account_id,
                                                                     new_email)
    audit = next(iter(timeline.latest(org.org_id, timeline.ORG_LOG)))
    assert (audit.kind, audit.target_id) == ("profile_edited", org.client.account_id)


def test_edit_to_a_taken_email_is_refused_and_changes_nothing(org):
    with pytest.raises(Conflict) as caught:
        rows.edit(admin_of(org), org.client.account_id, email=org.staff.email, name="Other Name")
    assert (caught.value.code, caught.value.field) == ("email_taken", "email")
    unchanged(org.org_id, org.client)
    assert Lookup.get(accounts.email_lookup_key(org.org_id, org.client.email)).account_id == org.client.account_id


def test_two_edits_racing_for_one_address_give_it_to_one(org):
    other = make_account(org.org_id, "client")
    wanted = f"wanted.{new_id()[:6]}@example.org"
    rows.edit(admin_of(org), org.client.account_id, email=wanted)
    with pytest.raises(Conflict):
        rows.edit(admin_of(org), other.account_id, email=wanted)
    unchanged(org.org_id, other)


@pytest.mark.parametrize("role", ["owner", "ADMINISTRATOR", "", None, 3])
def test_a_role_outside_the_three_is_refused(org, role):
    with pytest.raises(ValidationError) as caught:
        rows.edit(admin_of(org), org.client.account_id, role=role)
    assert caught.value.field == "role"
    unchanged(org.org_id, org.client)


def test_role_change_is_recorded_and_moves_the_listing(org):
    rows.edit(admin_of(org), org.client.account_id, role="Staff")
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.role, raw.staff_id, raw.caseload_id) == ("staff", None, None)  # not their own client
    assert kinds(org.org_id, org.client.account_id)[0] == "role_changed"


def test_nobody_changes_their_own_role(org):
    with pytest.raises(ValidationError) as caught:
        rows.edit(admin_of(org), org.admin.account_id, role="staff")
    assert caught.value.code == "own_role"
    unchanged(org.org_id, org.admin)


def test_staff_cannot_raise_a_role_or_touch_admins_or_others_clients(org):
    with pytest.raises(Forbidden):
        rows.edit(staff_of(org), org.client.account_id, role="staff")
    with pytest.raises(NotFound):
        rows.edit(staff_of(org), org.admin.account_id, name="Hacked")
    not_mine = make_account(org.org_id, "client")
    with pytest.raises(NotFound):
        rows.edit(staff_of(org), not_mine.account_id, name="Hacked")
    for account in (org.client, org.admin, not_mine):
        unchanged(org.org_id, account)
    rows.edit(staff_of(org), org.client.account_id, name="Fine By Staff")
    assert stored(org.org_id, org.client.account_id).name == "Fine By Staff"


def test_clients_cannot_act(org):
    with pytest.raises(Forbidden):
        rows.edit(Viewer.of(org.client), org.client.account_id, name="Me")


def test_the_last_active_admin_is_kept_when_two_admins_demote_each_other(org):
    second = make_account(org.org_id, "admin", name="Bea Admin")
    first_viewer, second_viewer = admin_of(org), Viewer.of(second)  # both taken before either change
    rows.edit(first_viewer, second.account_id, role="staff")
    with pytest.raises(Conflict) as caught:
        rows.edit(second_viewer, org.admin.account_id, role="staff")
    assert caught.value.code == "last_admin"
    unchanged(org.org_id, org.admin)
    with pytest.raises(Conflict):
        rows.archive(second_viewer, org.admin.account_id)
    unchanged(org.org_id, org.admin)


def test_a_stale_edit_is_refused_showing_what_changed(org):
    seen = {"name": org.client.name, "phone": ""}
    rows.edit(admin_of(org), org.client.account_id, name="First Writer", version=org.client.version)
    after_first = stored(org.org_id, org.client.account_id)
    with pytest.raises(StaleVersion) as caught:
        rows.edit(admin_of(org), org.client.account_id, phone="+44 1234 56789", version=org.client.version,
                  seen=seen)
    assert caught.value.changes == {"Name": {"was": "Cleo Client", "now": "First Writer"}}
    assert "reload" in caught.value.message and "First Writer" in caught.value.message
    unchanged(org.org_id, after_first)


@pytest.mark.parametrize("version", ["abc", -1, "1.5", True])
def test_a_bad_version_is_refused(org, version):
    with pytest.raises(ValidationError) as caught:
        rows.edit(admin_of(org), org.client.account_id, name="X", version=version)
    assert caught.value.field == "version"
    unchanged(org.org_id, org.client)


@pytest.mark.parametrize("phone", ["call me", "1" * 40, "12"])
def test_a_bad_phone_is_refused(org, phone):
    with pytest.raises(ValidationError) as caught:
        rows.edit(admin_of(org), org.client.account_id, phone=phone)
    assert caught.value.field == "phone"


def test_another_organisations_account_answers_like_a_missing_one(org, other_org):
    for action in (lambda i: rows.edit(admin_of(org), i, name="X"),
                   lambda i: rows.assign(admin_of(org), i, group_id=None),
                   lambda i: rows.archive(admin_of(org), i),
                   lambda i: rows.restore(admin_of(org), i)):
        with pytest.raises(NotFound) as theirs:
            action(other_org.client.account_id)
        with pytest.raises(NotFound) as missing:
            action(new_id())
        assert theirs.value.to_dict() == missing.value.to_dict()
    unchanged(other_org.org_id, other_org.client)


# --------------------------------------------------------------------------- Assign

def test_assign_staff_and_group_then_none(org, group):
    other_staff = make_account(org.org_id, "staff", name="Tess Staff")
    rows.assign(admin_of(org), org.client.account_id, staff_id=other_staff.account_id, group_id=group.group_id)
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.staff_id, raw.staff_email, raw.group_id, raw.caseload_id) == (
        other_staff.account_id, other_staff.email, group.group_id, other_staff.account_id)
    rows.assign(admin_of(org), org.client.account_id, staff_id="", group_id="")
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.staff_id, raw.group_id, raw.caseload_id) == (None, None, None)
    assert kinds(org.org_id, org.client.account_id)[:2] == ["assigned", "assigned"]


def test_an_admin_can_hold_a_caseload(org):
    rows.assign(admin_of(org), org.client.account_id, staff_id=org.admin.account_id)
    assert stored(org.org_id, org.client.account_id).caseload_id == org.admin.account_id


def test_assigning_a_client_another_orgs_or_an_archived_staff_member_is_refused(org, other_org):
    archived_staff = make_account(org.org_id, "staff", status="archived")
    another_client = make_account(org.org_id, "client")
    for staff_id in (another_client.account_id, other_org.staff.account_id, archived_staff.account_id, new_id(),
                     "x" * 65):
        with pytest.raises(ValidationError) as caught:
            rows.assign(admin_of(org), org.client.account_id, staff_id=staff_id)
        assert caught.value.field == "staff_id"
    unchanged(org.org_id, org.client)


def test_assigning_another_orgs_group_is_refused(org, other_org):
    from chalicelib.core.models import Group
    theirs = Group(org_id=other_org.org_id, group_id=new_id(), name="Theirs")
    theirs.save()
    with pytest.raises(ValidationError) as caught:
        rows.assign(admin_of(org), org.client.account_id, group_id=theirs.group_id)
    assert caught.value.field == "group_id"
    unchanged(org.org_id, org.client)


def test_staff_move_their_clients_only_between_groups(org, group):
    rows.assign(staff_of(org), org.client.account_id, group_id=group.group_id)
    assert stored(org.org_id, org.client.account_id).group_id == group.group_id
    other_staff = make_account(org.org_id, "staff")
    before = stored(org.org_id, org.client.account_id)
    with pytest.raises(Forbidden):
        rows.assign(staff_of(org), org.client.account_id, staff_id=other_staff.account_id)
    unchanged(org.org_id, before)


def test_staff_are_not_assigned_a_staff_member(org):
    with pytest.raises(ValidationError):
        rows.assign(admin_of(org), org.staff.account_id, staff_id=org.admin.account_id)


# --------------------------------------------------------------------------- Archive and Restore

def test_archive_ends_sessions_refuses_sign_in_and_restore_brings_the_status_back(org):
    cookie, session, _ = auth.sign_in(org.client.email, PASSWORD, "1.2.3.4", "test")
    rows.archive(admin_of(org), org.client.account_id)
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.status, raw.previous_status, raw.p_all) == ("archived", "activated", None)
    assert sessions.load(cookie) is None  # the cookie taken before is refused
    with pytest.raises(CaseloadError):
        auth.sign_in(org.client.email, PASSWORD, "1.2.3.4", "test")
    rows.restore(admin_of(org), org.client.account_id)
    raw = assert_keys_consistent(org.org_id, org.client.account_id)
    assert (raw.status, raw.previous_status, raw.p_all) == ("activated", None, org.org_id)
    assert kinds(org.org_id, org.client.account_id)[:2] == ["restored", "archived"]


def test_archiving_an_invited_person_revokes_the_invitation(org):
    email = f"pending.{new_id()[:6]}@example.org"
    account_id = invites.invite_many(admin_of(org), [email]).outcomes[0].account_id
    rows.archive(admin_of(org), account_id)
    raw = assert_keys_consistent(org.org_id, account_id)
    assert (raw.invite_state, raw.invite_hash) == ("revoked", None)
    rows.restore(admin_of(org), account_id)
    assert stored(org.org_id, account_id).status == "provisioned"


def test_nobody_archives_themselves_and_archiving_twice_says_so(org):
    with pytest.raises(ValidationError) as caught:
        rows.archive(admin_of(org), org.admin.account_id)
    assert caught.value.code == "archive_self"
    unchanged(org.org_id, org.admin)
    rows.archive(admin_of(org), org.client.account_id)
    with pytest.raises(Conflict):
        rows.archive(admin_of(org), org.client.account_id)
    with pytest.raises(Conflict):
        rows.restore(admin_of(org), org.staff.account_id)


def test_staff_archive_their_own_clients_only(org):
    not_mine = make_account(org.org_id, "client")
    with pytest.raises(NotFound):
        rows.archive(staff_of(org), not_mine.account_id)
    rows.archive(staff_of(org), org.client.account_id)
    assert stored(org.org_id, org.client.account_id).archived


# --------------------------------------------------------------------------- bulk and transfer

def test_bulk_assign_archive_restore_report_each_row(org, group, other_org):
    people = [make_account(org.org_id, "client") for _ in range(4)]
    ids = [p.account_id for p in people] + [other_org.client.account_id, org.admin.account_id]
    params = bulk.check_params(admin_of(org), "assign", {"group_id": group.group_id})
    results = bulk.apply_chunk(admin_of(org), "assign", ids, params)
    assert [results[p.account_id]["status"] for p in people] == ["changed"] * 4
    assert results[other_org.client.account_id]["status"] == "not_found"
    for person in people:
        assert assert_keys_consistent(org.org_id, person.account_id).group_id == group.group_id
    again = bulk.apply_chunk(admin_of(org), "assign", ids[:4], params)  # a step run twice changes nothing
    assert {r["status"] for r in again.values()} == {"unchanged"}
    archived = bulk.apply_chunk(admin_of(org), "archive", ids, {})
    assert archived[org.admin.account_id]["status"] == "refused"
    assert bulk.summary(archived) == {"changed": 4, "not_found": 1, "refused": 1}
    restored = bulk.apply_chunk(admin_of(org), "restore", ids[:4], {})
    assert bulk.summary(restored) == {"changed": 4}
    for person in people:
        assert assert_keys_consistent(org.org_id, person.account_id).status == "activated"


def test_bulk_params_are_checked_once(org, other_org):
    with pytest.raises(ValidationError):
        bulk.check_params(admin_of(org), "delete", {})
    with pytest.raises(ValidationError):
        bulk.check_params(admin_of(org), "assign", {"staff_id": other_org.staff.account_id})
    with pytest.raises(Forbidden):
        bulk.check_params(staff_of(org), "assign", {"staff_id": org.admin.account_id})


def test_transfer_moves_every_client_live_and_archived(org):
    archived_client = make_account(org.org_id, "client", status="archived", staff_id=org.staff.account_id,
                                   staff_email=org.staff.email)
    extra = [make_account(org.org_id, "client", staff_id=org.staff.account_id, staff_email=org.staff.email)
             for _ in range(3)]
    receiver = make_account(org.org_id, "staff", name="Rita Receiver")
    counts = bulk.transfer(admin_of(org), org.staff.account_id, receiver.account_id).counts
    assert counts == {"changed": 5}
    for client in [org.client, archived_client] + extra:
        raw = assert_keys_consistent(org.org_id, client.account_id)
        assert (raw.staff_id, raw.staff_email, raw.caseload_id) == (receiver.account_id, receiver.email,
                                                                  receiver.account_id)
    assert kinds(org.org_id, org.client.account_id)[0] == "transferred"
    assert rows.caseload_count(org.org_id, org.staff.account_id) == 0


def test_transfer_bad_input(org, other_org):
    with pytest.raises(Forbidden):
        bulk.transfer(staff_of(org), org.staff.account_id, org.admin.account_id)
    for to_id in ("", org.staff.account_id, org.client.account_id, other_org.staff.account_id):
        with pytest.raises(ValidationError):
            bulk.transfer(admin_of(org), org.staff.account_id, to_id)
    with pytest.raises(NotFound):
        bulk.transfer(admin_of(org), other_org.staff.account_id, org.admin.account_id)
    unchanged(org.org_id, org.client)
