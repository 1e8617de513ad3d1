"""Recounting from the source of truth: `reconcile` repairs combinations whose
counters drifted (a bug, a manual edit, a lost record); `rebuild` counts a bulk
load from scratch."""
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Optional

from chalicelib.core import aws
from chalicelib.core.models import Account, Metric, Organisation, SearchToken
from chalicelib.metrics import counters
from chalicelib.metrics.stream import SEQUENCE_WIDTH
from chalicelib.table import search

log = logging.getLogger(__name__)

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
            for (combo, counter), amount in counters.contribution(account).items():
                expected[combo][counter] += amount
            marks.save(Metric(org_id=org_id, key=f"a#{account.account_id}", seq="0" * SEQUENCE_WIDTH,
                              applied_version=int(account.version or 0), rebuilt=True))
            for token in search.tokens_for(account):
                words.save(token)
    _put_counters([_counter_item(org_id, key, totals) for key, totals in expected.items()])
    return counted


def _counter_item(org_id: str, key: str, totals: dict, rev: int = 0) -> dict:
    """A combination as DynamoDB JSON: its counters are attributes the model does not declare."""
    return {"org_id": {"S": org_id}, "key": {"S": key}, "rev": {"N": str(rev)},
            **{name: {"N": str(amount)} for name, amount in totals.items() if amount and name != "rev"}}


def _put_counters(items: list) -> None:
    table = Metric.Meta.table_name
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while request:
            request = aws.client("dynamodb").batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def _reconcile_org(org_id: str, drift: Drift) -> None:
    dynamodb = aws.client("dynamodb")
    table = Metric.Meta.table_name
    stored, applied = {}, {}
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="org_id = :o", ExpressionAttributeValues={":o": {"S": org_id}})
    for page in pages:
        for item in page["Items"]:
            key = item["key"]["S"]
            if key.startswith("a#"):
                applied[key[2:]] = int(item.get("applied_version", {}).get("N", "-1"))
            else:
                stored[key] = {name: int(v["N"]) for name, v in item.items() if "N" in v}
    expected = defaultdict(Counter)
    lagging = set()
    for account in Account.query(org_id):
        for combo_and_counter, amount in counters.contribution(account).items():
            combo, counter = combo_and_counter
            expected[combo][counter] += amount
        if applied.get(account.account_id) != int(account.version or 0):
            lagging.update(counters.combos_of(account))
    for key in set(stored) | set(expected):
        drift.combinations_checked += 1
        have = {k: v for k, v in stored.get(key, {}).items() if k != "rev" and v}
        want = {k: v for k, v in expected.get(key, Counter()).items() if v}
        if have == want:
            continue
        if counters.combo_of_item(key) in lagging:
            drift.skipped_busy += 1
            continue
        drift.counters_off += sum(abs(have.get(k, 0) - want.get(k, 0)) for k in set(have) | set(want))
        rev = stored.get(key, {}).get("rev")
        item = _counter_item(org_id, key, want, (rev or 0) + 1)
        condition = ({"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": {":rev": {"N": str(rev)}}}
                     if rev is not None else {"ConditionExpression": "attribute_not_exists(org_id)"})
        try:
            dynamodb.put_item(TableName=table, Item=item, **condition)
            drift.combinations_repaired += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            drift.skipped_busy += 1
