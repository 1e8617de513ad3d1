"""`make load`: 20 people use the local app at once for 60 s, then the stat boxes are checked
against a recount.

Everything stays on loopback: moto and the app (Chalice's local server, here answering each
connection in its own thread: one request at a time would measure the queue, not the app) in this
process with the event pump playing Lambda; locust (tools/load/locustfile.py) in a child process,
since it patches the standard library for gevent. Prints requests per second, p50/p95/p99 latency
and the error count; exits 1 if there was any error or a box differs from the recount.

Sizes: LOAD_USERS (20), LOAD_SECONDS (60), LOAD_CLIENTS (500 demo clients)."""
import csv
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

import requests

from tools.local.run import start_demo

USERS = int(os.environ.get("LOAD_USERS", "20"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "500"))
# The filter sets whose boxes are compared with a recount after the run.
CHECKED = ["", "role=client", "status=activated", "status=provisioned", "status=archived", "role=staff",
           "no_visit=30", "{staff}", "{group}", "role=client&status=activated&{staff}"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _plan(demo, org_id: str) -> dict:
    """Who signs in, and which clients each kind of user edits (disjoint: staff edit their own)."""
    from chalicelib.core.models import Account

    people = list(Account.query(org_id))
    staff = next(a for a in people if a.email == demo.staff_email)
    clients = [a for a in people if a.role == "client" and not a.archived]
    return {"admin_email": demo.admin_email, "staff_email": demo.staff_email, "password": demo.password,
            "users": USERS, "staff_id": staff.account_id,
            "staff_clients": [a.account_id for a in clients if a.staff_id == staff.account_id],
            "admin_clients": [a.account_id for a in clients if a.staff_id != staff.account_id]}


def _locust(url: str, plan_path: str, out: str) -> int:
    command = [sys.executable, "-m", "locust", "-f", os.path.join(os.path.dirname(__file__), "locustfile.py"),
               "--headless", "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{SECONDS}s",
               "--host", url, "--csv", out, "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"]
    return subprocess.call(command, env={**os.environ, "CASELOAD_LOAD_PLAN": plan_path})


def _figures(out: str) -> dict:
    with open(f"{out}_stats.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    return {"requests": int(total["Request Count"]), "errors": int(total["Failure Count"]),
            "rps": float(total["Requests/s"]), "p50": total["50%"], "p95": total["95%"], "p99": total["99%"],
            "per_route": [(row["Type"], row["Name"], int(row["Request Count"]), int(row["Failure Count"]),
                           row["50%"], row["95%"]) for row in rows if row["Name"] != "Aggregated"]}


def _signed_in(url: str, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    token = re.search(r'name="csrf-token" content="([^"]+)"', browser.get(f"{url}/signin").text).group(1)
    browser.post(f"{url}/signin", {"email": email, "password": password, "csrf_token": token})
    return browser


def _recounted(org_id: str, query: str) -> dict:
    """The boxes from a fresh count of the accounts these filters select (no counters read)."""
    from urllib.parse import parse_qs

    from chalicelib.core.models import NO_VALUE, Account
    from chalicelib.metrics import counters

    wanted = {k: v[0] for k, v in parse_qs(query).items()}
    chosen = []
    for account in Account.query(org_id, consistent_read=True):
        if account.archived and wanted.get("status") != "archived":
            continue
        if (any(wanted.get(name) not in (None, getattr(account, name)) for name in ("role", "status"))
                or wanted.get("group") not in (None, account.group_id or NO_VALUE)
                or wanted.get("staff") not in (None, account.caseload_id or NO_VALUE)):
            continue
        chosen.append(account)
    no_visit = int(wanted["no_visit"]) if "no_visit" in wanted else None
    return counters.boxes(counters.sum_counters(chosen), no_visit_days=no_visit).as_dict()


def _check_boxes(url: str, plan: dict, org_id: str) -> list:
    """Every checked filter set: the boxes the app shows against the recount. Returns the differences."""
    from chalicelib.core.models import Group

    browser = _signed_in(url, plan["admin_email"], plan["password"])
    group = next(iter(Group.query(org_id))).group_id
    differences = []
    for template in CHECKED:
        query = template.format(staff=f"staff={plan['staff_id']}", group=f"group={group}")
        shown = browser.get(f"{url}/api/v1/clients?{query}", headers={"accept": "application/json"}).json()["stats"]
        page = browser.get(f"{url}/clients?{query}").text
        box = re.search(r'data-stat="total">([\d,]+)<', page).group(1).replace(",", "")
        expected = _recounted(org_id, query)
        if {k: shown.get(k) for k in expected} != expected or shown.get("estimated") or int(box) != expected["total"]:
            differences.append((query or "(no filter)", shown, int(box), expected))
        else:
            print(f"  boxes = recount  {query or '(no filter)':<48} total {expected['total']:>4}, "
                  f"new {expected['new']:>3}, engaged {expected['engaged']:>3}")
    return differences


def main() -> Optional[int]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    moto, _endpoint, seeded, pump, server = start_demo("127.0.0.1", port, CLIENTS, threaded=True)
    plan = _plan(seeded, seeded.org_id)
    with tempfile.TemporaryDirectory(prefix="caseload-load-") as work:
        plan_path = os.path.join(work, "plan.json")
        with open(plan_path, "w", encoding="utf-8") as handle:
            json.dump(plan, handle)
        print(f"{USERS} users browse, filter, search, invite and edit for {SECONDS} s on {url} "
              "(threaded local server)...", flush=True)
        started = time.monotonic()
        _locust(url, plan_path, os.path.join(work, "load"))
        elapsed = time.monotonic() - started
        figures = _figures(os.path.join(work, "load"))
    pump.stop()
    pump.drain(rounds=1000)  # the stream's last changes reach the counters
    print(f"\n{'type':<6} {'route':<36} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7}")
    for kind, name, count, errors, p50, p95 in figures["per_route"]:
        print(f"{kind:<6} {name:<36} {count:>8} {errors:>6} {p50:>7} {p95:>7}")
    print(f"\nLoad: {USERS} users, {elapsed:.0f} s: {figures['requests']} requests, "
          f"{figures['rps']:.1f} requests/s, latency p50 {figures['p50']} ms, p95 {figures['p95']} ms, "
          f"p99 {figures['p99']} ms, errors {figures['errors']}")
    if pump.errors:
        print(f"Event handlers failed {len(pump.errors)} times during the run: {pump.errors[:3]}")
    print("Stat boxes against a recount:")
    differences = _check_boxes(url, plan, seeded.org_id)
    for query, shown, box, expected in differences:
        print(f"  DIFFERENT {query}: shown {shown} (page box {box}), recount {expected}")
    server.shutdown()
    moto.stop()
    if figures["errors"] or differences or pump.errors or not figures["requests"]:
        print("FAILED: " + ", ".join(filter(None, [f"{figures['errors']} errors" if figures["errors"] else "",
                                                   f"{len(differences)} boxes differ" if differences else ""])))
        return 1
    print("OK: no errors, every box equals its recount.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
