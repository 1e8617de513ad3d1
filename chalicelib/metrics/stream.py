"""Keeps the metrics counters and search words in step with the accounts table.

`apply_stream_batch` is the accounts stream's handler. Delivery is at least
once, possibly as a retried tail of an earlier batch, so each account's item
`a#account_id` in the metrics table remembers the last stream record applied
to it: a record at or below that mark is skipped. The mark is written in the
same transaction as the record's counter changes, so a change is counted
exactly once whatever is redelivered. Changes of a whole batch are merged in
memory and written in transactions of at most 100 items.
Reading the counters is `store`; recounting is `reconcile`.
"""
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Optional

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.models import Account, Metric
from chalicelib.metrics import counters, menu
from chalicelib.table import search

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
    chunk, merged, words, entries = [], Counter(), {}, {}
    for change in changes:
        old, new = change.accounts()
        changed = counters.change(old, new)
        changed.update(search.prefix_count_change(old, new))  # words by prefix: estimated search boxes
        delta = Counter({((change.org_id, combo), counter): amount for (combo, counter), amount in changed.items()})
        changed_words = search.word_changes(old, new)
        changed_entries = {((change.org_id, key), name): value for (key, name), value in menu.change(old, new).items()}
        if not delta and not changed_words and not changed_entries:
            continue  # a visit on a day already counted: nothing to write, nothing to mark
        trial = merged.copy()
        trial.update(delta)
        if chunk and not _fits(trial, len(chunk) + 1, {**entries, **changed_entries}):
            yield _Chunk(chunk, merged, words, entries)
            chunk, trial, words, entries = [], delta, {}, {}
        chunk.append(change)
        merged = trial
        words.update(changed_words)
        entries.update(changed_entries)
    if chunk:
        yield _Chunk(chunk, merged, words, entries)


def _fits(merged: Counter, changes: int, entries: dict) -> bool:
    per_combo = Counter(combo for (combo, _), amount in merged.items() if amount)
    menu_items = {item for item, _ in entries}
    return (len(per_combo) + len(menu_items) + changes <= TRANSACTION_ITEMS
            and max(per_combo.values(), default=0) <= COUNTERS_PER_UPDATE)


class _Chunk(list):
    def __init__(self, changes, merged, words, entries):
        super().__init__(changes)
        self.merged = merged
        self.words = words
        self.entries = entries  # ((org_id, menu item key), attribute) -> entry or None (menu.change)


def _write_chunk(chunk: "_Chunk") -> None:
    table = Metric.Meta.table_name
    by_combo = defaultdict(dict)
    for (combo, counter), amount in chunk.merged.items():
        if amount:
            by_combo[combo][counter] = amount
    items = []
    for combo, deltas in by_combo.items():
        org_id, key = combo
        names = {f"#c{i}": name for i, name in enumerate(deltas)}
        values = {f":c{i}": {"N": str(amount)} for i, amount in enumerate(deltas.values())}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
        items.append({"Update": {
            "TableName": table, "Key": {"org_id": {"S": org_id}, "key": {"S": key}},
            "UpdateExpression": f"ADD {adds}, #rev :one",
            "ExpressionAttributeNames": {**names, "#rev": "rev"},
            "ExpressionAttributeValues": {**values, ":one": {"N": "1"}},
        }})
    items += _menu_updates(table, chunk.entries)
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


def _menu_updates(table: str, entries: dict) -> list:
    """One Update per staff-menu item: SET the entries that appear or move, REMOVE those that go."""
    by_item = defaultdict(dict)
    for (item, name), value in entries.items():
        by_item[item][name] = value
    updates = []
    for (org_id, key), changed in by_item.items():
        names = {f"#m{i}": name for i, name in enumerate(changed)}
        sets = [f"#m{i} = :m{i}" for i, value in enumerate(changed.values()) if value is not None]
        removes = [f"#m{i}" for i, value in enumerate(changed.values()) if value is None]
        values = {f":m{i}": {"S": value} for i, value in enumerate(changed.values()) if value is not None}
        expression = "ADD #rev :one" + (f" SET {', '.join(sets)}" if sets else "") + (
            f" REMOVE {', '.join(removes)}" if removes else "")
        updates.append({"Update": {
            "TableName": table, "Key": {"org_id": {"S": org_id}, "key": {"S": key}},
            "UpdateExpression": expression, "ExpressionAttributeNames": {**names, "#rev": "rev"},
            "ExpressionAttributeValues": {**values, ":one": {"N": "1"}},
        }})
    return updates
