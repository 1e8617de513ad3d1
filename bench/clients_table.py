"""Issue 3's bounds: the Clients Table on 100,000 accounts, the stat boxes, the stream aggregator."""
import os
import random
from datetime import date

from bench.harness import line, quick, read_units
from bench.write_units import item_size
from bench import writes
from bench.seed import seed_org
from chalicelib.core import aws
from chalicelib.core.models import Account
from chalicelib.metrics import counters, reconcile, stream
from chalicelib.people import accounts
from chalicelib.people.accounts import Viewer
from chalicelib.table import listing
from chalicelib.table.filters import SORTS, parse_filters
from tools.local import emulator


def _page(meter, viewer, params, cursor=""):
    filters = parse_filters(params, viewer)
    with meter.measure() as cost:
        page = listing.list_page(viewer, filters, cursor)
    return cost, page


def pages(meter, org) -> None:
    viewer = Viewer.of(org.admin)
    group, staff = org.groups[0].group_id, org.staff[0].account_id
    singles = [{}, {"role": "client"}, {"role": "staff"}, {"status": "provisioned"}, {"status": "archived"},
               {"group": group}, {"group": "-"}, {"staff": staff}, {"staff": "-"}, {"no_visit": "30", "sort": "visit"}]
    worst_requests, worst_extra, scans, pages = 0, 0, 0, 0
    for params in singles:
        for sort in SORTS:
            for direction in ("asc", "desc"):
                query = {"sort": sort, "dir": direction, **params, "size": "50"}
                cost, page = _page(meter, viewer, query)
                measured_pages = [(cost, len(page.rows))]
                if page.next_cursor:
                    next_cost, next_page = _page(meter, viewer, query, page.next_cursor)
                    measured_pages.append((next_cost, len(next_page.rows)))
                for measured, rows in measured_pages:
                    worst_requests = max(worst_requests, measured.count("dynamodb"))
                    worst_extra = max(worst_extra, measured.items_read - 2 * rows)  # rows come back twice: index + BatchGet
                    scans += measured.requests["dynamodb.Scan"]
                    pages += 1
    line(f"page of 50, no filter or one filter ({pages} pages, all sorts)", f"worst {worst_requests} requests",
         "<= 2", worst_requests <= 2)
    line("  items read beyond the rows returned (index + BatchGet)", f"worst +{worst_extra}", "<= 1", worst_extra <= 1)
    line("  Scans", str(scans), "0", scans == 0)

    combined = [("client + activated", {"role": "client", "status": "activated"}),
                ("client + group", {"role": "client", "group": group}),
                ("provisioned + staff", {"status": "provisioned", "staff": staff}),
                ("group + staff", {"group": group, "staff": staff}),
                ("client + activated + group + staff", {"role": "client", "status": "activated", "group": group,
                                                        "staff": staff}),
                ("archived + group", {"status": "archived", "group": group}),
                ("activated + no visit 30 days", {"status": "activated", "no_visit": "30"})]
    for label, params in combined:
        cost, page = _page(meter, viewer, {**params, "size": "50"})
        queried = cost.items_read - len(page.rows)  # what the Query read, without the BatchGet
        ratio = queried / max(1, len(page.rows))
        line(f"combined: {label}", f"{cost.summary()}, read/returned {ratio:.2f}", "<= 3", ratio <= 3)

    search_estimates(meter, org)


def search_estimates(meter, org) -> None:
    """Broad searches: their pages and boxes against the bounds, and the estimated boxes' error."""
    viewer = Viewer.of(org.admin)
    if not search_boxes(meter, viewer) and org.size < FULL_SIZE:
        # Too small for a search to outgrow its boxes' reads: read pages scaled down by size / 100,000,
        # so each broad search is sampled as it would be at 100,000 accounts (the same share of its words).
        full_page = listing.SEARCH_BOX_PAGE
        listing.SEARCH_BOX_PAGE = max(1, full_page * org.size // FULL_SIZE)
        try:
            print(f"  the same searches, boxes read in pages of {listing.SEARCH_BOX_PAGE} words "
                  f"({full_page:,} x {org.size:,} / {FULL_SIZE:,}): sampled as at {FULL_SIZE:,} accounts")
            search_boxes(meter, viewer)
        finally:
            listing.SEARCH_BOX_PAGE = full_page


def search_boxes(meter, viewer) -> list:
    """Each search's first page and its boxes, against the bounds; returns the relative errors of
    the boxes that were estimated (total, new and engaged against a count of every word)."""
    errors = []
    for prefix in ("ma", "jo", "sa", "wi", "ch", "ha", "zz", "smi", "c1234"):
        cost, page = _page(meter, viewer, {"q": prefix, "size": "50"})
        line(f"search '{prefix}': first page ({len(page.rows)} rows)", cost.summary(), "<= 3",
             cost.count("dynamodb") <= 3)
        filters = parse_filters({"q": prefix}, viewer)
        with meter.measure() as stats_cost:
            stats = listing.stats(viewer, filters)  # alone: its word count is one read more (a page reads it with the rows)
        mib = stats_cost.bytes_read / 2 ** 20
        shown = "exact" if stats.exact else (f"estimated from {stats.sampled:,} of {stats.words:,} words"
                                             if stats.estimated else f"first {stats.sampled:,} words only")
        line(f"  its boxes ({stats.boxes.total:,} matches, {shown})",
             f"{stats_cost.count('dynamodb')} requests, {mib:.2f} MiB, {stats_cost.seconds:.2f} s",
             f"<= {SEARCH_BOX_BOUND} requests, < {SEARCH_BOX_MIB} MiB",
             stats_cost.count("dynamodb") <= SEARCH_BOX_BOUND and mib < SEARCH_BOX_MIB)
        if not stats.exact:
            exact = listing._search_stats(viewer.org_id, filters, pages=10 ** 6).boxes  # every word: the truth
            pairs = [("total", stats.boxes.total, exact.total), ("new", stats.boxes.new, exact.new),
                     ("engaged", stats.boxes.engaged, exact.engaged)]
            errors += [abs(e - t) / t for _, e, t in pairs if t]
            line("    the estimate against every word read",
                 ", ".join(f"{name} {e:,} vs {t:,} ({(e - t) / t:+.1%})" if t else f"{name} {e:,} vs 0"
                           for name, e, t in pairs))
    if errors:
        sampled = listing.SEARCH_BOX_REQUESTS * listing.SEARCH_BOX_PAGE
        line("  estimated search boxes: error of total, new, engaged", f"mean {sum(errors) / len(errors):.1%}, "
             f"worst {max(errors):.1%}", f"(estimated above {sampled:,} matching words)")
    return errors


FULL_SIZE = 100_000  # the organisation the issues' bounds are set for
BOX_READ_UNITS = 10  # issue 14: the boxes' read units per page load at 10^6 accounts
SEARCH_BOX_BOUND, SEARCH_BOX_MIB = 4, 5  # issue 14: a search's boxes at 100,000 accounts


def boxes(meter, small, big) -> None:
    for label, build in [("no filter", lambda o: {}),
                         ("role", lambda o: {"role": "client"}),
                         ("status + group", lambda o: {"status": "activated", "group": o.groups[1].group_id}),
                         ("all four", lambda o: {"role": "client", "status": "provisioned",
                                                 "group": o.groups[2].group_id, "staff": o.staff[3].account_id}),
                         ("no visit in 7 days", lambda o: {"no_visit": "7"})]:
        figures = []
        for org in (small, big):
            viewer = Viewer.of(org.admin)
            filters = parse_filters(build(org), viewer)
            with meter.measure() as cost:
                stats = listing.stats(viewer, filters)
            figures.append((cost.count("dynamodb"), stats.boxes.total, cost.read_units))
        (small_requests, small_total, small_units), (big_requests, big_total, big_units) = figures
        line(f"stat boxes, {label}", f"{small.size:,}: {small_requests} req, {small_units:g} RU "
             f"({small_total:,} shown) | {big.size:,}: {big_requests} req, {big_units:g} RU ({big_total:,})",
             f"<= 2 req, <= {BOX_READ_UNITS} RU (goal at 10^6)",
             max(small_requests, big_requests) <= 2 and big_units <= BOX_READ_UNITS)
    sizes = " and ".join(f"{kind} {item_size(item):,} bytes" for kind, item in densest_items().items())
    ceiling = densest_box_read_units()
    line("stat boxes at their ceiling (every item dense)", f"{ceiling:g} RU (items: {sizes})",
         f"<= {BOX_READ_UNITS} RU", ceiling <= BOX_READ_UNITS)


def densest_items(count: int = 9_999) -> dict:
    """The organisation-wide items with every counter they can hold (each `count`, 3 bytes of
    number), by kind ("created": `cv`, "activity": `v` and `k`): clients' activated and
    provisioned counters (counters.counters_of's rules), stored as counters.contribution names
    them. What a dense 10^6-account organisation approaches."""
    today = date.today().toordinal()
    made = {}
    for kind, days in (("created", counters.CREATED_ITEM_DAYS), ("activity", counters.ACTIVITY_ITEM_DAYS)):
        first = today // days * days
        names = set()
        for day in range(first, first + days):
            if kind == "created":
                names |= {f"cv{day}_0"} | {f"cv{day}_{day + gap}" for gap in range(2 * counters.WINDOW)}
            else:
                names |= {f"v{day}", f"k{day}_0"} | {f"k{day}_{day + gap}" for gap in range(1, counters.WINDOW)}
        key = counters.item_key(counters.item_combo(counters.combo_key()), sorted(names)[0])
        item = {"org_id": {"S": "0" * 32}, "key": {"S": key}, "rev": {"N": str(count)}}
        for prefix in ("ca", "cp"):
            item.update({prefix + counters.stored_name(name): {"N": str(count)} for name in names
                         if prefix == "ca" or name.startswith("cv") and name.endswith("_0")})
        made[kind] = item
    return made


def densest_box_read_units() -> float:
    """The boxes' read at its ceiling: the count item and every item they read, each dense,
    on the day of the fortnight that reads the most items."""
    dense = {kind: read_units("BatchGetItem", {"Responses": {"metrics": [item]}}, {})
             for kind, item in densest_items().items()}
    today = date.today().toordinal()
    worst = 0.0
    for day in range(today, today + counters.ACTIVITY_ITEM_DAYS * counters.CREATED_ITEM_DAYS):
        keys = counters.item_keys_for_boxes(counters.combo_key(), day)[1:]
        created = sum(1 for key in keys if key.rsplit("@", 1)[1].startswith(counters.CREATED_TAG))
        worst = max(worst, created * dense["created"] + (len(keys) - created) * dense["activity"])
    return 0.5 + worst


def _stream_from_now():
    """An iterator at the tip of the accounts stream: reading from the start
    of 100,000 seeded accounts would take moto most of an hour."""
    streams, dynamodb = aws.client("dynamodbstreams"), aws.client("dynamodb")
    arn = dynamodb.describe_table(TableName=Account.Meta.table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return arn, streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]


def _lambda_records(arn, iterator) -> list:
    streams, records = aws.client("dynamodbstreams"), []
    while iterator:
        reply = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not reply["Records"]:
            break
        records += reply["Records"]
        iterator = reply.get("NextShardIterator")
    return [emulator._lambda_stream_record(r, arn) for r in records]


def stream_batches(meter, org) -> None:
    arn, iterator = _stream_from_now()
    people = list(Account.query(org.org_id, limit=20_000))
    chosen = random.Random(3).sample(people, 100)
    for person in chosen:
        accounts.record_visit(person)
    records = _lambda_records(arn, iterator)
    with meter.measure(writes=True) as cost:
        reply = stream.apply_stream_batch({"Records": records})
    assert reply == {"batchItemFailures": []}
    line(f"stream batch of {len(records)} visits (100 accounts)", f"{cost.summary()}, {cost.seconds:.1f} s in moto")
    line("  its write units per first visit of the day (counters, words)",
         f"{cost.write_units() / max(1, len(records)):.1f} WU", "(merged per batch: shared items written once)")
    from tools.capacity import hot_partition
    hot = hot_partition({"batch_records": len(records), "batch_requests": cost.count("dynamodb"),
                         "batch_transactions": cost.requests["dynamodb.TransactWriteItems"]})
    line("highest change rate of one organisation", f"counter partition {hot['by_partition']:,.0f}/s, "
         f"stream shard {hot['by_stream']:,.0f}/s", f">= {hot['need']:.0f}/s (10^6 accounts, 10% in an hour)",
         min(hot["by_partition"], hot["by_stream"]) >= hot["need"])
    with meter.measure() as duplicate:
        stream.apply_stream_batch({"Records": records})
    line("  the same batch delivered again", duplicate.summary())
    drift = reconcile.reconcile(org.org_id)
    line("reconciliation after the batch", f"{drift.counters_off} counters off, "
         f"{drift.combinations_checked:,} counter items checked", "0 off", drift.counters_off == 0)
    line("10,000-record batch: peak memory of parsing and merging", f"{_merge_peak(people, 10_000):.1f} MiB",
         "(each group of chunks is written before the next is built)")


def _merge_peak(people: list, size: int) -> float:
    """The handler's own peak memory for a batch of `size` visit records (no AWS calls)."""
    import tracemalloc
    from datetime import timedelta

    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
    )

    records = []
    for index in range(size):
        old = people[index % len(people)]
        new = Account.from_raw_data(old.serialize())
        accounts.note_visit(new, new.last_visit + timedelta(days=1) if new.last_visit else None)
        records.append({"eventID": str(index), "eventName": "MODIFY", "eventSource": "aws:dynamodb",
                        "dynamodb": {"Keys": {"org_id": {"S": old.org_id}, "account_id": {"S": old.account_id}},
                                     "OldImage": old.serialize(), "NewImage": new.serialize(),
                                     "SequenceNumber": str(10 ** 20 + index), "StreamViewType": "NEW_AND_OLD_IMAGES"}})
    tracemalloc.start()
    changes = [stream._to_change(DynamoDBRecord(r)) for r in records]
    merged = sum(len(chunk) for group in stream._groups(changes) for chunk in group)  # one group at a time
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert merged == size
    return peak / 2 ** 20


def run(meter):
    """Returns the big organisation, for the page-load bench."""
    size = int(os.environ.get("BENCH_SIZE") or (5_000 if quick() else FULL_SIZE))
    print(f"\nSeeding organisations of 1,000 and {size:,} accounts (bulk load + one recount)...")
    with meter.measure() as cost:
        small = seed_org(1_000, seed=11)
    print(f"  1,000 seeded in {cost.seconds:.1f} s")
    with meter.measure() as cost:
        big = seed_org(size, seed=12)
    print(f"  {size:,} seeded in {cost.seconds:.1f} s, {cost.summary()}")
    print("\nClients Table")
    pages(meter, big)
    print("\nStat boxes (independent of organisation size)")
    boxes(meter, small, big)
    print("\nMetrics stream")
    stream_batches(meter, big)
    print("\nCost of a visit (write units, indexes and counters included)")
    writes.report(meter, big)
    used = len(Account._get_schema()["global_secondary_indexes"])
    line("accounts table: global secondary indexes", f"{used} of 20 ({20 - used} free)",
         "see docs/capacity.md, Indexes: what the next filter does")
    return big
