"""Manage Groups: create, rename, delete (ungrouping members everywhere), counts, access, bad input."""
import pytest

from chalicelib.core.models import Account, Group, Lookup
from chalicelib.groups import deletion, manage, ungroup
from chalicelib.people.accounts import Viewer
from chalicelib.invitations import links
from chalicelib.people import organisations
from tests.conftest import make_account, reply_json


def _create(http, name):
    return http.json("POST", "/api/v1/groups", {"name": name})


def _stored_keys_match(account: Account) -> bool:
    stored = Account.get(account.org_id, account.account_id, consistent_read=True)
    derived = Account.from_raw_data(stored.serialize())  # serialize() derives the keys from the attributes
    return all(getattr(stored, k) == getattr(derived, k) for k in ("p_group", "p_sg", "p_gs", "p_all", "p_role",
                                                                  "p_status", "p_staff", "p_st", "s_name"))


def test_create_lists_with_counts_and_trims(admin_http, org, pump):
    created = _create(admin_http, "  Job   Club  ")
    assert created.status_code == 201, created.body
    group = reply_json(created)
    assert group["name"] == "Job Club" and group["members"] == 0
    for _ in range(3):
        make_account(org.org_id, group_id=group["group_id"])
    make_account(org.org_id, status="archived", group_id=group["group_id"])
    pump.drain()
    listed = reply_json(admin_http.json("GET", "/api/v1/groups"))["groups"]
    assert [(g["name"], g["members"], g["archived"]) for g in listed] == [("Job Club", 3, 1)]
    # The window and its delete question count alike: everyone, the archived among them.
    window = admin_http.get("/groups").body.decode()
    assert "4 members (1 archived)" in window
    asked = admin_http.get(f"/groups?delete={group['group_id']}").body.decode()
    assert "Its 4 members (1 of them archived) will become ungrouped." in asked


@pytest.mark.parametrize("name, code", [
    ("", "name_required"), ("   ", "name_required"), ("\t \n", "name_required"), ("x" * 81, "name_too_long"),
])
def test_bad_names_are_refused_and_nothing_is_written(admin_http, org, name, code):
    reply = _create(admin_http, name)
    assert reply.status_code == 400
    assert reply_json(reply)["code"] == code and reply_json(reply)["field"] == "name"
    assert list(Group.query(org.org_id)) == []


def test_eighty_characters_is_allowed(admin_http):
    assert _create(admin_http, "x" * 80).status_code == 201


def test_wrong_type_is_a_clear_error(admin_http, org):
    for body in ({"name": None}, {"name": 7}, {"name": ["a"]}):
        reply = admin_http.json("POST", "/api/v1/groups", body)
        assert reply.status_code in (400, 422) and reply_json(reply)["field"] == "name"
    assert admin_http.json("POST", "/api/v1/groups", {"name": "A", "extra": 1}).status_code in (400, 422)
    assert list(Group.query(org.org_id)) == []


def test_names_are_unique_whatever_their_case(admin_http, org):
    assert _create(admin_http, "Job Club").status_code == 201
    reply = _create(admin_http, "JOB club")
    assert reply.status_code == 409 and reply_json(reply)["code"] == "name_taken"
    assert [g.name for g in Group.query(org.org_id)] == ["Job Club"]


def test_uniqueness_is_a_conditional_write_not_a_read(org):
    admin = Viewer.of(org.admin)
    manage.create_group(admin, "Job Club")
    # A racing creator who read "no such name" still loses at the claim.
    with pytest.raises(Exception) as raised:
        manage.create_group(admin, "job club")
    assert getattr(raised.value, "code", "") == "name_taken"
    assert Lookup.get(manage.name_key(org.org_id, "Job Club")).target_id


def test_rename_in_place_and_to_an_existing_name(admin_http, org):
    first = reply_json(_create(admin_http, "Job Club"))
    reply_json(_create(admin_http, "Digital Skills"))
    taken = admin_http.json("PATCH", f"/api/v1/groups/{first['group_id']}", {"name": "digital skills"})
    assert taken.status_code == 409 and reply_json(taken)["code"] == "name_taken"
    renamed = admin_http.json("PATCH", f"/api/v1/groups/{first['group_id']}", {"name": "Job Club Plus"})
    assert renamed.status_code == 200 and reply_json(renamed)["name"] == "Job Club Plus"
    # The old name is free again, the new one is taken.
    assert _create(admin_http, "job club").status_code == 201
    assert _create(admin_http, "JOB CLUB PLUS").status_code == 409
    # A change of case only is a rename too.
    assert admin_http.json("PATCH", f"/api/v1/groups/{first['group_id']}", {"name": "JOB CLUB PLUS"}).status_code == 200
    empty = admin_http.json("PATCH", f"/api/v1/groups/{first['group_id']}", {"name": "  "})
    assert empty.status_code == 400 and reply_json(empty)["code"] == "name_required"


def test_staff_see_groups_but_cannot_change_them(http, org, group):
    http.sign_in(org.staff)
    assert [g["name"] for g in reply_json(http.json("GET", "/api/v1/groups"))["groups"]] == ["Job Club"]
    for method, path, body in [("POST", "/api/v1/groups", {"name": "New"}),
                               ("PATCH", f"/api/v1/groups/{group.group_id}", {"name": "New"}),
                               ("DELETE", f"/api/v1/groups/{group.group_id}", None)]:
        reply = http.json(method, path, body)
        assert reply.status_code == 403, (method, reply.body)
    assert [g.name for g in Group.query(org.org_id)] == ["Job Club"]
    assert http.post_form("/groups", {"name": "New"}).status_code == 403


def test_clients_cannot_see_groups(http, org, group):
    http.sign_in(org.client)
    assert http.json("GET", "/api/v1/groups").status_code == 403


def test_another_orgs_group_looks_like_a_made_up_one(admin_http, other_org):
    theirs = Group(org_id=other_org.org_id, group_id="a" * 32, name="Theirs")
    theirs.save()
    for method, body in [("GET", None), ("PATCH", {"name": "Mine"}), ("DELETE", None)]:
        foreign = admin_http.json(method, f"/api/v1/groups/{theirs.group_id}", body)
        missing = admin_http.json(method, f"/api/v1/groups/{'b' * 32}", body)
        assert foreign.status_code == missing.status_code == 404
        assert reply_json(foreign) == reply_json(missing)
    assert Group.get(other_org.org_id, theirs.group_id).name == "Theirs"


def test_delete_ungroups_members_everywhere(admin_http, org, pump):
    group = reply_json(_create(admin_http, "Job Club"))
    gid = group["group_id"]
    members = [make_account(org.org_id, group_id=gid, staff_id=org.staff.account_id) for _ in range(3)]
    members.append(make_account(org.org_id, status="archived", group_id=gid))
    staff_member = make_account(org.org_id, "staff", group_id=gid)
    other = reply_json(_create(admin_http, "Other"))
    outsider = make_account(org.org_id, group_id=other["group_id"])
    pump.drain()
    shown = reply_json(admin_http.json("GET", "/api/v1/groups"))["groups"]
    assert {g["name"]: g["members"] + g["archived"] for g in shown} == {"Job Club": 5, "Other": 1}
    org_item = organisations.get_organisation(org.org_id)
    links.create_extra_link(org_item, "Ada", group_id=gid, days="7")

    reply = admin_http.json("DELETE", f"/api/v1/groups/{gid}")
    assert reply.status_code == 200, reply.body
    assert reply_json(reply)["finished"] is True and reply_json(reply)["members"] == 5
    pump.drain()
    for account in members + [staff_member]:
        stored = Account.get(org.org_id, account.account_id)
        assert stored.group_id is None
        assert _stored_keys_match(stored)
    assert Account.get(org.org_id, outsider.account_id).group_id == other["group_id"]
    # The table, its filter and the boxes
    assert reply_json(admin_http.json("GET", f"/api/v1/clients?group={gid}"))["rows"] == []
    assert reply_json(admin_http.json("GET", f"/api/v1/clients?group={gid}"))["stats"]["total"] == 0
    no_group = reply_json(admin_http.json("GET", "/api/v1/clients?group=-&size=100"))["rows"]
    assert {m.account_id for m in members[:3]} <= {r["account_id"] for r in no_group}
    # The groups list and every choice
    assert [g["name"] for g in reply_json(admin_http.json("GET", "/api/v1/groups"))["groups"]] == ["Other"]
    assert [g.name for g in manage.choices(org.org_id)] == ["Other"]
    # Extra links tied to it no longer put anyone in it
    entries = organisations.get_organisation(org.org_id).extra_links
    assert entries and all(e.group_id is None for e in entries.values())
    # The name is free again
    assert _create(admin_http, "job club").status_code == 201


def test_deleting_twice_is_a_clear_error(admin_http, org):
    gid = reply_json(_create(admin_http, "Job Club"))["group_id"]
    assert admin_http.json("DELETE", f"/api/v1/groups/{gid}").status_code == 200
    again = admin_http.json("DELETE", f"/api/v1/groups/{gid}")
    assert again.status_code == 404
    assert "deleted" in reply_json(again)["message"]


def test_deleting_a_group_being_deleted_is_a_conflict(org, group):
    admin = Viewer.of(org.admin)
    manage.start_delete(admin, group.group_id)
    with pytest.raises(Exception) as raised:
        deletion.delete_group(admin, group.group_id)
    assert raised.value.code == "already_deleted" and raised.value.status == 409


def test_a_group_being_deleted_cannot_be_chosen(http, org, group):
    manage.start_delete(Viewer.of(org.admin), group.group_id)
    http.sign_in(org.admin)
    reply = http.json("POST", "/api/v1/invites", {"emails": ["new.person@example.org"], "group_id": group.group_id})
    assert reply.status_code == 400 and reply_json(reply)["field"] == "group_id"
    with pytest.raises(Exception):
        manage.get_live_group(org.org_id, group.group_id)


def test_large_group_is_ungrouped_in_steps_that_are_safe_to_repeat(org, pump):
    admin = Viewer.of(org.admin)
    group = manage.create_group(admin, "Big")
    members = [make_account(org.org_id, group_id=group.group_id) for _ in range(60)]
    manage.start_delete(admin, group.group_id)
    first = ungroup.step(org.org_id, group.group_id, limit=25)
    assert first.processed == 25 and not first.finished
    # A member moved meanwhile keeps its new group.
    moved = next(a for a in (Account.get(org.org_id, m.account_id) for m in members)
                 if a.group_id == group.group_id)
    keeper = manage.create_group(admin, "Keeper")
    moved.group_id = keeper.group_id
    moved.save()
    second = ungroup.step(org.org_id, group.group_id, limit=25)
    third = ungroup.step(org.org_id, group.group_id, limit=25)
    assert third.finished and third.done == 59
    assert ungroup.step(org.org_id, group.group_id) is None  # gone: running it again does nothing
    assert second.done == 50
    assert Account.get(org.org_id, moved.account_id).group_id == keeper.group_id
    assert all(Account.get(org.org_id, m.account_id).group_id is None for m in members
               if m.account_id != moved.account_id)
    assert all(_stored_keys_match(m) for m in members)


def test_a_stale_chunk_is_retried_member_by_member(org):
    admin = Viewer.of(org.admin)
    group = manage.create_group(admin, "Chunk")
    members = [make_account(org.org_id, group_id=group.group_id) for _ in range(5)]
    index_items = list(Account.group_name.query(f"{org.org_id}#{group.group_id}#L"))
    # One of them changes status after the index was read: its keys must be derived again.
    changed = Account.get(org.org_id, members[0].account_id)
    changed.status = "provisioned"
    changed.save()
    assert ungroup.ungroup_members(index_items, group.group_id) == 5
    assert all(_stored_keys_match(m) for m in members)
    assert Account.get(org.org_id, members[0].account_id).status == "provisioned"


def test_every_group_change_is_audited(admin_http, org):
    gid = reply_json(_create(admin_http, "Job Club"))["group_id"]
    admin_http.json("PATCH", f"/api/v1/groups/{gid}", {"name": "Jobs"})
    admin_http.json("DELETE", f"/api/v1/groups/{gid}")
    entries = reply_json(admin_http.json("GET", "/api/v1/audit"))["entries"]
    assert [(e["action"], e["target"]["name"]) for e in entries[:3]] == [
        ("group_deleted", "Jobs"), ("group_renamed", "Jobs"), ("group_created", "Job Club")]
    assert entries[0]["actor"]["id"] == org.admin.account_id


# --------------------------------------------------------------------------- the window (no JavaScript)

def test_window_page_create_rename_delete_with_forms(admin_http, org, pump):
    page = admin_http.get("/groups")
    assert page.status_code == 200 and "+ Add group" in page.body.decode() and "No groups yet" in page.body.decode()
    added = admin_http.post_form("/groups", {"name": "Job Club"})
    assert added.status_code == 303
    group = next(iter(Group.query(org.org_id)))
    body = admin_http.get("/groups").body.decode()
    assert 'aria-label="Rename Job Club"' in body and 'aria-label="Delete Job Club"' in body
    duplicate = admin_http.post_form("/groups", {"name": "job CLUB"})
    assert duplicate.status_code == 409 and "A group called “Job Club” already exists" in duplicate.body.decode()
    assert 'value="job CLUB"' in duplicate.body.decode()  # what was typed stays, the message names the group
    editing = admin_http.get(f"/groups?rename={group.group_id}").body.decode()
    assert "New name for Job Club" in editing
    too_long = admin_http.post_form(f"/groups/{group.group_id}/rename", {"name": "y" * 81})
    assert too_long.status_code == 400 and "at most 80" in too_long.body.decode()
    same = admin_http.post_form(f"/groups/{group.group_id}/rename", {"name": "Job Club", "was": "Job Club"})
    assert "Nothing changed: the group is already called “Job Club”." in admin_http.get(same.headers["Location"]).body.decode()
    renamed = admin_http.post_form(f"/groups/{group.group_id}/rename", {"name": "Jobs", "was": "Job Club"})
    assert "Group renamed to “Jobs”." in admin_http.get(renamed.headers["Location"]).body.decode()
    make_account(org.org_id, group_id=group.group_id)
    pump.drain()
    confirm = admin_http.get(f"/groups?delete={group.group_id}").body.decode()
    assert "Delete “Jobs”?" in confirm and "Its 1 member will become ungrouped" in confirm
    gone = admin_http.post_form(f"/groups/{group.group_id}/delete", {})
    assert gone.status_code == 303 and "ungrouped" in admin_http.get(gone.headers["Location"]).body.decode()
    again = admin_http.post_form(f"/groups/{group.group_id}/delete", {})
    assert again.status_code == 404


def test_staff_window_has_no_change_buttons(http, org, group):
    http.sign_in(org.staff)
    body = http.get("/groups").body.decode()
    assert "Job Club" in body and "+ Add group" not in body and "Rename Job Club" not in body
    assert "Only admins can add" in body


def test_manage_groups_button_on_the_clients_table(admin_http):
    body = admin_http.get("/clients").body.decode()
    assert ">Manage Groups</a>" in body and 'id="groups-dialog"' in body


def test_window_fragment_for_the_dialog(admin_http, group):
    fragment = admin_http.get("/groups", headers={"x-fragment": "1"}).body.decode()
    assert "<html" not in fragment and "Job Club" in fragment
