"""Recounting from the source of truth: `reconcile` repairs combinations whose
counters drifted (a bug, a manual edit, a lost record); `rebuild` counts a bulk
load from scratch.

At scale (`fan_out`, hourly): one `reconcile_org` job per organisation, found
with a Query on the organisations' `every_org` index (never a Scan). Each job
step counts ACCOUNTS_PER_STEP accounts from where the last one stopped (the
Query's last key in the job's cursor) and keeps the partial count in S3
(`reconcile/<org>/<job>.json`), so an organisation of 10^6 accounts runs as
about 50 steps of well under Lambda's limit; the last step repairs. Job ids
are derived from the organisation and the hour, so a repeated fan-out starts
nothing twice.
"""
import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Optional

from pynamodb.exceptions import PutError

from chalicelib import jobs
from chalicelib.core import aws, config
from chalicelib.core.models import ORG_LIST, Account, Job, Metric, Organisation, SearchToken, utcnow
from chalicelib.metrics import counters, menu
from chalicelib.metrics.stream import SEQUENCE_WIDTH
from chalicelib.table import search

log = logging.getLogger(__name__)

KIND = "reconcile_org"
ACCOUNTS_PER_STEP = 20_000  # ~20 s of reading and counting: well inside the step's 90 s
SYSTEM = "system"  # the owner of scheduled jobs

@dataclass
class Drift:
    combinations_checked: int = 0
    combinations_repaired: int = 0
    counters_off: int = 0
    skipped_busy: int = 0


def reconcile(org_id: Optional[str] = None) -> Drift:
    """Recount one organisation (or all) and repair drifted combinations.

    A combination is replaced only if nothing changed it meanwhile (its `rev`)
    and every account in it has been applied by the stream at its current
    version; anything else is left for the next run rather than double-counted.
    """
    drift = Drift()
    org_ids = [org_id] if org_id else [org.org_id for org in Organisation.scan(attributes_to_get=["org_id"])]
    for org in org_ids:
        _reconcile_org(org, drift)
    log.info("metrics reconciliation: %s", drift)
    return drift


def rebuild(org_id: str) -> int:
    """Count an organisation from scratch (a bulk load: demo data, benchmarks,
    a restore) and mark every account as counted, so the stream records of the
    load are skipped. Returns the number of accounts counted."""
    expected, counted = defaultdict(Counter), 0
    with Metric.batch_write() as marks, SearchToken.batch_write() as words:
        for account in Account.query(org_id):
            counted += 1
            for (combo, counter), amount in _counted(account).items():
                expected[combo][counter] += amount
            for key, entries in menu.entries_of([account]).items():
                dict.update(expected[key], entries)  # strings: set, not added
            marks.save(Metric(org_id=org_id, key=f"a#{account.account_id}", seq="0" * SEQUENCE_WIDTH,
                              applied_version=int(account.version or 0), rebuilt=True))
            for token in search.tokens_for(account):
                words.save(token)
    _put_counters([_counter_item(org_id, key, totals) for key, totals in expected.items()])
    return counted


def _counted(account: Account) -> Counter:
    """Every counter an account adds: the boxes' and the words by prefix (search.prefix_count_change)."""
    found = counters.contribution(account)
    found.update(search.prefix_count_change(None, account))
    return found


def _counter_item(org_id: str, key: str, totals: dict, rev: int = 0) -> dict:
    """A combination as DynamoDB JSON: its counters are attributes the model does not declare
    (a staff-menu item's are its entries, strings)."""
    return {"org_id": {"S": org_id}, "key": {"S": key}, "rev": {"N": str(rev)},
            **{name: {"S": value} if isinstance(value, str) else {"N": str(value)}
               for name, value in totals.items() if value and name != "rev"}}


def _put_counters(items: list) -> None:
    table = Metric.Meta.table_name
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while request:
            request = aws.client("dynamodb").batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def _reconcile_org(org_id: str, drift: Drift) -> None:
    expected, lagging = defaultdict(Counter), set()
    _count(org_id, list(Account.query(org_id)), expected, lagging)
    _repair(org_id, expected, lagging, drift)


def _count(org_id: str, page: list, expected, lagging: set) -> None:
    """Add these accounts to the expected counters; note the combinations of those the
    stream has not applied at their current version (their marks: one BatchGet per 100)."""
    marks = {}
    keys = [(org_id, f"a#{a.account_id}") for a in page]
    for mark in Metric.batch_get(keys, attributes_to_get=["key", "applied_version"]) if keys else []:
        marks[mark.key[2:]] = int(mark.applied_version if mark.applied_version is not None else -1)
    for account in page:
        for (combo, counter), amount in _counted(account).items():
            expected[combo][counter] += amount
        for key, entries in menu.entries_of([account]).items():
            dict.update(expected[key], entries)  # strings: set, not added
        if marks.get(account.account_id) != int(account.version or 0):
            lagging.update(counters.combos_of(account))
            lagging.add(menu.item_key(account.account_id))
            lagging.update(search.prefix_count_keys(account))


def _stored(org_id: str) -> dict:
    """The stored counter items (keys c#...), staff-menu items (m#...) and words by prefix (w#...),
    not the per-account marks."""
    stored = {}
    for prefix in ("c#", menu.PREFIX, search.PREFIX_ITEM):
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            TableName=Metric.Meta.table_name, KeyConditionExpression="org_id = :o AND begins_with(#k, :c)",
            ExpressionAttributeNames={"#k": "key"},
            ExpressionAttributeValues={":o": {"S": org_id}, ":c": {"S": prefix}})
        for page in pages:
            for item in page["Items"]:
                stored[item["key"]["S"]] = {name: int(v["N"]) if "N" in v else v["S"] for name, v in item.items()
                                            if ("N" in v or "S" in v) and name not in ("org_id", "key")}
    return stored


def _difference(have, want) -> int:
    """How far a stored counter (or menu entry: 1 when it differs) is from what it should be."""
    if isinstance(have, str) or isinstance(want, str):
        return int(have != want)
    return abs((have or 0) - (want or 0))


def _repair(org_id: str, expected, lagging: set, drift: Drift) -> None:
    dynamodb = aws.client("dynamodb")
    table = Metric.Meta.table_name
    stored = _stored(org_id)
    for key in set(stored) | set(expected):
        drift.combinations_checked += 1
        have = {k: v for k, v in stored.get(key, {}).items() if k != "rev" and v}
        want = {k: v for k, v in expected.get(key, Counter()).items() if v}
        if have == want:
            continue
        if counters.combo_of_item(key) in lagging:
            drift.skipped_busy += 1
            continue
        drift.counters_off += sum(_difference(have.get(k), want.get(k)) for k in set(have) | set(want))
        rev = stored.get(key, {}).get("rev")
        item = _counter_item(org_id, key, want, (rev or 0) + 1)
        condition = ({"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": {":rev": {"N": str(rev)}}}
                     if rev is not None else {"ConditionExpression": "attribute_not_exists(org_id)"})
        try:
            dynamodb.put_item(TableName=table, Item=item, **condition)
            drift.combinations_repaired += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            drift.skipped_busy += 1


# --------------------------------------------------------------------------- at scale: a job per organisation

def fan_out(now: Optional[datetime] = None) -> dict:
    """Start this hour's reconciliation job of every organisation (a Query a page at a time)."""
    hour = (now or utcnow()).strftime("%Y-%m-%dT%H")
    started = already = 0
    for org in Organisation.every_org.query(ORG_LIST):
        job_id = hashlib.sha256(f"{KIND}#{org.org_id}#{hour}".encode()).hexdigest()[:32]
        try:
            jobs.start(SimpleNamespace(org_id=org.org_id, account_id=SYSTEM), KIND, job_id=job_id)
            started += 1
        except PutError:
            already += 1  # this hour's job exists (a repeated schedule event)
    log.info("metrics reconciliation fanned out", extra={"started": started, "already": already})
    return {"started": started, "already": already}


def _partial_key(job: Job) -> str:
    return f"reconcile/{job.org_id}/{job.job_id}.json"


@jobs.step(KIND)
def reconcile_step(job: Job) -> jobs.Step:
    """Count the next ACCOUNTS_PER_STEP accounts (the partial count in S3); the last step repairs.
    Safe to run twice: a step reads the partial its predecessor committed, never its own."""
    s3, bucket = aws.client("s3"), config.bucket()
    after = job.cursor.get("after")
    part = int(job.cursor.get("part", 0))
    expected, lagging = defaultdict(Counter), set()
    if after is not None:
        saved = json.loads(s3.get_object(Bucket=bucket, Key=f"{_partial_key(job)}.{part}")["Body"].read())
        for key, values in saved["expected"].items():
            dict.update(expected[key], values)  # a part's totals: each key is read once
        lagging = set(saved["lagging"])
    result = Account.query(job.org_id, last_evaluated_key=after, limit=ACCOUNTS_PER_STEP)
    page = list(result)
    _count(job.org_id, page, expected, lagging)
    last = result.last_evaluated_key
    done = int(job.done) + len(page)
    if last is not None and len(page) >= ACCOUNTS_PER_STEP:
        body = json.dumps({"expected": {k: dict(v) for k, v in expected.items()}, "lagging": sorted(lagging)})
        s3.put_object(Bucket=bucket, Key=f"{_partial_key(job)}.{part + 1}", Body=body.encode())
        return jobs.Step(cursor={"after": last, "part": part + 1}, done=done)
    drift = Drift()
    _repair(job.org_id, expected, lagging, drift)
    log.info("metrics reconciliation of an organisation", extra={"drift": drift.__dict__, "accounts": done})
    return jobs.Step(done=done, summary=drift.__dict__, finished=True)
