"""DynamoDB tables in CloudFormation, built from the pynamodb models (the one schema).

`table_resource` turns a model into an `AWS::DynamoDB::Table`; `describe_model`
and `describe_resource` read a model and a template table independently into
the same plain shape, so a test can prove the two agree (`differences`).
"""
from typing import Dict, List

from chalicelib.core.models import ALL_MODELS, TTL_ATTRIBUTE
from deploy import names

KEY_ORDER = {"HASH": 0, "RANGE": 1}


def logical_id(model) -> str:
    """`Account` -> `AccountTable`: stable names that other resources Ref."""
    return names.table_id(model.__name__)


def _key_schema(keys: List[dict]) -> List[dict]:
    # CloudFormation wants HASH before RANGE; pynamodb lists keys in attribute order.
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
            for k in sorted(keys, key=lambda k: KEY_ORDER[k["KeyType"]])]


def _projection(projection: dict) -> dict:
    shaped = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        shaped["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return shaped


def table_resource(model, prefix: str, deletion_protection: bool, key=None) -> dict:
    """The CloudFormation resource for one model's table, named with the stage's prefix,
    encrypted with `key` (the stack's KMS key, a GetAtt) when given."""
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    properties = {
        "TableName": prefix + names.table_suffix(model),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind}
                                 for name, kind in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": deletion_protection,
    }
    indexes = sorted(schema["global_secondary_indexes"], key=lambda i: i["index_name"])
    if indexes:
        properties["GlobalSecondaryIndexes"] = [
            {"IndexName": index["index_name"], "KeySchema": _key_schema(index["key_schema"]),
             "Projection": _projection(index["projection"])}
            for index in indexes
        ]
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        properties["StreamSpecification"] = {"StreamViewType": stream}
    if TTL_ATTRIBUTE in model.get_attributes():
        properties["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    if key is not None:
        properties["SSESpecification"] = {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    # Retain in prod: deleting the stack must never delete the data.
    policy = "Retain" if deletion_protection else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": properties}


def table_resources(prefix: str, deletion_protection: bool, key=None) -> Dict[str, dict]:
    return {logical_id(model): table_resource(model, prefix, deletion_protection, key) for model in ALL_MODELS}


# --- the check: model and template read independently into one shape ---------


def describe_model(model) -> dict:
    """What the table must be, read from the model's attributes and index classes."""
    attributes = model.get_attributes()

    def key_types(owner_attributes) -> dict:
        keys = {}
        for attribute in owner_attributes.values():
            if attribute.is_hash_key:
                keys["HASH"] = attribute.attr_name
            if attribute.is_range_key:
                keys["RANGE"] = attribute.attr_name
        return keys

    key_attributes = {}
    indexes = {}
    for index in model._indexes.values():
        index_attributes = index.Meta.attributes
        index_keys = key_types(index_attributes)
        key_attributes.update({a.attr_name: a for a in index_attributes.values()
                               if a.attr_name in index_keys.values()})
        projection = index.Meta.projection
        indexes[index.Meta.index_name] = {
            "keys": index_keys,
            "projection": projection.projection_type,
            "non_key": sorted(getattr(projection, "non_key_attributes", None) or []),
        }
    table_keys = key_types(attributes)
    key_attributes.update({a.attr_name: a for a in attributes.values() if a.attr_name in table_keys.values()})
    return {
        "name": names.table_suffix(model),
        "keys": table_keys,
        "types": {name: key_attributes[name].attr_type for name in sorted(key_attributes)},
        "indexes": indexes,
        "stream": getattr(model.Meta, "stream_view_type", None),
        "ttl": TTL_ATTRIBUTE if TTL_ATTRIBUTE in attributes else None,
    }


def describe_resource(resource: dict, prefix: str) -> dict:
    """The same shape, read from a template's table resource (named with `prefix`)."""
    properties = resource["Properties"]
    name = properties.get("TableName") or ""

    def keys(schema) -> dict:
        return {k["KeyType"]: k["AttributeName"] for k in schema}

    ttl = properties.get("TimeToLiveSpecification") or {}
    return {
        "name": name[len(prefix):] if name.startswith(prefix) else name,
        "keys": keys(properties["KeySchema"]),
        "types": {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]},
        "indexes": {
            index["IndexName"]: {
                "keys": keys(index["KeySchema"]),
                "projection": index["Projection"]["ProjectionType"],
                "non_key": sorted(index["Projection"].get("NonKeyAttributes") or []),
            }
            for index in properties.get("GlobalSecondaryIndexes") or []
        },
        "stream": (properties.get("StreamSpecification") or {}).get("StreamViewType"),
        "ttl": ttl.get("AttributeName") if ttl.get("Enabled") else None,
    }


def differences(model, resource: dict, prefix: str) -> List[str]:
    """Every way the template's table differs from the model ([] when they agree)."""
    want, have = describe_model(model), describe_resource(resource, prefix)
    found = []
    for field in ("name", "keys", "types", "stream", "ttl"):
        if want[field] != have[field]:
            found.append(f"{model.__name__}.{field}: model {want[field]!r}, template {have[field]!r}")
    for name in sorted(set(want["indexes"]) | set(have["indexes"])):
        if want["indexes"].get(name) != have["indexes"].get(name):
            found.append(f"{model.__name__} index {name}: model {want['indexes'].get(name)!r}, "
                         f"template {have['indexes'].get(name)!r}")
    if resource.get("Properties", {}).get("BillingMode") != "PAY_PER_REQUEST":
        found.append(f"{model.__name__}: billing is not PAY_PER_REQUEST")
    return found
