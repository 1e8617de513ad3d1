"""Reading the counters the stream keeps: what the stat boxes and the table's
index planner need, in one BatchGetItem for both (`read_items`)."""
from collections import Counter
from typing import Optional

from chalicelib.core import aws
from chalicelib.core.models import Metric
from chalicelib.metrics import counters, menu

KEYS = ("org_id", "key")


def read_items(org_id: str, keys: list) -> dict:
    """key -> {counter: amount} of these counter items (absent items are left out), in one
    BatchGetItem per 100 keys (a page asks for ~15 box items and at most 5 planner counts)."""
    table, wanted, found = Metric.Meta.table_name, list(dict.fromkeys(keys)), {}
    for start in range(0, len(wanted), 100):
        request = {table: {"Keys": [{"org_id": {"S": org_id}, "key": {"S": k}} for k in wanted[start:start + 100]]}}
        while request:
            reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
            found.update(parse_items(reply["Responses"].get(table, [])))
            request = reply.get("UnprocessedKeys") or None
    return found


def parse_items(raw_items: list) -> dict:
    """key -> {counter: amount} of counter items as BatchGetItem returns them
    (the staff menu's items: {attribute: entry}, see chalicelib.metrics.menu)."""
    found = {}
    for item in raw_items:
        key = item["key"]["S"]
        if menu.is_menu_key(key):
            found[key] = {name: value["S"] for name, value in item.items() if "S" in value and name not in KEYS}
        else:
            found[key] = {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "rev"}
    return found


def menu_keys() -> list:
    """The staff menu's items (chalicelib.metrics.menu), to read with a page's counters."""
    return menu.item_keys()


def staff_menu(org_id: str, items: Optional[dict] = None) -> Optional[list]:
    """The staff menu (menu.StaffMember by name) from items already read, or read now;
    None when the organisation has no menu items yet."""
    return menu.staff(items if items is not None else read_items(org_id, menu.item_keys()))


def box_keys(combo: str) -> list:
    return counters.item_keys_for_boxes(combo)


def read_counters(org_id: str, combo: str, items: Optional[dict] = None) -> Counter:
    """What the boxes need of one filter combination: ~15 small items, whatever the
    organisation's size or age (from `items` when already read)."""
    keys = box_keys(combo)
    items = items if items is not None else read_items(org_id, keys)
    stored = Counter()
    for key in keys:
        stored.update(counters.absolute_names(key, items.get(key, {})))
    return counters.select(stored, combo)


def count_keys(combos: list) -> list:
    """The items holding these filter combinations' counts."""
    return [counters.count_item(combo) for combo in combos]


def read_counts(org_id: str, combos: list, items: Optional[dict] = None) -> list:
    """How many accounts each filter combination holds (from `items` when already read)."""
    keys = count_keys(combos)
    items = items if items is not None else read_items(org_id, keys)
    return [counters.select(items.get(key, {}), combo)["n"] for key, combo in zip(keys, combos)]
