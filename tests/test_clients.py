"""The Clients Table through its JSON twin and its page: filters, search, pages, boxes, access, bad input."""
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from chalicelib.core import tokens
from chalicelib.core.models import Account, Group
from chalicelib.core.tokens import new_id
from tests.conftest import Http, make_account, reply_json


def _names(response) -> list:
    assert response.status_code == 200, response.body
    return [row["name"] for row in reply_json(response)["rows"]]


@pytest.fixture
def people(org, group, pump):
    """Nine more accounts across roles, statuses, groups and staff, counted by the stream."""
    now = datetime.now(timezone.utc)
    made = {
        "ann": make_account(org.org_id, name="Ann Archer", group_id=group.group_id, staff_id=org.staff.account_id,
                            last_visit=now - timedelta(days=2), active_days={(now - timedelta(days=2)).toordinal()}),
        "bob": make_account(org.org_id, name="Bob Baker", status="provisioned", group_id=group.group_id),
        "cat": make_account(org.org_id, name="Cat Cooper", status="archived", previous_status="activated",
                            staff_id=org.staff.account_id),
        "dan": make_account(org.org_id, name="Dan O'Donnell", email="dan.odonnell@example.net",
                            last_visit=now - timedelta(days=40), active_days={(now - timedelta(days=40)).toordinal()},
                            created_at=now - timedelta(days=100)),
        "eve": make_account(org.org_id, "staff", name="Eve Evans"),
    }
    for index in range(4):
        made[f"zz{index}"] = make_account(org.org_id, name=f"Zoe Zimmer {index}", staff_id=org.staff.account_id)
    pump.drain()
    return made


def test_admin_sees_live_accounts_by_name_and_archived_only_when_asked(admin_http, org, people):
    names = _names(admin_http.json("GET", "/api/v1/clients"))
    assert names == sorted(names, key=str.casefold)
    assert "Cat Cooper" not in names and len(names) == 11
    assert _names(admin_http.json("GET", "/api/v1/clients?status=archived")) == ["Cat Cooper"]


@pytest.mark.parametrize("query, expected", [
    ("role=staff", {"Sam Staff", "Eve Evans"}),
    ("role=admin", {"Ada Admin"}),
    ("status=provisioned", {"Bob Baker"}),
    ("status=archived&role=client", {"Cat Cooper"}),
    ("group=-&role=client", {"Cleo Client", "Dan O'Donnell", "Zoe Zimmer 0", "Zoe Zimmer 1", "Zoe Zimmer 2",
                             "Zoe Zimmer 3"}),
    ("status=activated&role=client&staff=-", {"Dan O'Donnell"}),
    ("no_visit=30&role=client&status=activated", {"Cleo Client", "Dan O'Donnell", "Zoe Zimmer 0", "Zoe Zimmer 1",
                                                  "Zoe Zimmer 2", "Zoe Zimmer 3"}),
    ("no_visit=90&sort=visit&role=client", {"Cleo Client", "Bob Baker", "Zoe Zimmer 0",
                                            "Zoe Zimmer 1", "Zoe Zimmer 2", "Zoe Zimmer 3"}),
])
def test_each_filter_selects_its_rows_and_the_boxes_count_them(admin_http, people, query, expected):
    body = reply_json(admin_http.json("GET", f"/api/v1/clients?{query}"))
    assert {row["name"] for row in body["rows"]} == expected
    assert body["stats"]["total"] == len(expected)


def test_group_and_staff_filters(admin_http, org, group, people):
    assert set(_names(admin_http.json("GET", f"/api/v1/clients?group={group.group_id}"))) == {"Ann Archer",
                                                                                                "Bob Baker"}
    staffed = _names(admin_http.json("GET", f"/api/v1/clients?staff={org.staff.account_id}"))
    assert set(staffed) == {"Cleo Client", "Ann Archer", *(f"Zoe Zimmer {i}" for i in range(4))}


def test_boxes_follow_the_filters(admin_http, org, people):
    stats = reply_json(admin_http.json("GET", "/api/v1/clients?role=client"))["stats"]
    assert stats["total"] == 8  # Cleo, Ann, Bob, Dan, four Zoes (Cat is archived)
    assert stats["new"] == 7  # Dan was created 100 days ago
    assert stats["engaged"] == 1 and stats["engagement"] == round(1 / 8, 4)  # Ann, two days ago
    assert sum(stats["weekly_active"]) >= 1
    engaged = reply_json(admin_http.json("GET", "/api/v1/clients?role=client&box=engaged"))
    assert [row["name"] for row in engaged["rows"]] == ["Ann Archer"]
    new = reply_json(admin_http.json("GET", "/api/v1/clients?role=client&box=new"))
    assert len(new["rows"]) == 7 and "Dan O'Donnell" not in {row["name"] for row in new["rows"]}


def test_sorts_both_ways(admin_http, people):
    by_created = _names(admin_http.json("GET", "/api/v1/clients?sort=created&dir=desc&role=client"))
    assert by_created[-1] == "Dan O'Donnell"
    by_visit = _names(admin_http.json("GET", "/api/v1/clients?sort=visit&dir=desc&role=client"))
    assert by_visit[:2] == ["Ann Archer", "Dan O'Donnell"]
    descending = _names(admin_http.json("GET", "/api/v1/clients?dir=desc"))
    assert descending == sorted(descending, key=str.casefold, reverse=True)


@pytest.mark.parametrize("query, expected", [
    ("zim", {f"Zoe Zimmer {i}" for i in range(4)}),
    ("ZOE zi", {f"Zoe Zimmer {i}" for i in range(4)}),
    ("donnell", {"Dan O'Donnell"}),
    ("o'donn", {"Dan O'Donnell"}),
    ("odonnell", {"Dan O'Donnell"}),
    ("dan.odon", {"Dan O'Donnell"}),
    ("dan.odonnell@example.n", {"Dan O'Donnell"}),
    ("archer", {"Ann Archer"}),
    ("zzzz", set()),
])
def test_search_prefix_of_any_word_or_the_email(admin_http, people, query, expected):
    body = reply_json(admin_http.json("GET", f"/api/v1/clients?q={quote(query)}"))
    assert {row["name"] for row in body["rows"]} == expected
    assert body["stats"]["total"] == len(expected)


def test_the_search_box_shows_the_search_as_typed(admin_http, people):
    """Searched casefolded, shown as written: "ZOE  Zi" comes back "ZOE Zi", not "zoe zi"."""
    page = admin_http.get(f"/clients?q={quote('ZOE  Zi')}").body.decode()
    assert 'id="q" name="q" type="search" value="ZOE Zi"' in page
    nothing = admin_http.get(f"/clients?q={quote('Zzzz')}").body.decode()
    assert "the search “Zzzz”" in nothing


def test_search_with_filters_and_archived(admin_http, people):
    assert _names(admin_http.json("GET", "/api/v1/clients?q=cat")) == []
    assert _names(admin_http.json("GET", "/api/v1/clients?q=cat&status=archived")) == ["Cat Cooper"]
    assert _names(admin_http.json("GET", "/api/v1/clients?q=zoe&role=staff")) == []


def test_search_follows_renames_through_the_stream(admin_http, people, pump):
    ann = people["ann"]
    ann.name = "Annabel Quinn"
    ann.save()
    pump.drain()
    assert _names(admin_http.json("GET", "/api/v1/clients?q=quin")) == ["Annabel Quinn"]
    assert _names(admin_http.json("GET", "/api/v1/clients?q=archer")) == []


def test_cursor_pages_cover_everything_once_and_go_back(admin_http, org, pump):
    for index in range(57):
        make_account(org.org_id, name=f"Paged Person {index:02d}")
    pump.drain()
    seen, cursor, pages = [], None, []
    while True:
        body = reply_json(admin_http.json("GET", "/api/v1/clients?size=25" + (f"&cursor={cursor}" if cursor else "")))
        pages.append(body)
        seen += [row["name"] for row in body["rows"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 60 and len(set(seen)) == 60 and [len(p["rows"]) for p in pages] == [25, 25, 10]
    back = reply_json(admin_http.json("GET", f"/api/v1/clients?size=25&cursor={pages[2]['previous_cursor']}"))
    assert back["rows"] == pages[1]["rows"]
    first = reply_json(admin_http.json("GET", f"/api/v1/clients?size=25&cursor={back['previous_cursor']}"))
    assert first["rows"] == pages[0]["rows"] and first["previous_cursor"] is None
    searched = reply_json(admin_http.json("GET", "/api/v1/clients?q=paged&size=25"))
    second = reply_json(admin_http.json("GET", f"/api/v1/clients?q=paged&size=25&cursor={searched['next_cursor']}"))
    names = [r["name"] for r in searched["rows"] + second["rows"]]
    assert len(set(names)) == 50 and searched["stats"]["total"] == 57


def test_staff_see_only_their_caseload_whatever_they_ask(http, org, other_org, people):
    http.sign_in(org.staff)
    expected = {"Cleo Client", "Ann Archer", *(f"Zoe Zimmer {i}" for i in range(4))}  # not themselves
    assert set(_names(http.json("GET", "/api/v1/clients"))) == expected
    assert set(_names(http.json("GET", "/api/v1/clients?staff=-"))) == expected
    assert reply_json(http.json("GET", "/api/v1/clients"))["stats"]["total"] == len(expected)
    assert _names(http.json("GET", "/api/v1/clients?q=dan")) == []
    response = http.json("GET", f"/api/v1/clients/{people['dan'].account_id}/activities")
    assert response.status_code == 404


def test_clients_cannot_list(http, org):
    http.sign_in(org.client)
    assert http.json("GET", "/api/v1/clients").status_code == 403


def test_other_organisations_ids_find_nothing(admin_http, other_org):
    other_group = Group(org_id=other_org.org_id, group_id=new_id(), name="Theirs")
    other_group.save()
    assert _names(admin_http.json("GET", f"/api/v1/clients?group={other_group.group_id}")) == []
    assert _names(admin_http.json("GET", f"/api/v1/clients?staff={other_org.staff.account_id}")) == []
    response = admin_http.json("GET", f"/api/v1/clients/{other_org.client.account_id}/activities")
    assert response.status_code == 404 and reply_json(response)["code"] == "not_found"


@pytest.mark.parametrize("query, field, code", [
    ("role=superuser", "role", "invalid_filter"),
    ("status=deleted", "status", "invalid_filter"),
    ("sort=email", "sort", "invalid_filter"),
    ("dir=sideways", "dir", "invalid_filter"),
    ("no_visit=5", "no_visit", "invalid_filter"),
    ("group=..%2F..%2Fetc", "group", "invalid_filter"),
    ("staff=%27%20OR%201%3D1", "staff", "invalid_filter"),
    ("size=lots", "size", "invalid_filter"),
    ("q=a", "q", "search_too_short"),
    ("q=%25%2A", "q", "search_too_short"),
    ("cursor=not-a-cursor", "cursor", "invalid_cursor"),
])
def test_bad_parameters_get_a_clear_error(admin_http, people, query, field, code):
    response = admin_http.json("GET", f"/api/v1/clients?{query}")
    assert response.status_code == 400
    body = reply_json(response)
    assert body["code"] == code and body["field"] == field and body["message"]


@pytest.mark.parametrize("raw", ['"zoe"', "zo*", "zoe%", "zo\x00e\x07", "z" * 1000, "'; DROP TABLE --", "ZOE\tzim"])
def test_odd_search_strings_are_plain_text(admin_http, people, raw):
    response = admin_http.json("GET", f"/api/v1/clients?q={quote(raw)}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert reply_json(response)["code"] == "search_too_short"


@pytest.mark.parametrize("size, rows", [("0", 25), ("-4", 25), ("26", 50), ("100", 100), ("100000", 100)])
def test_page_sizes_are_clamped(admin_http, org, pump, size, rows):
    for index in range(3):
        make_account(org.org_id, name=f"Sized {index}")
    pump.drain()
    response = admin_http.json("GET", f"/api/v1/clients?size={size}")
    assert response.status_code == 200 and len(reply_json(response)["rows"]) == 6


def test_cursors_are_bound_to_filters_viewer_and_organisation(admin_http, http, org, other_org, pump):
    for index in range(30):
        make_account(org.org_id, name=f"Bound {index:02d}")
    pump.drain()
    cursor = reply_json(admin_http.json("GET", "/api/v1/clients"))["next_cursor"]
    assert admin_http.json("GET", f"/api/v1/clients?role=client&cursor={cursor}").status_code == 400
    body, _, signature = cursor.partition(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    assert admin_http.json("GET", f"/api/v1/clients?cursor={forged}").status_code == 400
    foreign = tokens.seal("cursor", {"o": other_org.org_id, "v": org.admin.account_id, "f": "x", "p": {}})
    assert admin_http.json("GET", f"/api/v1/clients?cursor={foreign}").status_code == 400


def test_the_page_shows_filters_boxes_rows_and_errors_next_to_fields(admin_http, org, people):
    page = admin_http.get("/clients?role=client&q=z").body.decode()
    assert "Total Clients Shown" in page and "New Clients" in page and "Engagement" in page
    assert 'id="q-error"' in page and "at least 2 letters" in page  # the bad search is reported...
    assert "Ann Archer" in page and "Zoe Zimmer 0" in page  # ...and the other filters still apply
    assert "View Activities" in page and "Ada Admin" not in page.split("<tbody>")[1].split("</tbody>")[0]
    partial = admin_http.get("/clients?role=staff", headers={"x-fragment": "1"}).body.decode()
    assert "<html" not in partial and "Eve Evans" in partial


def test_view_activities_shows_sessions_and_timeline(admin_http, chalice_client, org, people):
    Http(chalice_client).sign_in(org.client)
    page = admin_http.get(f"/clients/{org.client.account_id}/activities")
    text = page.body.decode()
    assert page.status_code == 200 and "Sessions" in text and "Timeline" in text and "Signed in" in text
    body = reply_json(admin_http.json("GET", f"/api/v1/clients/{org.client.account_id}/activities"))
    assert body["sessions"][0]["ip"] == "203.0.113.9" and body["events"][0]["kind"] == "signed_in"
    assert admin_http.get("/clients/not-an-id/activities").status_code == 404
    tampered = admin_http.json("GET", f"/api/v1/clients/{org.client.account_id}/activities?events_cursor=x.y")
    assert tampered.status_code == 400 and reply_json(tampered)["code"] == "invalid_cursor"


def test_activity_pages_are_cursored(admin_http, org):
    from chalicelib.activity import timeline

    already = len(list(timeline.latest(org.org_id, org.client.account_id)))
    for index in range(25 - already):
        timeline.record(org.org_id, org.client.account_id, "profile_edited", org.admin, name_to=f"n{index}")
    first = reply_json(admin_http.json("GET", f"/api/v1/clients/{org.client.account_id}/activities"))
    assert len(first["events"]) == 20 and first["events_cursor"]
    second = reply_json(admin_http.json(
        "GET", f"/api/v1/clients/{org.client.account_id}/activities?events_cursor={first['events_cursor']}"))
    assert len(second["events"]) == 5 and second["events_cursor"] is None
    assert {e["at"] for e in first["events"]}.isdisjoint({e["at"] for e in second["events"]})
    assert Account.get(org.org_id, org.client.account_id).name == "Cleo Client"


@pytest.mark.parametrize("sort", ["name", "visit", "created"])
def test_pairs_of_filters_select_exactly_their_rows_in_every_sort(admin_http, org, group, people, sort):
    def names(query):
        return set(_names(admin_http.json("GET", f"/api/v1/clients?sort={sort}&{query}")))

    assert names(f"status=provisioned&group={group.group_id}") == {"Bob Baker"}
    assert names(f"group={group.group_id}&staff={org.staff.account_id}") == {"Ann Archer"}
    assert names(f"status=archived&staff={org.staff.account_id}") == {"Cat Cooper"}
    assert names(f"status=activated&staff={org.staff.account_id}&role=client") == {
        "Cleo Client", "Ann Archer", *(f"Zoe Zimmer {i}" for i in range(4))}
