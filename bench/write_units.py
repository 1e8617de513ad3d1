"""Write units of one item write, computed from the table definition by
DynamoDB's published rules (moto reports none of this):

- the table: the larger of the item's size before and after, rounded up to 1 KB
  (a delete: the size of the deleted item); transactional writes cost twice;
- each global secondary index whose key attributes the item has before or after:
  - key attributes present only after (the item enters the index): 1 put;
  - present only before (it leaves): 1 delete;
  - an index key value changed: a delete plus a put (counted twice);
  - same keys, a projected attribute changed: 1 update of the larger entry;
  - nothing the index holds changed: nothing;
  each index write is its entry's size rounded up to 1 KB, where an entry is the
  index keys + the table keys + the projected attributes + 100 bytes.

Item size: attribute name lengths + value sizes (strings and binary: their
bytes; numbers: 1 byte + 1 per two significant digits; booleans and null: 1;
sets: the sum of their members; lists and maps: 3 bytes + 1 per element + the
elements). Items are DynamoDB JSON (`{"name": {"S": "..."}}`), as
`Model.serialize()` gives them; the table definition is the CloudFormation
`Properties` of the table (deploy.tables.table_resource).
"""
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

KB = 1024
INDEX_ENTRY_OVERHEAD = 100


def _number_size(text: str) -> int:
    digits = format(abs(Decimal(text)), "f").replace(".", "").lstrip("0").rstrip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def value_size(value: dict) -> int:
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "B":
        return len(content)
    if kind == "N":
        return _number_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(_number_size(n) for n in content)
    if kind == "BS":
        return sum(len(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Optional[dict]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def units(size: int) -> int:
    return math.ceil(size / KB) if size else 0


@dataclass
class WriteCost:
    table: int = 0
    indexes: dict = field(default_factory=dict)  # index name -> write units

    @property
    def total(self) -> int:
        return self.table + sum(self.indexes.values())

    @property
    def key_changes(self) -> int:
        return sum(1 for n in self.indexes.values() if n >= 2)

    def __add__(self, other: "WriteCost") -> "WriteCost":
        indexes = dict(self.indexes)
        for name, n in other.indexes.items():
            indexes[name] = indexes.get(name, 0) + n
        return WriteCost(self.table + other.table, indexes)


def _keys(schema: list) -> list:
    return [k["AttributeName"] for k in schema]


def index_entry(definition: dict, index: dict, item: Optional[dict]) -> Optional[dict]:
    """The index's copy of the item, or None when the item is not in the index."""
    if not item:
        return None
    index_keys = _keys(index["KeySchema"])
    if any(name not in item for name in index_keys):
        return None
    projection = index["Projection"]
    wanted = set(index_keys) | set(_keys(definition["KeySchema"]))
    if projection["ProjectionType"] == "ALL":
        return dict(item)
    if projection["ProjectionType"] == "INCLUDE":
        wanted |= set(projection.get("NonKeyAttributes", ()))
    return {name: value for name, value in item.items() if name in wanted}


def _entry_size(entry: dict) -> int:
    return item_size(entry) + INDEX_ENTRY_OVERHEAD


def write_cost(definition: dict, old: Optional[dict], new: Optional[dict], transactional: bool = False) -> WriteCost:
    """The write units of turning `old` into `new` (None: absent) in this table."""
    if old == new:
        return WriteCost()
    cost = WriteCost(table=units(max(item_size(old), item_size(new))) * (2 if transactional else 1))
    for index in definition.get("GlobalSecondaryIndexes", ()):
        before, after = index_entry(definition, index, old), index_entry(definition, index, new)
        if before == after:
            continue
        keys = _keys(index["KeySchema"])
        if before is None:
            n = units(_entry_size(after))
        elif after is None:
            n = units(_entry_size(before))
        elif any(before[k] != after[k] for k in keys):
            n = units(_entry_size(before)) + units(_entry_size(after))
        else:
            n = units(max(_entry_size(before), _entry_size(after)))
        cost.indexes[index["IndexName"]] = n
    return cost


def update_cost(definition: dict, item: dict, changes: dict, transactional: bool = False) -> WriteCost:
    """The cost of an UpdateItem setting `changes` (name -> value, None removes) on `item`."""
    new = dict(item)
    for name, value in changes.items():
        if value is None:
            new.pop(name, None)
        else:
            new[name] = value
    return write_cost(definition, item, new, transactional)


def counter_update_cost(current: Optional[dict], added: dict, transactional: bool = True) -> int:
    """An ADD of numbers to one counter item (no indexes): the larger size, rounded up."""
    before = dict(current or {})
    after = dict(before)
    for name, amount in added.items():
        old = int(after.get(name, {"N": "0"})["N"])
        after[name] = {"N": str(old + amount)}
    return units(max(item_size(before), item_size(after))) * (2 if transactional else 1)
