"""Write units of every DynamoDB write an operation makes, indexes included:
before each write request the items it names are read (unmetered, strongly
consistent), after it they are read again, and bench.write_units prices the
change from the table's definition. Moto reports no index writes; this does.
Condition checks and failed writes are priced as if written (an upper bound)."""
from functools import lru_cache

from bench.write_units import write_cost


@lru_cache(maxsize=None)
def _definitions() -> dict:
    """Table name (as the app names it now) -> the table's CloudFormation properties."""
    from chalicelib.core.models import ALL_MODELS
    from deploy import tables
    return {model.Meta.table_name: tables.table_resource(model, "", False)["Properties"] for model in ALL_MODELS}


def _key(table: str, item: dict) -> dict:
    names = [k["AttributeName"] for k in _definitions()[table]["KeySchema"]]
    return {name: item[name] for name in names}


def _targets(operation: str, params: dict) -> list:
    """(table, key, transactional) of every item the request writes."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(params["TableName"], _key(params["TableName"], params.get("Key") or params["Item"]), False)]
    if operation == "BatchWriteItem":
        found = []
        for table, requests in params["RequestItems"].items():
            for request in requests:
                body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
                found.append((table, _key(table, body), False))
        return found
    if operation == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            (kind, body), = entry.items()
            if kind != "ConditionCheck":
                found.append((body["TableName"], _key(body["TableName"], body.get("Key") or body["Item"]), True))
        return found
    return []


def _read(meter, table: str, key: dict):
    return meter.raw_client().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def before(meter, operation: str, params: dict) -> list:
    return [(table, key, transactional, _read(meter, table, key))
            for table, key, transactional in _targets(operation, params) if table in _definitions()]


def after(meter, pending: list) -> list:
    """(table, WriteCost) of each written item."""
    return [(table, write_cost(_definitions()[table], old, _read(meter, table, key), transactional))
            for table, key, transactional, old in pending]
