"""Reading the counters the stream keeps: what the stat boxes and the table's
index planner need, in one BatchGetItem each."""
from collections import Counter

from chalicelib.core import aws
from chalicelib.core.models import Metric
from chalicelib.metrics import counters


def read_counters(org_id: str, combo: str) -> Counter:
    """What the boxes need of one combination: one BatchGetItem of ~15 small
    items, whatever the organisation's size or age."""
    table = Metric.Meta.table_name
    request = {table: {"Keys": [{"org_id": {"S": org_id}, "key": {"S": key}}
                                for key in counters.item_keys_for_boxes(combo)]}}
    totals = Counter()
    while request:
        reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
        for item in reply["Responses"].get(table, []):
            totals.update({name: int(value["N"]) for name, value in item.items() if "N" in value and name != "rev"})
        request = reply.get("UnprocessedKeys") or None
    return totals


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
