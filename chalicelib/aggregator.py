"""Keeps the metrics counters and search words in step with the accounts table.

`apply_stream_batch` is the accounts stream's handler. Delivery is at least
once, possibly as a retried tail of an earlier batch, so each account's item
`a#account_id` in the metrics table remembers the last stream record applied
to it: a record at or below that mark is skipped. The mark is written in the
same transaction as the record's counter changes, so a change is counted
exactly once whatever is redelivered. Changes of a whole batch are merged in
memory and written in transactions of at most 100 items.

`reconcile` recounts organisations from the accounts table and replaces any
combination whose counters drifted (a bug, a manual edit, a lost record).
"""
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Optional

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError

from chalicelib import aws, metrics, search
from chalicelib.models import Account, Metric, Organisation, SearchToken

log = logging.getLogger(__name__)
TRANSACTION_ITEMS = 100
COUNTERS_PER_UPDATE = 40
CHANGES_PER_WORD_WRITE = 100  # whose word items go out together: full batches, bounded memory
SEQUENCE_WIDTH = 40  # stream sequence numbers are up to 40 digits: compare them as padded strings


@dataclass
class AccountChange:
    """One stream record. The images stay raw (the event's own dicts) and are
    parsed only while the chunk they belong to is built, so a batch of 10,000
    records never holds 20,000 parsed accounts at once."""
    sequence: str
    org_id: str
    account_id: str
    version: int
    old_image: Optional[dict]
    new_image: Optional[dict]

    def accounts(self) -> tuple:
        return _image(self.old_image), _image(self.new_image)


def _image(raw: Optional[dict]) -> Optional[Account]:
    return Account.from_raw_data(raw) if raw else None


def _to_change(record) -> AccountChange:
    stream = record.dynamodb.raw_event
    keys, old, new = stream["Keys"], stream.get("OldImage"), stream.get("NewImage")
    return AccountChange(
        sequence=record.dynamodb.sequence_number.zfill(SEQUENCE_WIDTH),
        org_id=keys["org_id"]["S"], account_id=keys["account_id"]["S"],
        version=int((new or old or {}).get("version", {}).get("N", 0)), old_image=old, new_image=new,
    )


def apply_stream_batch(event: dict) -> dict:
    """Lambda's partial batch response: records reported failed are redelivered
    (with everything after them on the shard), and are then applied once."""
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    with processor(event.get("Records", []), _to_change):
        outcomes = processor.process()
    changes = [result for status, result, _ in outcomes if status == "success"]
    response = processor.response()
    failed = _apply(changes)
    if failed:
        response["batchItemFailures"].append({"itemIdentifier": failed.sequence.lstrip("0") or "0"})
    return response


def _apply(changes: list) -> Optional[AccountChange]:
    """Apply in order, a group of chunks at a time; returns the first change that could not be applied."""
    if not changes:
        return None
    marks = _applied_marks({(c.org_id, c.account_id) for c in changes})
    pending = []
    for change in changes:
        mark = marks.get((change.org_id, change.account_id))
        if mark is None or (change.sequence > mark.seq and not (mark.rebuilt and change.version <= mark.version)):
            pending.append(change)
            marks[(change.org_id, change.account_id)] = _Mark(change.sequence, change.version, False)
    for group in _groups(pending):
        failed = _write_group(group)
        if failed:
            return failed
    return None


def _groups(changes: list):
    """Chunks in groups of about CHANGES_PER_WORD_WRITE changes, built lazily:
    memory holds one group, whatever the batch size."""
    group = []
    for chunk in _chunks(changes):
        group.append(chunk)
        if sum(len(c) for c in group) >= CHANGES_PER_WORD_WRITE:
            yield group
            group = []
    if group:
        yield group


def _write_group(chunks: list) -> Optional[AccountChange]:
    """Word items first, for several chunks at once (full BatchWriteItems):
    a chunk's mark must never be written before its words."""
    words = {}
    for chunk in chunks:
        words.update(chunk.words)
    search.write(words)
    for chunk in chunks:
        try:
            _write_chunk(chunk)
        except ClientError as error:
            log.warning("metrics chunk failed, reporting for redelivery: %s", error)
            return chunk[0]
    return None


@dataclass
class _Mark:
    seq: str
    version: int
    rebuilt: bool  # counted by `rebuild`: records up to `version` are already in the counters


def _applied_marks(accounts: set) -> dict:
    keys = [(org, f"a#{account}") for org, account in accounts]
    return {(item.org_id, item.key[2:]): _Mark(item.seq or "", int(item.applied_version or 0), bool(item.rebuilt))
            for item in Metric.batch_get(keys)}


def _chunks(changes: list):
    """Groups of whole changes whose merged counter writes fit one transaction,
    with the word items they change. Built lazily: one chunk in memory at a time."""
    chunk, merged, words = [], Counter(), {}
    for change in changes:
        old, new = change.accounts()
        delta = Counter({((change.org_id, combo), counter): amount
                         for (combo, counter), amount in metrics.change(old, new).items()})
        trial = merged.copy()
        trial.update(delta)
        if chunk and not _fits(trial, len(chunk) + 1):
            yield _Chunk(chunk, merged, words)
            chunk, trial, words = [], delta, {}
        chunk.append(change)
        merged = trial
        words.update(search.word_changes(old, new))
    if chunk:
        yield _Chunk(chunk, merged, words)


def _fits(merged: Counter, changes: int) -> bool:
    per_combo = Counter(combo for (combo, _), amount in merged.items() if amount)
    return (len(per_combo) + changes <= TRANSACTION_ITEMS
            and max(per_combo.values(), default=0) <= COUNTERS_PER_UPDATE)


class _Chunk(list):
    def __init__(self, changes, merged, words):
        super().__init__(changes)
        self.merged = merged
        self.words = words


def _write_chunk(chunk: "_Chunk") -> None:
    table = Metric.Meta.table_name
    by_combo = defaultdict(dict)
    for (combo, counter), amount in chunk.merged.items():
        if amount:
            by_combo[combo][counter] = amount
    items = []
    for combo, counters in by_combo.items():
        org_id, key = combo
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": {"N": str(amount)} for i, amount in enumerate(counters.values())}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        items.append({"Update": {
            "TableName": table, "Key": {"org_id": {"S": org_id}, "key": {"S": key}},
            "UpdateExpression": f"ADD {adds}, #rev :one",
            "ExpressionAttributeNames": {**names, "#rev": "rev"},
            "ExpressionAttributeValues": {**values, ":one": {"N": "1"}},
        }})
    last = {}
    for change in chunk:
        last[(change.org_id, change.account_id)] = change
    for (org_id, account_id), change in last.items():
        items.append({"Update": {
            "TableName": table, "Key": {"org_id": {"S": org_id}, "key": {"S": f"a#{account_id}"}},
            "UpdateExpression": "SET seq = :seq, applied_version = :version REMOVE rebuilt",
            "ConditionExpression": "attribute_not_exists(seq) OR seq < :seq",
            "ExpressionAttributeValues": {":seq": {"S": change.sequence}, ":version": {"N": str(change.version)}},
        }})
    aws.client("dynamodb").transact_write_items(TransactItems=items)


# Reading --------------------------------------------------------------------

def read_counters(org_id: str, combo: str) -> Counter:
    """What the boxes need of one combination: one BatchGetItem of ~15 small
    items, whatever the organisation's size or age."""
    table = Metric.Meta.table_name
    request = {table: {"Keys": [{"org_id": {"S": org_id}, "key": {"S": key}}
                                for key in metrics.item_keys_for_boxes(combo)]}}
    counters = Counter()
    while request:
        reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
        for item in reply["Responses"].get(table, []):
            counters.update({name: int(value["N"]) for name, value in item.items() if "N" in value and name != "rev"})
        request = reply.get("UnprocessedKeys") or None
    return counters


def read_counts(org_id: str, keys: list) -> list:
    """How many accounts each combination holds, in one BatchGetItem."""
    table = Metric.Meta.table_name
    wanted = list(dict.fromkeys(keys))
    request = {table: {"Keys": [{"org_id": {"S": org_id}, "key": {"S": k}} for k in wanted],
                       "ProjectionExpression": "#k, n", "ExpressionAttributeNames": {"#k": "key"}}}
    counts = {}
    while request:
        reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
        for item in reply["Responses"].get(table, []):
            counts[item["key"]["S"]] = int(item.get("n", {}).get("N", "0"))
        request = reply.get("UnprocessedKeys") or None
    return [counts.get(k, 0) for k in keys]


# Reconciliation ---------------------------------------------------------------

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
            for (combo, counter), amount in metrics.contribution(account).items():
                expected[combo][counter] += amount
            marks.save(Metric(org_id=org_id, key=f"a#{account.account_id}", seq="0" * SEQUENCE_WIDTH,
                              applied_version=int(account.version or 0), rebuilt=True))
            for token in search.tokens_for(account):
                words.save(token)
    _put_counters([_counter_item(org_id, key, counters) for key, counters in expected.items()])
    return counted


def _counter_item(org_id: str, key: str, counters: dict, rev: int = 0) -> dict:
    """A combination as DynamoDB JSON: its counters are attributes the model does not declare."""
    return {"org_id": {"S": org_id}, "key": {"S": key}, "rev": {"N": str(rev)},
            **{name: {"N": str(amount)} for name, amount in counters.items() if amount and name != "rev"}}


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
        for combo_and_counter, amount in metrics.contribution(account).items():
            combo, counter = combo_and_counter
            expected[combo][counter] += amount
        if applied.get(account.account_id) != int(account.version or 0):
            lagging.update(metrics.combos_of(account))
    for key in set(stored) | set(expected):
        drift.combinations_checked += 1
        have = {k: v for k, v in stored.get(key, {}).items() if k != "rev" and v}
        want = {k: v for k, v in expected.get(key, Counter()).items() if v}
        if have == want:
            continue
        if metrics.combo_of_item(key) in lagging:
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
