"""The local emulator writes moto's DynamoDB read replies with json.dumps
(tools.local.emulator.fast_dynamodb_replies): the same answers as moto's own
serializer, for every attribute type and for errors."""
import json

import pytest
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler

from chalicelib.core.models import Account
from tools.local import emulator

ITEM = {"org_id": {"S": "o"}, "account_id": {"S": "a"}, "n": {"N": "12.5"}, "ok": {"BOOL": True},
        "none": {"NULL": True}, "words": {"SS": ["x", "y"]}, "days": {"NS": ["1", "2"]},
        "list": {"L": [{"S": "é 😀"}, {"N": "3"}]}, "map": {"M": {"k": {"S": "v"}, "deep": {"M": {}}}}}


def _handler(action: str) -> DynamoHandler:
    handler = DynamoHandler()
    handler.headers = {"X-Amz-Target": f"DynamoDB_20120810.{action}"}
    handler.querystring = {}
    handler.response_headers = {}
    return handler


@pytest.mark.parametrize("action, result", [
    ("Query", {"Count": 1, "ScannedCount": 2, "Items": [ITEM], "LastEvaluatedKey": {"org_id": {"S": "o"}}}),
    ("Scan", {"Count": 0, "ScannedCount": 0, "Items": []}),
    ("GetItem", {"Item": ITEM}),
    ("GetItem", {}),
    ("BatchGetItem", {"Responses": {"t": [ITEM]}, "UnprocessedKeys": {}}),
    ("Query", {"Count": 1, "Items": [ITEM], "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}),
])
def test_fast_replies_equal_the_serializers(action, result):
    emulator.fast_dynamodb_replies()
    handler = _handler(action)
    status, headers, body = handler.serialized(ActionResult(json.loads(json.dumps(result))))
    shaped_status, _headers, shaped_body = DynamoHandler.shaped_serialized(handler, ActionResult(result))
    assert status == shaped_status == 200 and headers["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(body) == json.loads(shaped_body)


def test_errors_and_other_operations_still_use_the_serializer(org):
    emulator.fast_dynamodb_replies()
    from pynamodb.exceptions import PutError
    with pytest.raises(PutError):  # a failed condition: moto's error reply, parsed by botocore as before
        Account(org_id=org.org_id, account_id=org.admin.account_id, email="x@y.org").save(
            condition=Account.account_id.does_not_exist())
    assert Account.get(org.org_id, org.admin.account_id).email == org.admin.email
