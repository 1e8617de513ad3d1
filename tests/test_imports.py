"""Bulk invitations by CSV: presigned upload to S3, the queue-driven dry run,
the chunked import, bad files, idempotency and resumption."""
from datetime import timedelta

import pytest
import requests

from chalicelib.core.models import Account, Job, utcnow
from chalicelib.jobs import runner
from chalicelib.core.tokens import new_id
from chalicelib.invitations import csv_rows, imports
from chalicelib.people.accounts import Viewer
from tests.conftest import reply_json


def people(n: int, tag: str = None) -> list:
    tag = tag or new_id()[:8]
    return [f"p{i}.{tag}@example.org" for i in range(n)]


def upload(http, content: bytes, filename: str = "people.csv") -> str:
    """As the browser does it: ask for a presigned POST, send the file straight to S3."""
    started = reply_json(http.json("POST", "/api/v1/invites/uploads", {"filename": filename}))
    assert started["max_bytes"] == 10 * 1024 * 1024
    assert started["upload"]["fields"]["key"].startswith("uploads/")
    reply = requests.post(started["upload"]["url"], data=started["upload"]["fields"],
                          files={"file": (filename, content, "text/csv")}, timeout=30)
    assert reply.status_code in (200, 201, 204), reply.text
    return started["job_id"]


def job(http, job_id: str) -> dict:
    return reply_json(http.json("GET", f"/api/v1/invites/uploads/{job_id}"))


def checked(http, pump, content: bytes, filename="people.csv") -> dict:
    job_id = upload(http, content, filename)
    pump.drain()
    return job(http, job_id)


def org_accounts(org_id: str) -> int:
    return Account.count(org_id)


# --------------------------------------------------------------------------- parsing (pure)

def test_rows_read_header_aliases_semicolons_bom_and_quoted_newlines():
    data = "\ufeffE-mail;First name;Last Name;ROLE;Group;Staff email\na@x.org;Ana;Bell;Staff;;\n\n" \
           "b@x.org;\"Bo\nX\";;;Job Club;s@x.org\n"
    found = list(csv_rows.rows([data.encode()[i:i + 5] for i in range(0, len(data.encode()), 5)]))
    assert [(r.number, r.email, r.name, r.role, r.group, r.staff_email) for r in found] == [
        (2, "a@x.org", "Ana Bell", "staff", "", ""), (4, "b@x.org", "Bo\nX", "", "Job Club", "s@x.org")]


def test_rows_without_header_are_positional():
    found = list(csv_rows.rows([b"a@x.org,Ana Bell,admin\nb@x.org\n"]))
    assert [(r.number, r.email, r.name, r.role) for r in found] == [(1, "a@x.org", "Ana Bell", "admin"),
                                                                    (2, "b@x.org", "", "")]


@pytest.mark.parametrize("data,code", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("email,name\na@x.org,Zoë\n".encode("latin-1"), "not_utf8"),
    (b'"email,name\na@x.org,Ana\n', "malformed"),
    (b"email,name,Email\na@x.org,A,b\n", "duplicate_column"),
    (b"name,role\nAna,client\n", "no_email_column"),
])
def test_file_problems(data, code):
    with pytest.raises(csv_rows.FileProblem) as caught:
        list(csv_rows.rows([data]))
    assert caught.value.code == code and caught.value.message


def test_too_many_rows_and_too_many_bytes():
    with pytest.raises(csv_rows.FileProblem) as caught:
        list(csv_rows.rows([b"a@x.org\n" * (csv_rows.MAX_ROWS + 1)]))
    assert caught.value.code == "too_many_rows"
    with pytest.raises(csv_rows.FileProblem) as caught:
        list(csv_rows.rows([b"x"], size=csv_rows.MAX_BYTES + 1))
    assert caught.value.code == "too_large"


def test_formulas_are_row_errors_and_defused_in_the_report():
    found = list(csv_rows.rows([b"email,name\na@x.org,=HYPERLINK(\"x\")\n+b@x.org,B\n"]))
    assert all("formulas are not accepted" in r.problem for r in found)
    assert csv_rows.report_cell("=SUM(A1)") == "'=SUM(A1)" and csv_rows.report_cell("ok") == "ok"


# --------------------------------------------------------------------------- upload, dry run, import

def test_dry_run_then_import(admin_http, pump, org, group):
    emails = people(5)
    content = ("email,name,role,group,staff_email\n"
               f"{emails[0]},Ana One,client,Job Club,{org.staff.email}\n"
               f"{emails[1]},Bo Two,,job club,\n"
               f"{emails[2].upper()},Cy Three,staff,,\n"
               f"{emails[0]},Ana Again,,,\n"  # duplicate of row 2
               "not-an-address,Dee,,,\n"
               f"{emails[3]},Eve,client,Unknown Group,\n"
               f"{emails[4]},Fay,client,,nobody@example.org\n"
               f"{org.client.email},Cleo,,,\n").encode()
    before = org_accounts(org.org_id)
    state = checked(admin_http, pump, content)
    assert state["status"] == "ready", state
    assert state["dry_run"] == {"rows": 8, "would_invite": 3, "exists": 1, "duplicates": 1, "invalid": 3,
                                "suppressed": 0}
    problems = {e["row"]: e["problem"] for e in state["errors"]}
    assert problems[5] == "Duplicate of row 2."
    assert "must have an @-sign" in problems[6]
    assert "Unknown group “Unknown Group”" in problems[7] and "Unknown staff member" in problems[8]
    assert org_accounts(org.org_id) == before  # the dry run writes nothing
    report = admin_http.get(f"/invites/uploads/{state['job_id']}/errors.csv")
    assert report.status_code == 302
    text = requests.get(report.headers["Location"], timeout=10).content.decode("utf-8-sig")
    assert text.splitlines()[0] == "row,email,problem" and len(text.splitlines()) == 5

    committed = reply_json(admin_http.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/commit",
                                           {"send_email": True}))
    assert committed["status"] == "importing"
    pump.drain()
    done = job(admin_http, state["job_id"])
    assert done["status"] == "done" and done["rows_done"] == done["planned"] == 4
    assert done["result"] == {"invited": 3, "exists": 1, "invalid": 3, "suppressed": 0, "duplicates": 1}
    assert org_accounts(org.org_id) == before + 3
    ana = Account.get(org.org_id, next(a.account_id for a in Account.by_email.query(emails[0])
                                       if a.org_id == org.org_id))
    assert (ana.name, ana.group_id, ana.staff_id, ana.status) == ("Ana One", group.group_id,
                                                                  org.staff.account_id, "provisioned")


def test_uploading_the_same_file_again_invites_nobody_twice(admin_http, pump, org):
    content = ("\n".join(people(3)) + "\n").encode()
    first = checked(admin_http, pump, content)
    admin_http.json("POST", f"/api/v1/invites/uploads/{first['job_id']}/commit", {"send_email": False})
    pump.drain()
    again = checked(admin_http, pump, content)
    assert again["dry_run"]["would_invite"] == 0 and again["dry_run"]["exists"] == 3
    admin_http.json("POST", f"/api/v1/invites/uploads/{again['job_id']}/commit", {"send_email": False})
    pump.drain()
    assert job(admin_http, again["job_id"])["result"]["invited"] == 0


def test_large_imports_run_in_chunks_and_resume(admin_http, pump, org, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 40)
    emails = people(100)
    state = checked(admin_http, pump, ("email\n" + "\n".join(emails) + "\n").encode())
    job_id = state["job_id"]
    # The second chunk crashes half-way through (after its accounts were written).
    real = imports.invites.invite_invitees
    calls = []

    def crash_once(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(imports.invites, "invite_invitees", crash_once)
    admin_http.json("POST", f"/api/v1/invites/uploads/{job_id}/commit", {"send_email": False})
    pump.drain()
    stopped = job(admin_http, job_id)
    assert stopped["status"] == "importing" and stopped["rows_done"] == 40  # progress the window shows
    assert stopped["job"]["state"] == "stalled" and "Lambda timed out" not in stopped["job"]["message"]
    assert runner.run_step(job_id, 0) == runner.Outcome.STALE  # a redelivered, finished chunk is a no-op
    runner.sweep(now=utcnow() + timedelta(minutes=10))  # the sweeper re-queues the stalled step
    pump.drain(rounds=1000)  # (and the session's uploads still waiting for a file: they look again)
    done = job(admin_http, job_id)
    assert done["status"] == "done" and done["rows_done"] == done["planned"] == 100
    assert done["result"]["invited"] == 100 and done["result"]["exists"] == 0  # exact after the re-run
    assert org_accounts(org.org_id) == 3 + 100  # nobody twice


@pytest.mark.parametrize("content,code_text", [
    (b"", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "binary data"),
    (b"email,Email\na@example.org,b@example.org\n", "appears twice"),
    (b"email\n\n\n", "no rows"),
])
def test_bad_files_fail_with_a_clear_message_and_write_nothing(admin_http, pump, org, content, code_text):
    before = org_accounts(org.org_id)
    state = checked(admin_http, pump, content, "people.csv")
    assert state["status"] == "failed" and code_text in state["message"]
    assert org_accounts(org.org_id) == before
    response = admin_http.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/commit", {"send_email": True})
    assert response.status_code == 409 and reply_json(response)["code"] == "not_ready"


def test_an_11_mb_file_is_refused_when_read(admin_http, pump, org):
    state = checked(admin_http, pump, b"a@example.org\n" * (11 * 1024 * 1024 // 14 + 1))
    assert state["status"] == "failed" and "larger than 10 MB" in state["message"]


def test_staff_uploads_invite_clients_into_their_caseload_only(http, pump, org):
    http.sign_in(org.staff)
    emails = people(2)
    state = checked(http, pump, f"email,role\n{emails[0]},client\n{emails[1]},admin\n".encode())
    assert state["dry_run"]["would_invite"] == 1 and state["errors"][0]["problem"] == "Staff can invite Clients only."
    http.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/commit", {"send_email": False})
    pump.drain()
    made = [a for a in Account.by_email.query(emails[0]) if a.org_id == org.org_id][0]
    assert Account.get(org.org_id, made.account_id).staff_id == org.staff.account_id


def test_cancel_and_other_organisations(admin_http, pump, org, other_org, chalice_client):
    from tests.conftest import Http

    state = checked(admin_http, pump, ("\n".join(people(2)) + "\n").encode())
    other = Http(chalice_client)
    other.sign_in(other_org.admin)
    assert other.json("GET", f"/api/v1/invites/uploads/{state['job_id']}").status_code == 404
    assert other.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/commit",
                      {"send_email": True}).status_code == 404
    cancelled = reply_json(admin_http.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    again = admin_http.json("POST", f"/api/v1/invites/uploads/{state['job_id']}/commit", {"send_email": True})
    assert again.status_code == 409
    assert admin_http.json("GET", "/api/v1/invites/uploads/not-a-job").status_code == 404


def test_a_key_outside_the_job_layout_is_ignored(org):
    assert imports.check_upload(f"uploads/{org.org_id}/../../x.csv") is None
    assert imports.check_upload(f"uploads/{org.org_id}/{new_id()}.csv") is None  # no such job
    job = imports.start_upload(Viewer.of(org.admin), "x.csv")
    assert imports.check_upload(f"uploads/{new_id()}/{job['job_id']}.csv") is None  # another org's prefix
    assert (Job.get(job["job_id"]).status, Job.get(job["job_id"]).phase) == ("running", "upload")


def test_formula_cells_are_row_errors_in_the_dry_run_and_defused_in_the_report(admin_http, pump, org):
    email = people(1)[0]
    state = checked(admin_http, pump, f'email,name\n{email},=HYPERLINK("http://evil.example")\n'
                                      f'=1+1,Someone\n'.encode())
    assert state["dry_run"]["invalid"] == 2 and state["dry_run"]["would_invite"] == 0
    assert all("formulas are not accepted" in e["problem"] for e in state["errors"])
    report = admin_http.get(f"/invites/uploads/{state['job_id']}/errors.csv")
    text = requests.get(report.headers["Location"], timeout=10).content.decode("utf-8-sig")
    assert "\n3,'=1+1," in text  # a spreadsheet shows it as text, never runs it


def test_the_upload_pages_without_javascript(admin_http, pump, org, other_org, chalice_client):
    from tests.conftest import Http

    assert admin_http.post_form("/invites/uploads", {}, csrf=False).status_code == 403
    started = admin_http.post_form("/invites/uploads", {})
    assert started.status_code == 303
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    form = admin_http.get(f"/invites/uploads/{job_id}").body.decode()
    # S3 receives the file and sends the browser back to this page (a signed field: the return cannot be changed).
    assert 'enctype="multipart/form-data"' in form and 'name="success_action_redirect"' in form
    assert f"/invites/uploads/{job_id}?uploaded=1" in form
    assert "Checking your file" in admin_http.get(f"/invites/uploads/{job_id}?uploaded=1").body.decode()

    too_early = admin_http.post_form(f"/invites/uploads/{job_id}/commit", {"send_email": "on"})
    assert too_early.status_code == 409 and "Only a checked upload can be imported." in too_early.body.decode()
    other = Http(chalice_client)
    other.sign_in(other_org.admin)
    assert other.get(f"/invites/uploads/{job_id}").status_code == 404
    assert other.post_form(f"/invites/uploads/{job_id}/cancel", {}).status_code == 404
    assert admin_http.get("/invites/uploads/not-a-job").status_code == 404
    assert (Job.get(job_id).status, Job.get(job_id).phase) == ("running", "upload")  # nothing above changed it


def test_the_plain_page_offers_no_invite_when_nobody_can_be_invited(admin_http, pump, org):
    state = checked(admin_http, pump, f"email\n{org.client.email}\n".encode())
    assert state["status"] == "ready" and state["dry_run"]["would_invite"] == 0
    page = admin_http.get(f"/invites/uploads/{state['job_id']}").body.decode()
    assert "nobody in this file can be invited" in page and "/commit" not in page and ">Cancel</button>" in page
