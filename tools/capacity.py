"""`make capacity`: docs/capacity.md from figures the bench counts, not typed by hand.

Starts moto, seeds one organisation (CAPACITY_SIZE accounts, default 300:
request and write-unit counts do not depend on the size, see bench/), measures
a page load, a sign-in, a visit, an invitation, an edit and a 100-visit stream
batch, then multiplies them by the activity profile below for organisations of
10^3, 10^5 and 10^6 accounts (10^3 organisations of each size) at the prices
stated below, and lists the AWS limits the design meets first.
"""
import math
import os
import random
import subprocess
import sys
from pathlib import Path

from bench.harness import Meter

OUT = Path(__file__).resolve().parent.parent / "docs" / "capacity.md"
SIZES = (10 ** 3, 10 ** 5, 10 ** 6)
ORGS = 10 ** 3
# Activity profile (per organisation, per month of 30 days).
ACTIVE_SHARE = 0.10            # of accounts active on a given day
VISITS_PER_ACTIVE_DAY = 4      # recorded visits (a session touch every 5 minutes): 1 first-of-day + 3 later
SIGN_INS_PER_ACTIVE_DAY = 1
PAGES_PER_ACTIVE_DAY = 2       # Clients Table loads (team members and clients' own pages alike)
INVITES_SHARE_PER_MONTH = 0.02
EDITS_SHARE_PER_MONTH = 0.02
BUSIEST_HOUR_SHARE = 0.10      # of accounts active within the busiest hour (issue 14)
# eu-west-1 prices (USD) as published for on-demand DynamoDB, Lambda arm64, API Gateway REST, SES.
PRICE = {"write_unit": 0.7068 / 1e6, "read_unit": 0.1415 / 1e6, "gb_second": 0.0000133334,
         "lambda_request": 0.20 / 1e6, "api_request": 3.50 / 1e6, "email": 0.10 / 1000, "gb_month": 0.283}
LAMBDA_GB = 1.0                # lambda_memory_size 1024 (.chalice/config.json)
DYNAMODB_LATENCY_MS = 5        # per request, in region (bench/pages.py)
ITEM_KB = 1.5                  # an account with its derived keys, and its index copies
PARTITION_WCU = 1000           # per partition (and so per item), per second
STREAM_BATCH = 100             # chalicelib/routes/events.py batch_size
STREAM_PARALLEL = 1            # batches per shard at once (ParallelizationFactor 1: order per account)


def measure(size: int) -> dict:
    meter = Meter()
    from tools.local import emulator

    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()
    import app  # noqa: F401
    from bench import clients_table, writes
    from bench.seed import seed_org
    from chalicelib.core.models import Account
    from chalicelib.metrics import stream
    from chalicelib.people import accounts
    from chalicelib.people.accounts import Viewer
    from chalicelib.table import listing
    from chalicelib.table.filters import parse_filters

    org = seed_org(size, seed=12)
    figures = {"size": size, "writes": {k: v.total for k, v in writes.measure(meter, org).items()}}
    viewer = Viewer.of(org.admin)
    filters = parse_filters({"size": "50"}, viewer)
    with meter.measure() as page:
        listing.list_page(viewer, filters)
        listing.stats(viewer, filters)
    figures["listing_requests"], figures["listing_items"] = page.count("dynamodb"), page.items_read
    figures["page_read_units"] = page.read_units  # rows, index entries and the boxes' counters, by item size
    with meter.measure() as boxes:
        listing.stats(viewer, filters)
    figures["box_read_units"] = boxes.read_units
    arn, iterator = clients_table._stream_from_now()
    people = random.Random(3).sample([a for a in Account.query(org.org_id) if a.role == "client"], 100)
    for person in people:
        accounts.record_visit(person)
    records = clients_table._lambda_records(arn, iterator)
    with meter.measure(writes=True) as batch:
        stream.apply_stream_batch({"Records": records})
    figures["batch_records"] = len(records)
    figures["batch_transactions"] = batch.requests["dynamodb.TransactWriteItems"]
    figures["batch_requests"] = batch.count("dynamodb")
    figures["batch_units"] = batch.write_units()
    out = subprocess.run([sys.executable, "-m", "bench.pages", org.org_id, org.admin.account_id],
                         capture_output=True, text=True, check=True).stdout
    figures["pages"] = _page_lines(out)
    figures["load"] = os.getloadavg()[0] / (os.cpu_count() or 1)  # the app's own ms inflate on a busy machine
    return figures


def _page_lines(out: str) -> dict:
    """label -> (requests, own ms) from bench.pages' printout."""
    pages, label = {}, None
    for text in out.splitlines():
        if "requests (" in text and not text.startswith("      "):
            label = text[:60].strip()
            pages[label] = [int(text[60:].split()[0]), None]
        elif "server time" in text and label:
            pages[label][1] = float(text[60:].split(" ms own")[0])
    return pages


def model(f: dict, size: int) -> dict:
    days = 30
    active = size * ACTIVE_SHARE
    visits_first = active * days
    visits_later = active * days * (VISITS_PER_ACTIVE_DAY - 1)
    sign_ins = active * SIGN_INS_PER_ACTIVE_DAY * days
    pages = active * PAGES_PER_ACTIVE_DAY * days
    invites, edits = size * INVITES_SHARE_PER_MONTH, size * EDITS_SHARE_PER_MONTH
    w = f["writes"]
    write_units = (visits_first * w["visit, first of the day"] + visits_later * w["visit, later the same day"]
                   + invites * w["invitation (one address)"] + edits * w["edit (a name)"])
    page_requests, page_ms = f["pages"].get("View Clients (GET /clients)", [8, 100])
    sign_requests, sign_ms = next((v for k, v in f["pages"].items() if k.startswith("sign in")), [6, 400])
    read_units = pages * f.get("page_read_units", f["listing_items"] * 0.5 * math.ceil(ITEM_KB / 4)) + sign_ins * 3
    invocations = pages + sign_ins + visits_first * 0  # visits ride on page loads
    seconds = (pages * (page_ms + page_requests * DYNAMODB_LATENCY_MS)
               + sign_ins * (sign_ms + sign_requests * DYNAMODB_LATENCY_MS)) / 1000
    gb_seconds = seconds * LAMBDA_GB
    dollars = {
        "DynamoDB writes": write_units * PRICE["write_unit"],
        "DynamoDB reads": read_units * PRICE["read_unit"],
        "DynamoDB storage": size * ITEM_KB * 25 / 2 ** 20 * PRICE["gb_month"],  # item + index copies + words
        "Lambda": gb_seconds * PRICE["gb_second"] + invocations * PRICE["lambda_request"],
        "API Gateway": invocations * PRICE["api_request"],
        "SES": invites * PRICE["email"],
    }
    return {"write_units": write_units, "read_units": read_units, "gb_seconds": gb_seconds, "dollars": dollars,
            "pages": pages, "sign_ins": sign_ins, "visits": visits_first + visits_later}


def hot_partition(f: dict) -> dict:
    """The highest change rate one organisation's counters take (changes/s)."""
    changes_per_transaction = f["batch_records"] / max(1, f["batch_transactions"])
    hot_item_units = 2 * _hot_item_kb()  # a transactional ADD on an org-wide counter item at its ceiling
    by_partition = PARTITION_WCU / hot_item_units * changes_per_transaction
    batch_seconds = f["batch_requests"] * DYNAMODB_LATENCY_MS * 3 / 1000  # transactions take ~3x a write
    by_stream = STREAM_BATCH * STREAM_PARALLEL / max(batch_seconds, 0.001)
    need = 10 ** 6 * BUSIEST_HOUR_SHARE / 3600  # first-of-day visits change counters; later ones write nothing
    return {"changes_per_transaction": changes_per_transaction, "by_partition": by_partition,
            "by_stream": by_stream, "need": need, "batch_seconds": batch_seconds}


def _hot_item_kb() -> int:
    """The organisation-wide counter item at its ceiling, in (write-unit) KB."""
    return max(math.ceil(item["bytes"] / 1024) for item in _densest()["items"].values())


def _densest() -> dict:
    """The ceiling of the boxes' read: every counter item dense (bench.clients_table.densest_items)."""
    from bench.clients_table import densest_box_read_units, densest_items
    from bench.write_units import item_size
    from chalicelib.metrics import counters
    items = {}
    for kind, item in densest_items().items():
        key, counted = item["key"]["S"], [name for name in item if name not in ("org_id", "key", "rev")]
        absolute = counters.absolute_names(key, dict.fromkeys(counted, 1))
        items[kind] = {"counters": len(counted), "bytes": item_size(item),
                       "absolute_bytes": item_size(item) + sum(map(len, absolute)) - sum(map(len, counted))}
    return {"items": items, "read_units": densest_box_read_units(),
            "read": len(counters.item_keys_for_boxes(counters.combo_key())) - 1}


def _index_count() -> int:
    from chalicelib.core.models import Account
    return len(Account._get_schema()["global_secondary_indexes"])


def posture_section(f: dict) -> list:
    """The stack's security choices and their cost (deploy/posture.py owns the text)."""
    from deploy import posture

    requests, own_ms = f["pages"].get("View Clients (GET /clients)", [5, 25])
    return posture.cost_section(api_ms=own_ms + requests * DYNAMODB_LATENCY_MS)


def render(f: dict) -> str:
    from chalicelib.metrics import counters
    dense = _densest()
    lines = ["# Capacity model", "",
             f"Generated by `make capacity` (tools/capacity.py) from figures the bench counted on an "
             f"organisation of {f['size']:,} accounts (request and write-unit counts do not depend on the size). "
             "Do not edit by hand.", "",
             "## Activity profile", "",
             f"- {ORGS:,} organisations of each size; per month of 30 days: {ACTIVE_SHARE:.0%} of accounts active "
             f"each day, each with {SIGN_INS_PER_ACTIVE_DAY} sign-in, {VISITS_PER_ACTIVE_DAY} recorded visits "
             f"(1 first of the day) and {PAGES_PER_ACTIVE_DAY} Clients Table loads;",
             f"- invitations {INVITES_SHARE_PER_MONTH:.0%} and edits {EDITS_SHARE_PER_MONTH:.0%} of accounts a month;",
             f"- prices: eu-west-1, on-demand DynamoDB ${PRICE['write_unit'] * 1e6:.4f} per million write units, "
             f"${PRICE['read_unit'] * 1e6:.4f} per million read units, ${PRICE['gb_month']}/GB-month; Lambda "
             f"${PRICE['gb_second']}/GB-s + $0.20 per million; API Gateway REST $3.50 per million; "
             f"SES $0.10 per 1,000; {DYNAMODB_LATENCY_MS} ms per DynamoDB request in region.", "",
             "## Per operation (counted)", "",
             f"The app's own milliseconds (and the Lambda GB-seconds below) were measured with "
             f"{f.get('load', 0):.1f} runnable processes per CPU on the measuring machine: above 1 they are "
             "inflated by the wait for a CPU. Requests and units do not depend on it.", "",
             "| operation | DynamoDB requests | write units | app's own ms |",
             "|---|---|---|---|"]
    for label, (requests, own) in f["pages"].items():
        lines.append(f"| {label} | {requests} | - | {own:.0f} |")
    for label, units in f["writes"].items():
        lines.append(f"| {label} | - | {units} | - |")
    lines.append(f"| stream batch of {f['batch_records']} visits | {f['batch_requests']} | {f['batch_units']} | - |")
    lines += ["", "## Per organisation size (per month, per organisation; x 1,000 organisations in the last column)",
              "", "| accounts | page loads | write units | read units | Lambda GB-s | $ / org | $ all 1,000 orgs |",
              "|---|---|---|---|---|---|---|"]
    for size in SIZES:
        m = model(f, size)
        total = sum(m["dollars"].values())
        lines.append(f"| {size:,} | {m['pages']:,.0f} | {m['write_units']:,.0f} | {m['read_units']:,.0f} | "
                     f"{m['gb_seconds']:,.0f} | {total:,.2f} | {total * ORGS:,.0f} |")
    m = model(f, 10 ** 6)
    lines += ["", "Where the dollars of a 10^6-account organisation go: " + ", ".join(
        f"{k} ${v:,.2f}" for k, v in m["dollars"].items()) + "."]
    h = hot_partition(f)
    lines += ["", "## Limits met first", "",
              f"- **Counter partition** ({PARTITION_WCU:,} WCU/s per partition, so per counter item): a stream "
              f"batch of {f['batch_records']} visits was written in {f['batch_transactions']} transactions, "
              f"{h['changes_per_transaction']:.1f} changes per write of an organisation-wide counter item (up to "
              f"{_hot_item_kb()} KB, transactional: {2 * _hot_item_kb()} WU): at most "
              f"**{h['by_partition']:,.0f} changes/s** per organisation.",
              f"- **Stream shard**: batches of {STREAM_BATCH}, {STREAM_PARALLEL} at a time per shard, "
              f"~{h['batch_seconds'] * 1000:.0f} ms per batch ({f['batch_requests']} requests): about "
              f"**{h['by_stream']:,.0f} changes/s** per shard (a shard takes 1,000 writes/s).",
              f"- A 10^6-account organisation with {BUSIEST_HOUR_SHARE:.0%} active in its busiest hour makes "
              f"{h['need']:.0f} counter-changing changes/s (first visits of the day; later visits write no "
              f"counter): {'under' if h['need'] < min(h['by_partition'], h['by_stream']) else 'OVER'} both.",
              f"- **Indexes**: the accounts table uses {_index_count()} of DynamoDB's 20 global secondary indexes "
              "(every filter dimension x sort, the three pairs in name order, by_email). The next filter "
              "dimension would need 3 more (one per sort): it cannot have its own. It must be a "
              "FilterExpression on the index the planner picks (the counters bound read/returned, as for the "
              "dormancy filter, which has no index), or take the place of the pair indexes. Headroom was not "
              "freed: dropping a pair index (status+group, status+staff, group+staff in name order) keeps a page "
              "within 5 requests (the planner's counts ride with the boxes' read) but makes that pair read its "
              "larger partition filtered by the other value: with 10 groups, a staff member's caseload filtered "
              "by one group reads ~10 index entries per row shown, over the bound of 3. Nor were the visit-sorted "
              "indexes (they make sorting by last visit and the dormancy filter one Query each). The nearest "
              "candidate, status_visit, would free one index and 2 write units of every first visit of a day: "
              "in last-visit order the never-visited live accounts are one key range of all_visit, and "
              "Archived could have all_* partitions of their own (`org#A`). But Provisioned is not the same as "
              "never visited (an admin made by tools/admin_cli.py is Activated before any visit), so "
              "Provisioned in last-visit order would be all_visit filtered by status: 1 / 0.22 = 4.5 index "
              "entries read per row shown for a typical organisation, over the bound of 3.",
              "- **Counter items** (400 KB): counters are stored per Group x Staff combination (4 per account) with "
              f"role/status-prefixed names: created-day x visit-day pairs (`cv`) in items of "
              f"{counters.CREATED_ITEM_DAYS} days, last visits (`v`) and active-day x next-active-day pairs (`k`) in "
              f"items of {counters.ACTIVITY_ITEM_DAYS} days, by the counter's first day. Within its item a counter "
              "names its day as an offset and the second day as a gap, one character each (`cak3b`: client, "
              "activated, active on the item's 4th day, next active 11 days later). An item holds at most, per "
              "role/status prefix and day, 61 `cv` counters (only while the visit is within 60 days of creation) "
              "or 1 `v` and 30 `k` (gaps of 30+ days are one counter): at its ceiling, whatever the "
              "organisation's size, "
              + " and ".join(f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} item holds {i['counters']:,} counters "
                             f"in {i['bytes']:,} bytes ({i['absolute_bytes']:,} with day numbers)"
                             for kind, i in dense["items"].items())
              + f". The boxes read the combination's count item and {dense['read']} counter items "
              f"({f.get('box_read_units', 0):g} read units counted here); dense at 10^6 accounts each stays under "
              f"4 KB, so the boxes' read is at most **{dense['read_units']:g} read units** (goal: 10). "
              "Counts of up to 99,999 per counter keep every item under 4 KB.",
              "- **Staff menu**: kept by the stream in 4 metrics items read with the page's counters (no request "
              "of its own); ~100 bytes a staff member: the 400 KB item limit is met at about 16,000 staff members.",
              "- **Search boxes**: at most 2 Query pages (2,000 word items, under 2 MB): exact when the matching words "
              "fit, otherwise scaled by the number of words starting with the search (counted by the stream up to "
              "three letters) and labelled Estimated; the bench prints the estimate's error.",
              "- **Lambda**: 15 minutes (the reconciler and CSV imports work in resumable slices), 6 MB payload "
              "(a page of 100 rows is ~60 KB), 1,000 concurrent executions per account by default.",
              "- **API Gateway**: 29 s per request (pages take well under a second), 10 MB payload, 10,000 "
              "requests/s per account.",
              "- **SES**: 200 messages/day and 1/s in the sandbox; production quota to be raised before inviting "
              "large organisations (imports send in batches at the account's send rate).", ""]
    lines += posture_section(f)
    return "\n".join(lines) + "\n"


def main() -> int:
    size = int(os.environ.get("CAPACITY_SIZE") or 300)
    figures = measure(size)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(figures))
    print(f"capacity: wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
