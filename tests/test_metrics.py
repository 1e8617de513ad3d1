"""The stat boxes' counters against brute force: pure, then through the stream with redeliveries."""
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta, timezone

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core import aws
from chalicelib.core.models import NO_VALUE, Account, Metric, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.metrics import counters, reconcile, store, stream
from chalicelib.people import accounts
from chalicelib.table import listing
from chalicelib.table.filters import parse_filters
from tests.conftest import make_account
from tools.local import emulator
from tests.test_jobs import purge_jobs_queue

TODAY = datetime.now(timezone.utc).date().toordinal()
GROUPS = ["g1", "g2"]
STAFF = ["s1", "s2"]


def _at(day: int) -> datetime:
    return datetime.combine(datetime.fromordinal(day).date(), time(12), tzinfo=timezone.utc)


def brute_force(people, role, status, group, staff, no_visit=None) -> dict:
    """The boxes straight from their definitions, for one filter combination."""
    def selected(a):
        if status == counters.LIVE:
            if a.archived:
                return False
        elif a.status != status:
            return False
        return ((role == counters.ANY or a.role == role)
                and (group == counters.ANY or (a.group_id or NO_VALUE) == group)
                and (staff == counters.ANY or (a.caseload_id or NO_VALUE) == staff))

    rows = [a for a in people if selected(a)]
    if no_visit:
        rows = [a for a in rows if counters.day_of(a.last_visit) <= TODAY - no_visit]

    def active_in(a, start, end):  # (start, end]
        return any(start < d <= end for d in (a.active_days or ()))

    def created_in(a, start, end):
        return start < counters.day_of(a.created_at) <= end

    result = {
        "total": len(rows),
        "new": sum(created_in(a, TODAY - 30, TODAY) for a in rows),
        "new_before": sum(created_in(a, TODAY - 60, TODAY - 30) for a in rows),
        "engaged": sum(TODAY - 30 < counters.day_of(a.last_visit) for a in rows if a.last_visit),
    }
    if not no_visit:
        result["engaged_before"] = sum(active_in(a, TODAY - 60, TODAY - 30) for a in rows)
        result["trend"] = [sum(active_in(a, TODAY - 7 * (w + 1), TODAY - 7 * w) for a in rows)
                           for w in reversed(range(counters.TREND_WEEKS))]
    return result


def boxes_as_dict(totals, no_visit=None) -> dict:
    boxes = counters.boxes(totals, TODAY, no_visit)
    result = {"total": boxes.total, "new": boxes.new, "new_before": boxes.new_before, "engaged": boxes.engaged}
    if not no_visit:
        result["engaged_before"] = boxes.engaged_before
        result["trend"] = boxes.trend
    return result


def stored_totals(items: dict, combination: tuple) -> Counter:
    """One filter combination's counters from the stored items {item key: {stored name: amount}},
    reading only the items the boxes read (as chalicelib.metrics.store does)."""
    key = counters.combo_key(*combination)
    summed = Counter()
    for item in counters.item_keys_for_boxes(key, TODAY):
        summed.update(counters.absolute_names(item, items.get(item, {})))
    return counters.select(summed, key)


def test_the_boxes_read_every_item_holding_a_day_they_sum():
    """Whatever day it is (items are 7 and 14 days, so the read shifts daily): the created-day
    items of the last 60 days and the visit/activity items of the last 90, and no other."""
    for today in range(TODAY, TODAY + counters.CREATED_ITEM_DAYS * counters.ACTIVITY_ITEM_DAYS):
        read = counters.item_keys_for_boxes(counters.combo_key(), today)
        needed = {counters.item_key("c#*#*", f"cv{today - ago}_0") for ago in range(60)}
        needed |= {counters.item_key("c#*#*", f"k{today - ago}_0") for ago in range(90)}
        assert set(read) == {"c#*#*"} | needed, today


def every_combination():
    for role in (counters.ANY, "admin", "staff", "client"):
        for status in (counters.LIVE, "provisioned", "activated", "archived"):
            for group in (counters.ANY, NO_VALUE, *GROUPS):
                for staff in (counters.ANY, NO_VALUE, *STAFF):
                    yield role, status, group, staff


# Days ago, weighted to the edges of every window the boxes use.
days_ago = st.one_of(st.sampled_from([0, 1, 6, 7, 8, 29, 30, 31, 59, 60, 61, 83, 84, 85, 89, 90, 91]),
                     st.integers(0, 120))
# Operations on an account, as (name, argument); applied the way the app does.
operation = st.one_of(
    st.tuples(st.just("visit"), days_ago),
    st.tuples(st.just("group"), st.sampled_from([None, *GROUPS])),
    st.tuples(st.just("staff"), st.sampled_from([None, *STAFF])),
    st.tuples(st.just("role"), st.sampled_from(["admin", "staff", "client"])),
    st.tuples(st.just("archive"), st.none()),
    st.tuples(st.just("restore"), st.none()),
    st.tuples(st.just("activate"), st.none()),
)
new_person = st.fixed_dictionaries({"created_days_ago": days_ago,
                                    "role": st.sampled_from(["admin", "staff", "client"]),
                                    "group": st.sampled_from([None, *GROUPS]),
                                    "staff": st.sampled_from([None, *STAFF])})


def apply(account: Account, name: str, argument) -> None:
    if name == "visit":
        accounts.note_visit(account, _at(TODAY - argument))
        # the app never moves a last visit backwards
        account.last_visit = _at(max(int(d) for d in account.active_days))
    elif name == "group":
        account.group_id = argument
    elif name == "staff":
        account.staff_id = argument
    elif name == "role":
        account.role = argument
    elif name == "archive" and not account.archived:
        account.previous_status, account.status = account.status, "archived"
    elif name == "restore" and account.archived:
        account.status = account.previous_status or "provisioned"
    elif name == "activate" and account.status == "provisioned":
        account.status = "activated"
    account.derive_keys()


def _person(org_id: str, spec: dict) -> Account:
    account = accounts.new_account(org_id, f"{new_id()[:8]}@example.org", "Some Body", spec["role"],
                                   group_id=spec["group"], staff_id=spec["staff"],
                                   created_at=_at(TODAY - spec["created_days_ago"]))
    account.derive_keys()
    return account


TWO_VISITS_ENDING_WINDOWS = [(0, ("visit", ago)) for ago in (31, 30, 8, 7, 15, 14)]


@settings(max_examples=150, deadline=None)
@given(people=st.lists(new_person, min_size=1, max_size=6),
       steps=st.lists(st.tuples(st.integers(0, 5), operation), max_size=25))
@example(people=[{"created_days_ago": 45, "role": "client", "group": None, "staff": None}],
         steps=TWO_VISITS_ENDING_WINDOWS)
def test_counters_equal_brute_force_for_every_combination(people, steps):
    population = [_person("org", spec) for spec in people]
    kept = defaultdict(Counter)
    for account in population:
        for (item, counter), amount in counters.change(None, account).items():
            kept[item][counter] += amount
    for index, (name, argument) in steps:
        account = population[index % len(population)]
        before = Account.from_raw_data(account.serialize())
        apply(account, name, argument)
        for (item, counter), amount in counters.change(before, account).items():
            kept[item][counter] += amount
    for combination in every_combination():
        totals = stored_totals(kept, combination)
        assert boxes_as_dict(totals) == brute_force(population, *combination), combination
        for days in (7, 30, 90):
            assert boxes_as_dict(totals, days) == brute_force(population, *combination, days), (combination, days)


# Through the real stream, with duplicate and partial redeliveries ------------------------------

class StreamReader:
    """Records written since the last read, shaped as Lambda delivers them."""

    def __init__(self):
        self.position = {}

    def read(self) -> list:
        streams, dynamodb = aws.client("dynamodbstreams"), aws.client("dynamodb")
        arn = dynamodb.describe_table(TableName=Account.Meta.table_name)["Table"]["LatestStreamArn"]
        records = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            while True:
                last = self.position.get(shard["ShardId"])
                args = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last
                        else {"ShardIteratorType": "TRIM_HORIZON"})
                iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **args)["ShardIterator"]
                found = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
                if not found:
                    break
                self.position[shard["ShardId"]] = found[-1]["dynamodb"]["SequenceNumber"]
                records += [emulator._lambda_stream_record(r, arn) for r in found]
        return records


READER = StreamReader()


def deliver_at_least_once(records: list, rng: random.Random) -> None:
    """Batches as Lambda would send them, plus duplicates and retried tails."""
    start = 0
    while start < len(records):
        size = rng.randint(1, 7)
        batch = records[start:start + size]
        reply = stream.apply_stream_batch({"Records": batch})
        assert reply == {"batchItemFailures": []}
        if rng.random() < 0.4:  # the same batch again
            stream.apply_stream_batch({"Records": batch})
        if rng.random() < 0.3:  # a retry from somewhere inside the batch, with later records in it
            cut = rng.randrange(len(batch))
            stream.apply_stream_batch({"Records": records[start + cut:start + size + rng.randint(0, 3)]})
        start += size


def _read_all_items(org_id: str) -> dict:
    found = defaultdict(Counter)
    pages = aws.client("dynamodb").get_paginator("query").paginate(
        TableName=Metric.Meta.table_name, KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": org_id}})
    for page in pages:
        for item in page["Items"]:
            key = item["key"]["S"]
            if not key.startswith("a#"):
                found[key].update({k: int(v["N"]) for k, v in item.items() if "N" in v and k != "rev"})
    return found


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(people=st.lists(new_person, min_size=1, max_size=4),
       steps=st.lists(st.tuples(st.integers(0, 3), operation), max_size=12),
       seed=st.integers(0, 10 ** 6))
def test_stream_counts_once_whatever_is_redelivered(people, steps, seed):
    org_id = new_id()
    READER.read()
    population = []
    for spec in people:
        account = _person(org_id, spec)
        account.save()
        population.append(account)
    for index, (name, argument) in steps:
        account = population[index % len(population)]
        apply(account, name, argument)
        account.save()
    records = [r for r in READER.read() if r["dynamodb"]["Keys"]["org_id"]["S"] == org_id]
    deliver_at_least_once(records, random.Random(seed))

    stored = _read_all_items(org_id)
    current = list(Account.query(org_id))
    for combination in every_combination():
        totals = stored_totals(stored, combination)
        assert boxes_as_dict(totals) == brute_force(current, *combination), combination
    assert reconcile.reconcile(org_id).counters_off == 0


def test_reconciliation_repairs_drift_and_reports_it(org, pump):
    pump.drain()
    key = counters.combo_key()
    aws.client("dynamodb").update_item(  # five more activated clients than there are
        TableName=Metric.Meta.table_name, Key={"org_id": {"S": org.org_id}, "key": {"S": counters.count_item(key)}},
        UpdateExpression="ADD can :five, rev :one", ExpressionAttributeValues={":five": {"N": "5"}, ":one": {"N": "1"}})
    assert store.read_counters(org.org_id, key)["n"] == 8

    drift = reconcile.reconcile(org.org_id)

    assert drift.combinations_repaired == 1 and drift.counters_off == 5
    assert store.read_counters(org.org_id, key)["n"] == 3
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_reconciliation_leaves_accounts_the_stream_has_not_reached(org, pump):
    pump.drain()
    late = make_account(org.org_id, name="Not Yet Counted")  # its stream record is still pending
    drift = reconcile.reconcile(org.org_id)
    assert drift.combinations_repaired == 0 and drift.skipped_busy > 0
    pump.drain()
    assert store.read_counters(org.org_id, counters.combo_key())["n"] == 4
    assert reconcile.reconcile(org.org_id).counters_off == 0
    assert late.account_id


def test_a_record_that_cannot_be_read_is_reported_for_redelivery(org, pump):
    pump.drain()
    broken = {"eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
              "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/x/stream/1",
              "dynamodb": {"SequenceNumber": "123", "Keys": {}, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    reply = stream.apply_stream_batch({"Records": [broken]})
    assert reply == {"batchItemFailures": [{"itemIdentifier": "123"}]}


CHUNKED = 14  # accounts in different groups: more counter items than one transaction takes


def test_a_failed_transaction_is_reported_and_its_redelivery_counts_once(org, pump, monkeypatch):
    pump.drain()
    READER.read()
    for index in range(CHUNKED):  # a group each: many combinations, so more than one transaction
        make_account(org.org_id, name=f"Chunked {index}", group_id=f"g-{index}", last_visit=datetime.now(timezone.utc),
                     active_days={TODAY - 3 - index, TODAY})
    records = [r for r in READER.read() if r["dynamodb"]["Keys"]["org_id"]["S"] == org.org_id]
    write_chunk, written = stream._write_chunk, []

    def second_transaction_fails(chunk):
        written.append(len(chunk))
        if len(written) == 2:
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "busy"}},
                              "TransactWriteItems")
        write_chunk(chunk)

    monkeypatch.setattr(stream, "_write_chunk", second_transaction_fails)
    reply = stream.apply_stream_batch({"Records": records})
    applied = written[0]
    assert 0 < applied < len(records)
    assert reply == {"batchItemFailures": [{"itemIdentifier": records[applied]["dynamodb"]["SequenceNumber"]}]}
    monkeypatch.setattr(stream, "_write_chunk", write_chunk)

    # Lambda redelivers from the failed record on, and may repeat the whole batch too.
    assert stream.apply_stream_batch({"Records": records[applied:]}) == {"batchItemFailures": []}
    assert stream.apply_stream_batch({"Records": records}) == {"batchItemFailures": []}
    totals = store.read_counters(org.org_id, counters.combo_key())
    assert totals["n"] == 3 + CHUNKED and counters.boxes(totals).engaged == CHUNKED
    assert reconcile.reconcile(org.org_id).counters_off == 0
    viewer = accounts.Viewer.of(org.admin)
    found = listing.list_page(viewer, parse_filters({"q": "chunked"}, viewer))
    assert sorted(row.name for row in found.rows) == sorted(f"Chunked {index}" for index in range(CHUNKED))


def test_rebuild_counts_a_bulk_load_once(org, pump):
    for index in range(5):
        make_account(org.org_id, name=f"Bulk {index}", last_visit=datetime.now(timezone.utc) - timedelta(days=2),
                     active_days={TODAY - 2})
    assert reconcile.rebuild(org.org_id) == 8
    pump.drain()  # the load's own records arrive after the rebuild and must not count twice
    totals = store.read_counters(org.org_id, counters.combo_key())
    assert counters.boxes(totals).total == 8 and counters.boxes(totals).engaged == 5
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_the_hourly_reconciliation_runs_as_lambda_calls_it(org, pump, monkeypatch):
    """One job per organisation, found with a Query on the organisations' index; an
    organisation is counted in steps (checkpointed), and the last step repairs what drifted."""
    from types import SimpleNamespace

    from chalicelib.core.models import ORG_LIST, Job, Metric, Organisation
    from chalicelib.jobs import runner

    assert org.org_id in {o.org_id for o in Organisation.every_org.query(ORG_LIST)}
    # Only this test's organisation (the session's others would queue a job each).
    monkeypatch.setattr(Organisation, "every_org", SimpleNamespace(query=lambda *_a, **_k: [org]))
    # Steps that earlier tests in this process left queued would run first (the sweeper
    # re-queues them if they matter): this test's drains serve this organisation's job only.
    purge_jobs_queue()
    pump.drain()
    for index in range(5):
        make_account(org.org_id, name=f"Counted {index}")
    pump.drain()
    aws.client("dynamodb").put_item(TableName=Metric.Meta.table_name, Item={  # drift: 8 people counted as 1
        "org_id": {"S": org.org_id}, "key": {"S": counters.count_item(counters.combo_key())},
        "can": {"N": "1"}, "rev": {"N": "0"}})
    assert store.read_counters(org.org_id, counters.combo_key())["n"] == 1
    monkeypatch.setattr(reconcile, "ACCOUNTS_PER_STEP", 3)
    purge_jobs_queue()
    scheduler = emulator.EventPump(__import__("app").app)
    # Only this schedule: the session's other schedules (sweeper, exports) serve every test's organisation.
    assert scheduler.run_schedules(only={"reconcile_metrics"}) == ["reconcile_metrics"]
    assert scheduler.errors == []
    assert reconcile.fan_out() == {"started": 0, "already": 1}  # this hour's job exists: nothing twice
    def this_job():
        return next(j for j in Job.scan(Job.org_id == org.org_id) if j.kind == reconcile.KIND)

    for _ in range(10):
        pump.drain()
        if this_job().status == "done":
            break
    job = this_job()
    assert job.status == "done" and int(job.done) == 8 and int(job.step_seq) == 3  # 3 + 3 + 2 accounts
    assert job.summary["combinations_repaired"] >= 1
    assert store.read_counters(org.org_id, counters.combo_key())["n"] == 8
    assert reconcile.reconcile(org.org_id).counters_off == 0
    assert job.job_id not in runner.sweep(now=utcnow())["job_ids"]


# The staff menu (chalicelib.metrics.menu): kept by the stream, repaired by the reconciler ----------

def _menu_as_listed(org_id: str) -> list:
    """The staff menu as the role_name index lists it: live staff and admins, by name."""
    listed = [s for role in ("staff", "admin") for s in Account.role_name.query(f"{org_id}#{role}#L")]
    return [(s.account_id, s.name, s.email) for s in sorted(listed, key=lambda s: s.name.casefold())]


def _menu(org_id: str) -> list:
    return [(s.account_id, s.name, s.email) for s in store.staff_menu(org_id)]


def test_the_staff_menu_follows_every_change_of_a_staff_member(org, pump):
    from chalicelib.metrics import menu

    pump.drain()
    assert _menu(org.org_id) == _menu_as_listed(org.org_id) == [  # admins can hold a caseload too
        (org.admin.account_id, "Ada Admin", org.admin.email), (org.staff.account_id, "Sam Staff", org.staff.email)]
    anna = make_account(org.org_id, "staff", name="Anna Early")
    zed = make_account(org.org_id, "staff", name="Zed Late", status="provisioned")
    pump.drain()
    assert [name for _, name, _ in _menu(org.org_id)] == ["Ada Admin", "Anna Early", "Sam Staff", "Zed Late"]

    accounts.change(anna, name="Zoe Renamed")  # moves in the order
    accounts.change(zed, status="archived", previous_status="provisioned")  # leaves
    accounts.change(org.client, role="staff")  # joins
    accounts.change(org.staff, role="client")  # leaves
    pump.drain()
    assert _menu(org.org_id) == _menu_as_listed(org.org_id)
    assert [name for _, name, _ in _menu(org.org_id)] == ["Ada Admin", "Cleo Client", "Zoe Renamed"]
    # a redelivered batch changes nothing; a visit writes no menu item
    assert menu.change(org.admin, org.admin) == {}
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_an_organisation_without_menu_items_reads_the_index_and_the_reconciler_builds_them(org, pump):
    from chalicelib.metrics import menu

    pump.drain()
    table = Metric.Meta.table_name
    for key in menu.item_keys():  # as before the menu existed
        aws.client("dynamodb").delete_item(TableName=table, Key={"org_id": {"S": org.org_id}, "key": {"S": key}})
    assert store.staff_menu(org.org_id) is None
    from chalicelib.table.view import staff_members
    assert [s.account_id for s in staff_members(org.org_id, {})] == [org.admin.account_id, org.staff.account_id]

    drift = reconcile.reconcile(org.org_id)
    assert drift.counters_off == 2 and _menu(org.org_id) == _menu_as_listed(org.org_id)  # the admin's and the staff's
    # a wrong entry is repaired too
    key = menu.item_key(org.staff.account_id)
    aws.client("dynamodb").update_item(
        TableName=table, Key={"org_id": {"S": org.org_id}, "key": {"S": key}},
        UpdateExpression="SET #m = :wrong ADD rev :one", ExpressionAttributeNames={"#m": "m" + org.staff.account_id},
        ExpressionAttributeValues={":wrong": {"S": "Someone Else\tx@example.org"}, ":one": {"N": "1"}})
    assert _menu(org.org_id) != _menu_as_listed(org.org_id)
    assert reconcile.reconcile(org.org_id).counters_off == 1
    assert _menu(org.org_id) == _menu_as_listed(org.org_id)
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_rebuild_writes_the_staff_menu(org):
    assert reconcile.rebuild(org.org_id) == 3
    assert _menu(org.org_id) == _menu_as_listed(org.org_id)
