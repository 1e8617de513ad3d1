"""The one schema: indexes are declared by name, and the names say what they hold."""
from chalicelib.core.models import DIMENSIONS, PAIRS, SORTS, Account


def test_the_listing_indexes_are_every_dimension_by_sort_and_the_pairs_by_name():
    declared = {name for name in Account._indexes if name != "by_email"}
    assert declared == {f"{d}_{s}" for d in DIMENSIONS for s in SORTS} | {f"{p}_name" for p in PAIRS}
    for name in declared:
        index = getattr(Account, name)
        dimension, sort = name.split("_")
        assert index.Meta.index_name == name
        keys = [(k["AttributeName"], k["KeyType"]) for k in index._get_schema()["key_schema"]]
        assert keys == [(f"p_{dimension}", "HASH"), (f"s_{sort}", "RANGE")]
