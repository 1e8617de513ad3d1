"""The bench's write-unit estimator against examples worked by hand from
DynamoDB's rules (bench/write_units.py says which)."""
from bench import write_units as wu
from chalicelib.core.models import Account
from deploy import tables

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {"IndexName": "by_x", "KeySchema": [{"AttributeName": "x_p", "KeyType": "HASH"},
                                            {"AttributeName": "x_s", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["label"]}},
        {"IndexName": "by_y", "KeySchema": [{"AttributeName": "y", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"IndexName": "all_z", "KeySchema": [{"AttributeName": "z", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "ALL"}},
    ],
}
# pk "a": 2 + 1 = 3; sk "b": 3; x_p "p1": 3 + 2 = 5; x_s "s1": 5; label "hello": 5 + 5 = 10;
# other 12345: 5 + (1 + ceil(5 / 2)) = 9. Item: 35 bytes.
ITEM = {"pk": {"S": "a"}, "sk": {"S": "b"}, "x_p": {"S": "p1"}, "x_s": {"S": "s1"}, "label": {"S": "hello"},
        "other": {"N": "12345"}}


def test_sizes_follow_dynamodbs_rules():
    assert wu.item_size(ITEM) == 35
    assert wu.value_size({"N": "0.00120"}) == 2  # significant digits "12"
    assert wu.value_size({"N": "-100"}) == 2
    assert wu.value_size({"BOOL": True}) == 1
    assert wu.value_size({"NS": ["1", "22", "333"]}) == 2 + 2 + 3
    # a list of two strings: 3 + (1 + 1) + (1 + 2); a map {"ab": "c"}: 3 + 1 + 2 + 1
    assert wu.value_size({"L": [{"S": "a"}, {"S": "bb"}]}) == 8
    assert wu.value_size({"M": {"ab": {"S": "c"}}}) == 7
    assert [wu.units(n) for n in (0, 1, 1024, 1025)] == [0, 1, 1, 2]


def test_a_new_item_is_written_to_the_table_and_to_the_indexes_whose_keys_it_has():
    cost = wu.write_cost(TABLE, None, ITEM)
    # table 35 B -> 1; by_x entry pk, sk, x_p, x_s, label = 26 + 100 B -> 1; no y, no z: not in those indexes
    assert (cost.table, cost.indexes, cost.total) == (1, {"by_x": 1}, 2)
    assert wu.write_cost(TABLE, None, ITEM, transactional=True).table == 2


def test_a_changed_index_key_is_a_delete_and_a_put():
    cost = wu.update_cost(TABLE, ITEM, {"x_s": {"S": "s2"}})
    assert (cost.table, cost.indexes, cost.key_changes) == (1, {"by_x": 2}, 1)


def test_a_changed_projected_attribute_is_one_update_and_others_cost_nothing():
    with_y = {**ITEM, "y": {"S": "yy"}}
    cost = wu.update_cost(TABLE, with_y, {"label": {"S": "world"}})
    assert (cost.table, cost.indexes) == (1, {"by_x": 1})  # by_y holds keys only: untouched
    assert wu.update_cost(TABLE, with_y, {"other": {"N": "7"}}).indexes == {}


def test_entering_and_leaving_an_index_is_one_write_each():
    assert wu.update_cost(TABLE, ITEM, {"y": {"S": "yy"}}).indexes == {"by_y": 1}
    assert wu.update_cost(TABLE, ITEM, {"x_p": None}).indexes == {"by_x": 1}
    assert wu.write_cost(TABLE, ITEM, None).total == 2  # a delete: table + by_x


def test_sizes_round_up_per_kilobyte_in_the_table_and_in_each_index():
    blob = "b" * 1500
    big = {**ITEM, "z": {"S": "zz"}, "blob": {"S": blob}}  # 35 + 3 + 1504 = 1542 B
    assert wu.item_size(big) == 1542
    cost = wu.write_cost(TABLE, None, big)
    # table 2 KB; by_x leaves the blob out -> 1; all_z copies everything: 1542 + 100 -> 2
    assert (cost.table, cost.indexes) == (2, {"by_x": 1, "all_z": 2})
    # an update is charged on the larger of before and after
    assert wu.update_cost(TABLE, big, {"blob": None}).table == 2


def test_counter_updates_are_transactional_and_sized_after_the_add():
    item = {"org_id": {"S": "o"}, "key": {"S": "c#k"}, "n": {"N": "9"}}
    assert wu.counter_update_cost(item, {"n": 1}) == 2
    assert wu.counter_update_cost(item, {"n": 1}, transactional=False) == 1


def test_the_accounts_table_definition_is_read_from_the_model():
    definition = tables.table_resource(Account, "t-", False)["Properties"]
    account = Account(org_id="o", account_id="a", email="x@example.org", name="X")
    cost = wu.write_cost(definition, None, account.serialize())
    # a live client with no visit: in every listing index but the archived-only ones
    assert cost.table == 1 and len(cost.indexes) == len(definition["GlobalSecondaryIndexes"])
