"""Export CSV: the file's format, row counts against Total Clients Shown, staff scope,
background exports to S3, the Exports list, downloads, schedules, audit, bad input."""
import csv
import io
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from chalicelib.core import aws, config
from chalicelib.core.models import Activity, Export, ExportSchedule, Group, Job, utcnow
from chalicelib.core.spreadsheet import FORMULA_START, defuse
from chalicelib.core.tokens import new_id
from chalicelib.exports import csvfile, exports, reader, schedules, sorting
from chalicelib.invitations import csv_rows
from chalicelib.table.filters import Filters
from tests.conftest import make_account, reply_json


def _table(body: bytes) -> list:
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM first"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _export(http, **filters):
    response = http.post_form("/exports", filters)
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="clients-')
    return _table(response.body)


def _total(http, query=""):
    return reply_json(http.json("GET", f"/api/v1/clients{query}"))["stats"]["total"]


# --------------------------------------------------------------------------- format (pure)

@pytest.mark.parametrize("start", FORMULA_START)
def test_each_formula_character_is_neutralised(start):
    assert defuse(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert csv_rows.report_cell(f"{start}x") == f"'{start}x"  # the import's error report: the same function


@pytest.mark.parametrize("value", ["Ann", "", "O'Neil", " =not first", "1+1", "a@b.org", "—dash"])
def test_ordinary_cells_are_left_alone(value):
    assert defuse(value) == value


def test_rfc4180_quoting_and_unicode_round_trip():
    row = reader.Row("a" * 32, 'He said "hi", then\nleft 😀 مرحبا', "x@y.org", "client", "activated", None, None,
                     None, datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc))
    writer = csvfile.Writer("Europe/London")
    writer.write([row], {})
    data = writer.take()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    assert b'"He said ""hi"", then\nleft' in data
    parsed = _table(data)
    assert parsed[0][6] == "Last visit (Europe/London)" and parsed[0][7] == "Date created (Europe/London)"
    assert parsed[1][0] == 'He said "hi", then\nleft 😀 مرحبا'
    assert parsed[1][7] == "2026-07-01T13:00:00+01:00"  # summer offset
    assert csvfile.local_time(datetime(2026, 1, 1, 12, tzinfo=timezone.utc), "Europe/London") == \
        "2026-01-01T12:00:00+00:00"


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "../etc/passwd", "europe/london", "X" * 300])
def test_bad_time_zones_are_refused(zone):
    from chalicelib.core.errors import ValidationError
    with pytest.raises(ValidationError) as caught:
        csvfile.check_zone(zone)
    assert caught.value.code == "invalid_time_zone" and caught.value.field == "time_zone"


def test_index_is_chosen_only_for_small_selections():
    assert reader.index_is_cheaper(50, 100_000)
    assert not reader.index_is_cheaper(50_000, 100_000)
    assert not reader.index_is_cheaper(500, 600)


# --------------------------------------------------------------------------- direct exports

@pytest.fixture
def crowd(org, group, pump):
    now = utcnow()
    formula_group = Group(org_id=org.org_id, group_id=new_id(), name="=HYPERLINK(\"http://x\")")
    formula_group.save()
    made = {
        "quote": make_account(org.org_id, name='Ann "The Best", Archer', group_id=group.group_id,
                              staff_id=org.staff.account_id, staff_email=org.staff.email, last_visit=now),
        "emoji": make_account(org.org_id, name="Zoë 😀 Ünal", status="provisioned"),
        "rtl": make_account(org.org_id, name="مريم الحسن", group_id=formula_group.group_id),
        "formula": make_account(org.org_id, name="=cmd|' /C calc'!A0", email=f"f@{org.org_id[:6]}.example.org"),
        "plus": make_account(org.org_id, name="+Plus Minus", group_id=formula_group.group_id),
        "at": make_account(org.org_id, name="@SUM(1)", staff_id=org.staff.account_id),
        "archived": make_account(org.org_id, name="Old Archived", status="archived", previous_status="activated"),
    }
    pump.drain()
    return made


def test_full_table_has_every_column_and_as_many_rows_as_total_clients_shown(admin_http, org, crowd):
    rows = _export(admin_http)
    header, data = rows[0], rows[1:]
    assert header[:6] == ["Name", "Email", "Role", "Status", "Group", "Assigned staff email"]
    assert header[6:] == ["Last visit (UTC)", "Date created (UTC)", "Account id", "Invitation state"]
    assert len(data) == _total(admin_http) == 9  # 3 of the org + 6 live made here; archived left out
    names = {r[0] for r in data}
    assert 'Ann "The Best", Archer' in names and "Zoë 😀 Ünal" in names and "مريم الحسن" in names
    assert "Old Archived" not in names
    ann = next(r for r in data if r[0].startswith("Ann"))
    assert ann[2:6] == ["Client", "Activated", "Job Club", org.staff.email] and ann[8] == crowd["quote"].account_id
    assert datetime.fromisoformat(ann[6]).utcoffset() == timedelta(0)


def test_formula_looking_names_and_group_names_are_neutralised(admin_http, crowd):
    data = _export(admin_http)[1:]
    cells = [cell for row in data for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'+Plus Minus" in cells and "'@SUM(1)" in cells
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not any(cell.startswith(FORMULA_START) for cell in cells)


@pytest.mark.parametrize("filters, query", [
    ({"status": "archived"}, "?status=archived"),
    ({"role": "staff"}, "?role=staff"),
    ({"status": "provisioned"}, "?status=provisioned"),
    ({"q": "ann"}, "?q=ann"),
    ({"group": "-", "role": "client"}, "?group=-&role=client"),
])
def test_filtered_exports_match_total_clients_shown(admin_http, crowd, filters, query):
    data = _export(admin_http, **filters)[1:]
    assert len(data) == _total(admin_http, query) > 0


@pytest.mark.parametrize("filters, query", [
    ({"role": "client"}, "?role=client"),
    ({"staff": "OWNER"}, "?staff=OWNER"),
    ({"status": "activated", "group": "-", "sort": "created", "dir": "desc"}, "?status=activated&group=-&sort=created&dir=desc"),
])
def test_the_index_path_exports_the_same_rows(admin_http, org, crowd, monkeypatch, filters, query):
    """Selections small next to the organisation read the Clients Table's index (forced here)."""
    filters = {k: v.replace("OWNER", org.staff.account_id) for k, v in filters.items()}
    query = query.replace("OWNER", org.staff.account_id)
    table_rows = _export(admin_http, **filters)[1:]
    monkeypatch.setattr(reader, "ITEM_BYTES", 10 ** 7)
    from chalicelib.table.filters import parse_filters
    viewer = exports.Viewer(org.org_id, org.admin.account_id, "admin", "Ada", "")
    assert reader.start(org.org_id, parse_filters(filters, viewer))["path"] == "index"
    index_rows = _export(admin_http, **filters)[1:]
    assert sorted(index_rows) == sorted(table_rows) and len(index_rows) == _total(admin_http, query) > 0


def test_filters_matching_nothing_give_the_header_only(admin_http, crowd):
    rows = _export(admin_http, q="zzqqxx")
    assert len(rows) == 1 and rows[0][0] == "Name"


def test_staff_export_only_their_caseload(http, org, crowd):
    http.sign_in(org.staff)
    data = _export(http, staff="-")  # asking for another caseload is overridden
    ids = {r[8] for r in data[1:]}
    assert ids == {org.client.account_id, crowd["quote"].account_id, crowd["at"].account_id}  # not themselves
    assert len(data) - 1 == _total(http)


def test_clients_cannot_export(http, org):
    http.sign_in(org.client)
    response = http.json("POST", "/api/v1/exports", {})
    assert response.status_code == 403 and reply_json(response)["code"] == "forbidden"


@pytest.mark.parametrize("body, field", [({"role": "pirate"}, "role"), ({"q": "a"}, "q"), ({"size": "5"}, "size"),
                                         ({"group": "../x"}, "group")])
def test_bad_filters_are_clear_errors(admin_http, body, field):
    response = admin_http.json("POST", "/api/v1/exports", body)
    assert response.status_code in (400, 422)
    error = reply_json(response)
    assert error["message"] and (error.get("field") == field or error["code"] == "unknown_field")


def test_export_is_audited_and_listed(admin_http, org, crowd):
    _export(admin_http, role="client")
    log = list(Activity.query(f"{org.org_id}#org", scan_index_forward=False, limit=5))
    entry = next(a for a in log if a.kind == "export")
    detail = entry.detail
    assert entry.actor_id == org.admin.account_id and detail["filters"] == "Role: Client"
    assert detail["rows"] == str(_total(admin_http, "?role=client"))
    listed = reply_json(admin_http.json("GET", "/api/v1/exports"))["exports"]
    assert listed[0]["summary"] == "Role: Client" and listed[0]["status"] == "downloaded"
    page = admin_http.get("/exports")
    assert page.status_code == 200 and b"Role: Client" in page.body and b"Downloaded at once" in page.body


def test_time_zone_setting_changes_dates_and_header(admin_http, org, crowd):
    response = admin_http.post_form("/exports/time-zone", {"time_zone": "America/New_York"})
    assert response.status_code == 303
    rows = _export(admin_http)
    assert rows[0][7] == "Date created (America/New_York)"
    assert datetime.fromisoformat(rows[1][7]).utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    bad = admin_http.post_form("/exports/time-zone", {"time_zone": "Nowhere/Land"})
    assert bad.status_code == 400 and b"Unknown time zone" in bad.body and b'aria-invalid="true"' in bad.body
    api = admin_http.json("PUT", "/api/v1/exports/time-zone", {"time_zone": "Mars"})
    assert api.status_code == 400 and reply_json(api)["code"] == "invalid_time_zone"


def test_staff_cannot_change_the_time_zone(http, org):
    http.sign_in(org.staff)
    response = http.json("PUT", "/api/v1/exports/time-zone", {"time_zone": "Europe/Paris"})
    assert response.status_code == 403


# --------------------------------------------------------------------------- background exports

@pytest.fixture
def small_direct_limit(monkeypatch):
    monkeypatch.setattr(exports, "DIRECT_MAX_ROWS", 2)
    monkeypatch.setattr(exports, "READ_ROWS", 3)


def _s3_text(key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=config.bucket(), Key=key)["Body"].read()


@pytest.fixture
def small_steps(monkeypatch):
    """Tiny runs, windows, parts and steps: a few rows exercise every path of the background job."""
    import moto.s3.models

    monkeypatch.setattr(exports, "PART_BYTES", 1)  # a part per READ_ROWS rows
    monkeypatch.setattr(exports, "STEP_SECONDS", 0)  # one run or one part per step
    monkeypatch.setattr(reader, "TABLE_PAGE_ITEMS", 3)
    monkeypatch.setattr(sorting, "RUN_BYTES", 1)  # a sorted run per read
    monkeypatch.setattr(sorting, "WINDOW", 40)  # ranged reads cut lines in the middle
    monkeypatch.setattr(sorting, "SMALLEST_WINDOW", 40)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1)  # moto, like S3, wants 5 MiB parts


def _table_order(http, query: str = "") -> list:
    """The account ids as the Clients Table lists them, every page."""
    ids, cursor = [], None
    while True:
        joiner = "&" if query else "?"
        page = reply_json(http.json("GET", f"/api/v1/clients{query}{joiner}size=100"
                                           + (f"&cursor={cursor}" if cursor else "")))
        ids += [row["account_id"] for row in page["rows"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def test_large_exports_run_as_jobs_to_s3_in_the_tables_order(admin_http, org, crowd, pump, small_direct_limit,
                                                              small_steps):
    response = admin_http.post_form("/exports", {})
    assert response.status_code == 303
    export_id = response.headers["Location"].rsplit("/", 1)[1]
    page = admin_http.get(f"/exports/{export_id}")
    assert page.status_code == 200 and b"Preparing your file" in page.body and b"data-job-url" in page.body
    assert b"Cancel" in page.body
    pump.drain(rounds=200)
    state = reply_json(admin_http.json("GET", f"/api/v1/exports/{export_id}"))
    assert state["status"] == "ready" and state["rows"] == _total(admin_http) == 9
    job = Job.get(state["job_id"])
    assert job.kind == "export" and job.status == "done" and len(job.cursor["runs"]) >= 3
    assert len(job.cursor["etags"]) >= 3  # several parts, one file
    stored = Export.get(org.org_id, export_id)
    rows = _table(_s3_text(stored.object_key))
    assert rows[0][0] == "Name" and len(rows) == 10
    assert [r[8] for r in rows[1:]] == _table_order(admin_http)  # the table's order, not the ids'
    runs = aws.client("s3").list_objects_v2(Bucket=config.bucket(), Prefix=f"{stored.object_key}.runs/")
    assert runs.get("KeyCount", 0) == 0  # the sorted runs are deleted once merged
    download = admin_http.get(f"/exports/{export_id}/download")
    assert download.status_code == 302
    link = download.headers["Location"]
    query = parse_qs(urlparse(link).query)
    assert query["response-content-disposition"][0].startswith('attachment; filename="clients-')
    if "X-Amz-Expires" in query:  # SigV4
        assert int(query["X-Amz-Expires"][0]) == exports.LINK_SECONDS
    else:  # SigV2: an epoch time
        assert 0 < int(query["Expires"][0]) - utcnow().timestamp() <= exports.LINK_SECONDS + 1
    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200 and fetched.content == _s3_text(stored.object_key)
    assert b"Your file is ready" in admin_http.get(f"/exports/{export_id}").body


@pytest.mark.parametrize("filters, query", [
    ({}, ""),
    ({"sort": "name", "dir": "desc"}, "?dir=desc"),
    ({"sort": "created"}, "?sort=created"),
    ({"sort": "visit", "dir": "desc"}, "?sort=visit&dir=desc"),
    ({"status": "provisioned"}, "?status=provisioned"),
])
def test_every_export_comes_in_the_tables_order(admin_http, org, crowd, pump, filters, query):
    """Direct exports (sorted in memory) in each of the table's sorts; background ones: the tests above."""
    expected = _table_order(admin_http, query)
    direct = _export(admin_http, **filters)[1:]
    assert [r[8] for r in direct] == expected and len(expected) == _total(admin_http, query)


def test_a_background_export_sorts_descending_through_runs(admin_http, org, crowd, pump, small_direct_limit,
                                                            small_steps):
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {"sort": "created", "dir": "desc"}))["export_id"]
    pump.drain(rounds=200)
    stored = Export.get(org.org_id, export_id)
    assert stored.status == "ready"
    assert [r[8] for r in _table(_s3_text(stored.object_key))[1:]] == _table_order(admin_http, "?sort=created&dir=desc")


@pytest.mark.parametrize("filters, query, path, runs", [
    ({"role": "client", "sort": "created", "dir": "desc"}, "?role=client&sort=created&dir=desc", "index", 2),
    ({"q": "an"}, "?q=an", "search", 0),  # a few matches: read at once, no runs
])
def test_index_and_search_exports_in_runs_keep_the_tables_order(admin_http, org, crowd, pump, small_direct_limit,
                                                                 small_steps, monkeypatch, filters, query, path, runs):
    monkeypatch.setattr(reader, "ITEM_BYTES", 10 ** 7)  # the index path even for a few rows
    monkeypatch.setattr(reader, "KEYS_PER_READ", 2)  # small pages: several runs
    monkeypatch.setattr(reader, "SEARCH_PAGE", 2)
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", filters))["export_id"]
    pump.drain(rounds=200)
    stored = Export.get(org.org_id, export_id)
    job = Job.get(stored.job_id)
    assert stored.status == "ready" and job.cursor["path"] == path
    ids = [r[8] for r in _table(_s3_text(stored.object_key))[1:]]
    assert ids == _table_order(admin_http, query) and len(ids) == _total(admin_http, query) > 0
    assert len(job.cursor["runs"]) >= runs


def test_a_step_run_twice_writes_the_same_file(admin_http, org, crowd, pump, small_direct_limit, small_steps):
    """Every step of the job is run twice (a redelivery after a lost commit): the file is the same, audited once."""
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {"role": "client"}))["export_id"]
    job_id = Export.get(org.org_id, export_id).job_id
    from chalicelib.jobs import runner

    twice = 0
    while Job.get(job_id).status == "running":
        job = Job.get(job_id)
        exports.run_job(job)  # a first run whose commit is lost...
        assert runner.run_step(job_id, int(job.step_seq)) == runner.Outcome.RAN  # ...then the step again
        twice += 1
    assert twice >= 4
    stored = Export.get(org.org_id, export_id)
    rows = _table(_s3_text(stored.object_key))
    assert stored.status == "ready" and len(rows) - 1 == stored.rows == _total(admin_http, "?role=client")
    assert [r[8] for r in rows[1:]] == _table_order(admin_http, "?role=client")
    audited = [a for a in Activity.query(f"{org.org_id}#org") if a.kind == "export"
               and a.detail.get("export_id") == export_id]
    assert len(audited) == 1


def test_a_lost_queue_message_is_finished_by_the_sweeper(admin_http, org, crowd, pump, small_direct_limit):
    from chalicelib.jobs import lifecycle, runner

    sqs = aws.client("sqs")
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {}))["export_id"]
    sqs.purge_queue(QueueUrl=config.jobs_queue_url())  # the first step's message is lost
    pump.drain()
    assert Export.get(org.org_id, export_id).status == "running"
    swept = runner.sweep(now=utcnow() + timedelta(seconds=lifecycle.HANDOFF_SECONDS + 1))
    assert swept["requeued"] >= 1
    pump.drain(rounds=50)
    stored = Export.get(org.org_id, export_id)
    assert stored.status == "ready" and stored.rows == _total(admin_http)


def test_cancel_and_retry_of_a_background_export(admin_http, org, crowd, pump, small_direct_limit, small_steps):
    from chalicelib.jobs import lifecycle, runner

    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {}))["export_id"]
    cancelled = admin_http.post_form(f"/exports/{export_id}/cancel", {})
    assert cancelled.status_code == 303
    pump.drain(rounds=50)
    state = reply_json(admin_http.json("GET", f"/api/v1/exports/{export_id}"))
    assert state["status"] == "cancelled"
    assert b"Cancelled" in admin_http.get(f"/exports/{export_id}").body and b"Cancelled" in admin_http.get("/exports").body
    again = admin_http.post_form(f"/exports/{export_id}/cancel", {})
    assert again.status_code == 409
    # A step that keeps failing: the job fails after its attempts, the page offers Retry, Retry finishes it.
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {}))["export_id"]
    job_id = Export.get(org.org_id, export_id).job_id
    Job(job_id=job_id).update(actions=[Job.attempts.set(lifecycle.MAX_ATTEMPTS)])
    assert runner.run_step(job_id, 0) == runner.Outcome.FAILED
    state = reply_json(admin_http.json("GET", f"/api/v1/exports/{export_id}"))
    assert state["status"] == "failed"
    page = admin_http.get(f"/exports/{export_id}")
    assert b"The export failed" in page.body and b"Retry" in page.body
    assert admin_http.post_form(f"/exports/{export_id}/retry", {}).status_code == 303
    pump.drain(rounds=200)
    assert reply_json(admin_http.json("GET", f"/api/v1/exports/{export_id}"))["status"] == "ready"


def test_a_direct_export_too_large_for_one_response_is_stored_instead(admin_http, org, crowd, monkeypatch):
    monkeypatch.setattr(exports, "DIRECT_MAX_BYTES", 500)
    response = admin_http.post_form("/exports", {})
    assert response.status_code == 303
    export_id = response.headers["Location"].rsplit("/", 1)[1]
    stored = Export.get(org.org_id, export_id)
    assert stored.status == "ready" and stored.rows == 9 and len(_table(_s3_text(stored.object_key))) == 10
    assert admin_http.get(f"/exports/{export_id}/download").status_code == 302


def test_expired_file_and_other_organisations_exports(admin_http, http, org, other_org, crowd, small_direct_limit,
                                                      pump):
    export_id = reply_json(admin_http.json("POST", "/api/v1/exports", {}))["export_id"]
    pump.drain()
    stored = Export.get(org.org_id, export_id)
    stored.file_until = utcnow() - timedelta(minutes=1)
    stored.save()
    expired = admin_http.json("GET", f"/api/v1/exports/{export_id}/download")
    assert expired.status_code == 410 and reply_json(expired)["code"] == "expired"
    page = admin_http.get(f"/exports/{export_id}/download")
    assert page.status_code == 410 and b"expired" in page.body
    assert b"Expired" in admin_http.get("/exports").body
    other = type(http)(http.client)
    other.sign_in(other_org.admin)
    for path in (f"/api/v1/exports/{export_id}", f"/api/v1/exports/{export_id}/download",
                 "/api/v1/exports/not-an-id", f"/api/v1/exports/{'9' * 14}{'a' * 12}"):
        response = other.json("GET", path)
        assert response.status_code == 404 and reply_json(response)["code"] == "not_found"


def test_staff_see_only_their_own_exports(http, org, crowd, pump):
    http.sign_in(org.staff)
    _export(http)
    mine = reply_json(http.json("GET", "/api/v1/exports"))["exports"]
    assert mine and all(e["owner_id"] == org.staff.account_id for e in mine)
    admin_export = exports.start(exports.Viewer(org.org_id, org.admin.account_id, "admin", "Ada", ""), {})
    response = http.json("GET", f"/api/v1/exports/{admin_export.export.export_id}")
    assert response.status_code == 404


# --------------------------------------------------------------------------- schedules

def _of_org(org_id: str, export_ids: list) -> list:
    """The exports a run started for this organisation (the runner serves every organisation's due schedules)."""
    mine = {e.export_id for e in Export.query(org_id)}
    return [i for i in export_ids if i in mine]


def test_scheduled_export_runs_once_per_period_and_is_listed(admin_http, org, crowd, pump):
    response = admin_http.post_form("/exports/schedules", {"frequency": "weekly", "weekday": "Wednesday",
                                                           "time": "07:15", "role": "client", "email_admins": "on"})
    assert response.status_code == 303
    listed = reply_json(admin_http.json("GET", "/api/v1/export-schedules"))["schedules"]
    assert len(listed) == 1 and listed[0]["frequency"] == "weekly" and listed[0]["summary"] == "Role: Client"
    assert listed[0]["when"] == "Weekly on Wednesday at 07:15" and listed[0]["time_zone"] == "UTC"
    schedule = ExportSchedule.get(org.org_id, listed[0]["schedule_id"])
    run_at = schedules.next_run(schedule)
    assert run_at > utcnow() and run_at.weekday() == 2 and (run_at.hour, run_at.minute) == (7, 15)
    assert _of_org(org.org_id, schedules.run_due(run_at - timedelta(minutes=1))) == []  # not due yet
    started = _of_org(org.org_id, schedules.run_due(run_at + timedelta(minutes=1)))
    assert len(started) == 1
    assert _of_org(org.org_id, schedules.run_due(run_at + timedelta(minutes=2))) == []  # not again this week
    pump.drain(rounds=50)
    export = reply_json(admin_http.json("GET", f"/api/v1/exports/{started[0]}"))
    assert export["kind"] == "scheduled" and export["status"] == "ready"
    from tools.local import outbox
    mail = [m for m in outbox.sent_messages() if m["to"] == org.admin.email and started[0] in m["text"]]
    assert len(mail) == 1 and mail[0]["subject"] == "Your scheduled Caseload export is ready"
    assert f"/exports/{started[0]}" in mail[0]["text"] and f"{export['rows']:,} rows" in mail[0]["text"]
    assert export["rows"] == _total(admin_http, "?role=client")
    stored = Export.get(org.org_id, started[0])
    assert stored.object_key.startswith(f"exports/{org.org_id}/")
    schedule.refresh()
    assert schedules.next_run(schedule) == run_at + timedelta(days=7)
    later = _of_org(org.org_id, schedules.run_due(run_at + timedelta(days=7, minutes=1)))
    assert len(later) == 1 and later[0] != started[0]
    assert b"Scheduled" in admin_http.get("/exports").body
    log = [a for a in Activity.query(f"{org.org_id}#org") if a.kind == "export"]
    assert any(a.detail.get("schedule_id") == schedule.schedule_id for a in log)


def test_the_time_of_day_is_the_organisations_wall_clock(admin_http, org):
    admin_http.post_form("/exports/time-zone", {"time_zone": "America/New_York"})
    created = reply_json(admin_http.json("POST", "/api/v1/export-schedules", {"frequency": "daily", "time": "06:30"}))
    assert created["time_zone"] == "America/New_York" and created["when"] == "Daily at 06:30"
    run_at = datetime.fromisoformat(created["next_run_at"])
    local = run_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (6, 30) and utcnow() < run_at <= utcnow() + timedelta(days=1)
    # Across the change to summer time the wall clock stays 06:30 (the UTC time moves by an hour).
    winter = schedules.next_slot("daily", "06:30", 0, "America/New_York", datetime(2026, 3, 6, 12, tzinfo=timezone.utc))
    summer = schedules.next_slot("daily", "06:30", 0, "America/New_York", winter)
    assert (winter.hour, summer.hour) == (11, 10) and summer - winter == timedelta(hours=23)


def test_a_schedule_can_be_edited(admin_http, org):
    created = reply_json(admin_http.json("POST", "/api/v1/export-schedules", {"frequency": "daily", "time": "05:00"}))
    schedule_id = created["schedule_id"]
    page = admin_http.get(f"/exports/schedules/{schedule_id}")
    assert page.status_code == 200 and b"Edit scheduled export" in page.body and b'value="05:00"' in page.body
    response = admin_http.post_form(f"/exports/schedules/{schedule_id}", {
        "frequency": "weekly", "weekday": "Friday", "time": "18:45", "status": "provisioned", "email_admins": "on"})
    assert response.status_code == 303
    changed = reply_json(admin_http.json("GET", "/api/v1/export-schedules"))["schedules"][0]
    assert changed["when"] == "Weekly on Friday at 18:45" and changed["summary"] == "Status: Provisioned"
    assert changed["email_admins"] is True
    run_at = datetime.fromisoformat(changed["next_run_at"])
    assert run_at.weekday() == 4 and (run_at.hour, run_at.minute) == (18, 45)
    api = admin_http.json("PUT", f"/api/v1/export-schedules/{schedule_id}", {"frequency": "daily", "time": "23:59"})
    assert api.status_code == 200 and reply_json(api)["when"] == "Daily at 23:59"
    log = [a for a in Activity.query(f"{org.org_id}#org") if a.kind == "export_schedule_changed"]
    assert len(log) == 2
    # A bad value keeps the form, with the error next to its field; nothing changes.
    bad = admin_http.post_form(f"/exports/schedules/{schedule_id}", {"frequency": "daily", "time": "24:00"})
    assert bad.status_code == 400 and b'id="s-time-error"' in bad.body and b'value="24:00"' in bad.body
    assert reply_json(admin_http.json("GET", "/api/v1/export-schedules"))["schedules"][0]["when"] == "Daily at 23:59"


@pytest.mark.parametrize("body, field, code", [
    ({"frequency": "daily", "time": "25:00"}, "time", "invalid_time"),
    ({"frequency": "daily", "time": "6"}, "time", "invalid_time"),
    ({"frequency": "daily", "time": "06:60"}, "time", "invalid_time"),
    ({"frequency": "daily", "time": ""}, "time", "invalid_time"),
    ({"frequency": "weekly", "weekday": "Funday", "time": "06:00"}, "weekday", "invalid_weekday"),
    ({"frequency": "weekly", "weekday": "9", "time": "06:00"}, "weekday", "invalid_weekday"),
])
def test_invalid_times_and_days_are_clear_errors(admin_http, org, body, field, code):
    api = admin_http.json("POST", "/api/v1/export-schedules", body)
    assert api.status_code == 400 and reply_json(api)["code"] == code and reply_json(api)["field"] == field
    response = admin_http.post_form("/exports/schedules", body)
    assert response.status_code == 400 and f'id="s-{field}-error"'.encode() in response.body
    assert not list(ExportSchedule.query(org.org_id))


def test_the_same_run_fired_twice_starts_one_export(admin_http, org):
    schedule = schedules.create(exports.Viewer(org.org_id, org.admin.account_id, "admin", "Ada", ""), "daily", {})
    run_at = schedules.next_run(schedule)
    first = _of_org(org.org_id, schedules.run_due(run_at))
    schedule.refresh()
    schedule.update(actions=[ExportSchedule.next_run_at.set(f"{run_at.isoformat()}#{schedule.schedule_id}")])
    second = _of_org(org.org_id, schedules.run_due(run_at))
    assert first == second
    assert sum(1 for e in Export.query(org.org_id) if e.schedule_id == schedule.schedule_id) == 1


@pytest.mark.parametrize("frequency", ["", "hourly", "DAILYY", "monthly"])
def test_invalid_frequency_is_an_error_next_to_the_field(admin_http, org, frequency):
    response = admin_http.post_form("/exports/schedules", {"frequency": frequency, "role": "client"})
    assert response.status_code == 400 and b'id="s-frequency-error"' in response.body
    api = admin_http.json("POST", "/api/v1/export-schedules", {"frequency": frequency})
    assert api.status_code == 400 and reply_json(api)["code"] == "invalid_frequency"
    assert not list(ExportSchedule.query(org.org_id))


def test_schedule_filters_are_validated(admin_http):
    for body in ({"frequency": "daily", "filters": "role=client"}, {"frequency": "daily", "filters": {"role": "x"}},
                 {"frequency": "daily", "cron": "* * *"}):
        response = admin_http.json("POST", "/api/v1/export-schedules", body)
        assert response.status_code in (400, 422) and reply_json(response)["message"], body


def test_another_organisations_schedule_does_not_exist(admin_http, http, org, other_org):
    created = reply_json(admin_http.json("POST", "/api/v1/export-schedules", {"frequency": "daily"}))
    schedule_id = created["schedule_id"]
    other = type(http)(http.client)
    other.sign_in(other_org.admin)
    response = other.json("DELETE", f"/api/v1/export-schedules/{schedule_id}")
    assert response.status_code == 404 and reply_json(response)["code"] == "not_found"
    response = other.json("PUT", f"/api/v1/export-schedules/{schedule_id}", {"frequency": "weekly"})
    assert response.status_code == 404 and reply_json(response)["code"] == "not_found"
    assert other.post_form(f"/exports/schedules/{schedule_id}/delete", {}).status_code == 404
    assert other.post_form(f"/exports/schedules/{schedule_id}", {"frequency": "weekly", "time": "01:00"}
                           ).status_code == 404
    assert other.get(f"/exports/schedules/{schedule_id}").status_code == 404
    assert other.get(f"/exports/schedules/{'0' * 32}").status_code == 404
    stored = ExportSchedule.get(org.org_id, schedule_id)
    assert stored.frequency == "daily"
    assert admin_http.json("DELETE", f"/api/v1/export-schedules/{schedule_id}").status_code == 204
    assert not list(ExportSchedule.query(org.org_id))


def test_staff_cannot_schedule(http, org):
    http.sign_in(org.staff)
    assert http.json("POST", "/api/v1/export-schedules", {"frequency": "daily"}).status_code == 403


def test_the_runner_queries_the_due_index_never_scans(monkeypatch):
    """Nothing due: one Query, no Scan, whatever the number of organisations."""
    from pynamodb.connection.base import Connection

    calls = []
    real_query = Connection.query

    def query(self, table_name, *args, **kwargs):
        calls.append(("Query", table_name, kwargs.get("index_name")))
        return real_query(self, table_name, *args, **kwargs)

    def scan(self, table_name, *args, **kwargs):
        raise AssertionError(f"Scan of {table_name}")

    monkeypatch.setattr(Connection, "query", query)
    monkeypatch.setattr(Connection, "scan", scan)
    assert schedules.run_due(datetime(2000, 1, 1, tzinfo=timezone.utc)) == []
    assert calls == [("Query", ExportSchedule.Meta.table_name, "by_due")]
