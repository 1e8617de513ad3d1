"""The Audit log: what is recorded, filters by person and action, cursor paging, access."""
from chalicelib.activity import audit, timeline
from chalicelib.core import tokens
from chalicelib.people.accounts import Viewer
from tests.conftest import reply_json


def _entries(http, query=""):
    reply = http.json("GET", f"/api/v1/audit{query}")
    assert reply.status_code == 200, reply.body
    return reply_json(reply)


def test_invitations_links_api_keys_and_groups_are_audited(http, org):
    http.sign_in(org.admin)
    assert http.json("POST", "/api/v1/invites", {"emails": ["ivy@example.org"], "send_email": False}).status_code == 200
    http.post_form("/invite/link/regenerate", {})
    http.post_form("/invite/link/enabled", {"enabled": "0"})
    http.post_form("/invite/link/domains", {"domains": "example.org"})
    http.post_form("/invite/links", {"days": "7", "max_uses": ""})
    http.post_form("/settings/api-keys", {"label": "Timesheets"})
    http.json("POST", "/api/v1/groups", {"name": "Job Club"})
    kinds = [e["action"] for e in _entries(http)["entries"]]
    for kind in ("invited", "join_link_regenerated", "join_link_disabled", "join_link_domains",
                 "extra_link_created", "api_key_created", "group_created"):
        assert kind in kinds, kind
    newest = _entries(http)["entries"][0]
    assert newest["label"] == "Created a group" and newest["actor"]["name"] == "Ada Admin"
    assert newest["target"]["name"] == "Job Club"


def test_filters_by_person_and_action_and_pages_with_a_sealed_cursor(http, org, monkeypatch):
    admin, staff = Viewer.of(org.admin), Viewer.of(org.staff)
    for index in range(5):
        timeline.audit(org.org_id, "group_created", admin, target_id=f"g{index}", target=f"Group {index}")
    for index in range(3):
        timeline.audit(org.org_id, "invited", staff, count=index)
    timeline.audit(org.org_id, "invited", admin, count=9)
    http.sign_in(org.admin)
    assert [e["actor"]["id"] for e in _entries(http, f"?person={org.staff.account_id}")["entries"]] == [
        org.staff.account_id] * 3
    assert len(_entries(http, "?action=invited")["entries"]) == 4
    both = _entries(http, f"?action=invited&person={org.admin.account_id}")["entries"]
    assert [e["detail"]["count"] for e in both] == ["9"]

    monkeypatch.setattr(audit, "PAGE_SIZE", 2)
    first = _entries(http, "?action=group_created")
    second = _entries(http, f"?action=group_created&cursor={first['next_cursor']}")
    third = _entries(http, f"?action=group_created&cursor={second['next_cursor']}")
    names = [e["target"]["name"] for page in (first, second, third) for e in page["entries"]]
    assert names == [f"Group {i}" for i in (4, 3, 2, 1, 0)]
    # A cursor made for other filters, or altered, is refused by name.
    wrong = http.json("GET", f"/api/v1/audit?action=invited&cursor={first['next_cursor']}")
    assert wrong.status_code == 400 and reply_json(wrong)["code"] == "bad_cursor"
    forged = http.json("GET", "/api/v1/audit?cursor=" + tokens.seal("other", {"k": None}))
    assert forged.status_code == 400 and reply_json(forged)["field"] == "cursor"


def test_the_person_filter_finds_what_they_did_and_what_was_done_to_them(http, org, monkeypatch):
    from chalicelib.actions import rows
    admin, staff = Viewer.of(org.admin), Viewer.of(org.staff)
    rows.edit(admin, org.staff.account_id, name="Sam Renamed")  # done to Sam
    timeline.audit(org.org_id, "invited", staff, count=2)  # done by Sam
    rows.edit(staff, org.staff.account_id, phone="+44 20 7946 0000")  # Sam to Sam: shown once
    timeline.audit(org.org_id, "group_created", admin, target_id="g1", target="Other")  # neither
    rows.archive(admin, org.client.account_id)  # neither
    http.sign_in(org.admin)
    mine = _entries(http, f"?person={org.staff.account_id}")["entries"]
    assert [(e["action"], e["actor"]["id"]) for e in mine] == [
        ("profile_edited", org.staff.account_id), ("invited", org.staff.account_id),
        ("profile_edited", org.admin.account_id)]
    edited = _entries(http, f"?person={org.staff.account_id}&action=profile_edited")["entries"]
    assert [e["actor"]["id"] for e in edited] == [org.staff.account_id, org.admin.account_id]
    client = _entries(http, f"?person={org.client.account_id}")["entries"]  # a client only ever acted on
    assert [(e["action"], e["target"]["id"]) for e in client] == [("archived", org.client.account_id)]
    page = http.get(f"/audit?person={org.client.account_id}").body.decode()
    assert "Archived" in page and "Cleo Client" in page

    monkeypatch.setattr(audit, "PAGE_SIZE", 1)  # paging walks both sides, each entry once, newest first
    seen, cursor = [], ""
    for _ in range(5):
        page = _entries(http, f"?person={org.staff.account_id}" + (f"&cursor={cursor}" if cursor else ""))
        seen += [(e["action"], e["actor"]["id"]) for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [(e["action"], e["actor"]["id"]) for e in mine]


def test_bad_filters_are_named(http, org):
    http.sign_in(org.admin)
    for query, field in [("?action=DROP%20TABLE", "action"), ("?person=" + "x" * 80, "person"),
                         ("?cursor=nonsense", "cursor")]:
        reply = http.json("GET", f"/api/v1/audit{query}")
        assert reply.status_code == 400 and reply_json(reply)["field"] == field
    page = http.get("/audit?action=DROP%20TABLE")
    assert page.status_code == 200 and "Choose an action from the list." in page.body.decode()


def test_only_admins_see_the_log(http, org):
    http.sign_in(org.staff)
    assert http.json("GET", "/api/v1/audit").status_code == 403
    assert http.get("/audit").status_code == 403


def test_another_organisation_sees_nothing_of_ours(http, org, other_org):
    timeline.audit(org.org_id, "group_created", Viewer.of(org.admin), target_id="g", target="Ours")
    http.sign_in(other_org.admin)
    assert _entries(http)["entries"] == []
    assert _entries(http, f"?person={org.admin.account_id}")["entries"] == []


def test_page_lists_entries_with_filters_and_sidebar_entry(http, org):
    timeline.audit(org.org_id, "group_created", Viewer.of(org.admin), target_id="g", target="Job Club")
    http.sign_in(org.admin)
    body = http.get("/audit").body.decode()
    assert "Audit log</a>" in body and "Created a group" in body and "Job Club" in body
    assert 'option value="group_created"' in body and "Sam Staff" in body
    empty = http.get("/audit?action=restored").body.decode()
    assert "Nothing matches these filters" in empty


def test_an_assignment_says_what_it_moved_from_and_to(http, org, group):
    """Leaving a group for none names the group left; an empty side shows as a dash, never a blank."""
    from chalicelib.actions import rows

    admin = Viewer.of(org.admin)
    rows.assign(admin, org.client.account_id, group_id=group.group_id)
    rows.assign(admin, org.client.account_id, group_id=None)
    entries = audit.read_page(admin, action="assigned").entries
    assert [e.detail for e in entries][:2] == [{"group_from": "Job Club", "group_to": ""},
                                               {"group_from": "", "group_to": "Job Club"}]
    http.sign_in(org.admin)
    body = http.get("/audit?action=assigned").body.decode()
    assert "<span>Group from: Job Club</span><br><span>Group to: —</span>" in body
