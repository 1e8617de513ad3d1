"""The local emulator's faster moto DynamoDB paths give moto's own answers
(tools.local.emulator: fast_dynamodb_queries, fast_dynamodb_items): every page
of a Query (order, ExclusiveStartKey, LastEvaluatedKey, Limit, the 1 MB page,
key conditions, filters, projections), projections of every attribute type,
and items built with the same attributes and the same size limit."""
import itertools

import pytest
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from tools.local import emulator

emulator.fast_dynamodb_queries()
emulator.fast_dynamodb_items()

ALL_TYPES = {"n": {"N": "12.50"}, "tiny": {"N": "0.0000001"}, "big": {"N": "-1E+3"}, "ok": {"BOOL": False},
             "none": {"NULL": True}, "words": {"SS": ["x", "y", "é"]}, "days": {"NS": ["3", "1", "2.5"]},
             "blob": {"B": b"\x00\x01\x02"}, "blobs": {"BS": [b"\x00\x01", b"\x03"]},  # as moto's server stores them
             "list": {"L": [{"S": "é 😀"}, {"N": "3"}, {"M": {"k": {"S": "v"}}}]},
             "map": {"M": {"k": {"S": "v"}, "deep": {"M": {"n": {"N": "1"}}}, "l": {"L": []}, "b": {"B": "BQ=="}}}}


def _table(range_type=None) -> Table:
    schema, attr = [{"AttributeName": "pk", "KeyType": "HASH"}], [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attr.append({"AttributeName": "sk", "AttributeType": range_type})
    return Table("t", account_id="123456789012", region="eu-west-1", schema=schema, attr=attr)


def _filled(range_type: str) -> Table:
    """Two partitions in shuffled write order, items of very different sizes (several 1 MB pages)."""
    table = _table(range_type)
    order = list(range(150))
    order = order[::3] + order[1::3] + order[2::3]
    for pk, number in itertools.product(("org-a", "org-b"), order):
        key = {"N": {"N": str(number * 7 - 300)}, "B": {"B": bytes([number % 7]) * (number % 3 + 1) + bytes([number])},
               "S": {"S": f"{'ab'[number % 2]}{number:05d}"}}[range_type]
        item = {"pk": {"S": pk}, "sk": key, "count": {"N": str(number % 9)}, "name": {"S": f"Name {number}"},
                "pad": {"S": "x" * (number % 5) * 9000}}
        if number % 4:
            item.update(ALL_TYPES)
        table.put_item(item)
    return table


def _answer(found) -> tuple:
    items, scanned, last = found
    return ([(i.hash_key.to_json(), i.range_key and i.range_key.to_json(), i.to_json()) for i in items], scanned,
            last and {name: value.to_json() for name, value in last.items()})


def _same_pages(table: Table, hash_value: str, **query) -> int:
    """Every page of a query, each asked of both with the same ExclusiveStartKey; returns the pages."""
    query = {"range_comparison": None, "range_objs": [], "limit": None, "scan_index_forward": True,
             "projection_expressions": [], **query}
    start, pages = None, 0
    while True:
        args = dict(hash_key=DynamoType({"S": hash_value}), exclusive_start_key=start, **query)
        ours, moto = Table.query(table, **args), Table.moto_query(table, **args)
        assert _answer(ours) == _answer(moto)
        pages += 1
        # As the server hands it back: binary keys as bytes (to_json would give base64 text).
        start = moto[2] and {name: {value.type: value.value} for name, value in moto[2].items()}
        if not start:
            return pages


@pytest.mark.parametrize("range_type", ["S", "N", "B"])
@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [None, 1, 7, 1000])
def test_every_page_of_a_partition(range_type, forward, limit):
    table = _filled(range_type)
    pages = _same_pages(table, "org-a", scan_index_forward=forward, limit=limit)
    assert pages >= (3 if limit in (None, 1000) else 150 // limit)  # 1 MB pages, or Limit's


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("comparison, values", [
    ("BEGINS_WITH", [{"S": "a"}]), ("BETWEEN", [{"S": "a00010"}, {"S": "b00101"}]), ("<", [{"S": "b00050"}]),
    (">=", [{"S": "a00100"}]), ("=", [{"S": "b00033"}]), ("=", [{"S": "zzz"}])])
def test_key_conditions(forward, comparison, values):
    table, typed = _filled("S"), [DynamoType(v) for v in values]
    for limit in (None, 5):
        _same_pages(table, "org-a", scan_index_forward=forward, limit=limit, range_comparison=comparison,
                    range_objs=typed, range_key_conditions=[("sk", comparison, typed)])


@pytest.mark.parametrize("projection", [
    [["name"]], [["pk"], ["count"], ["missing"], ["map"], ["days"], ["blob"], ["words"]],
    [["map", "deep", "n"]], [["list[2]", "k"]], [["name"], ["list[0]"]]])
@pytest.mark.parametrize("expression", [None, "#c > :v AND attribute_exists(#m)"])
def test_filters_and_projections(projection, expression):
    table = _filled("S")
    filtered = get_filter_expression(expression, {"#c": "count", "#m": "map"}, {":v": {"N": "3"}})
    _same_pages(table, "org-b", projection_expressions=projection, filter_expression=filtered)
    _same_pages(table, "org-b", projection_expressions=projection, filter_expression=filtered, limit=9,
                scan_index_forward=False)


def test_legacy_query_filter():
    table = _filled("S")
    _same_pages(table, "org-a", limit=11, count={"ComparisonOperator": "GT", "AttributeValueList": [{"N": "4"}]})


@pytest.mark.parametrize("start", [
    {"pk": {"S": "org-a"}, "sk": {"S": "a00051"}},  # no such item: the page starts after where it would be
    {"pk": {"S": "org-a"}, "sk": {"S": "b00149"}},  # the last item: an empty page
    {"pk": {"S": "org-a"}, "sk": {"S": "0"}}, {"pk": {"S": "org-b"}, "sk": {"S": "a00002"}},  # another partition
    {"pk": {"S": "org-z"}, "sk": {"S": "a00002"}}])
@pytest.mark.parametrize("forward", [True, False])
def test_any_exclusive_start_key(start, forward):
    table = _filled("S")
    for limit in (None, 3):
        args = dict(hash_key=DynamoType({"S": "org-a"}), range_comparison=None, range_objs=[], limit=limit,
                    exclusive_start_key=start, scan_index_forward=forward, projection_expressions=[["sk"]])
        assert _answer(Table.query(table, **args)) == _answer(Table.moto_query(table, **args))


def test_missing_partitions_and_tables_without_a_range_key():
    ranged, plain = _filled("S"), _table()
    for number in range(5):
        plain.put_item({"pk": {"S": f"k{number}"}, **ALL_TYPES})
    ranged.get_item(DynamoType({"S": "org-gone"}), DynamoType({"S": "x"}))  # moto leaves an empty partition
    for table, hash_value in ((ranged, "org-gone"), (ranged, "org-never"), (plain, "k3"), (plain, "k9")):
        _same_pages(table, hash_value)
        _same_pages(table, hash_value, projection_expressions=[["pk"], ["n"]], limit=1)


@pytest.mark.parametrize("projection", [
    [["pk"]], [["n"], ["tiny"], ["big"], ["ok"], ["none"], ["words"], ["days"], ["blob"], ["blobs"], ["list"],
               ["map"]], [["missing"]], [["map"], ["map"]], [["map", "deep"]], [["list[0]"]], [["list[2]", "k"]]])
def test_projections_equal_motos(projection):
    item = Item(DynamoType({"S": "p"}), None, {"pk": {"S": "p"}, **ALL_TYPES})
    ours, moto = item.project(projection), Item.moto_project(item, projection)
    assert (ours.hash_key, ours.range_key, ours.to_json()) == (moto.hash_key, moto.range_key, moto.to_json())


def test_items_are_built_as_moto_builds_them():
    attrs = {"pk": {"S": "p"}, **ALL_TYPES}
    ours, moto = Item(DynamoType({"S": "p"}), None, attrs), Item.__new__(Item)
    Item.moto_init(moto, DynamoType({"S": "p"}), None, attrs)
    assert ours == moto and list(ours.attrs) == list(moto.attrs) and type(ours.attrs) is type(moto.attrs)
    # The 400 KB limit: just under passes both ways, just over fails both ways, whichever attribute tips it.
    for total, expected in ((405000, "built"), (405001, "too large")):
        big = {"pk": {"S": "p"}, "a": {"S": "x" * (total - 5)}, "b": {"S": ""}}  # names and values: total bytes
        outcomes = []
        for build in (Item, lambda *args: Item.moto_init(Item.__new__(Item), *args)):
            try:
                build(DynamoType({"S": "p"}), None, big)
                outcomes.append("built")
            except ItemSizeTooLarge:
                outcomes.append("too large")
        assert outcomes == [expected, expected]
    with pytest.raises(ItemSizeTooLarge):  # later writes are still checked
        ours.attrs["huge"] = DynamoType({"S": "x" * 410000})
