"""The emulator's DynamoDB transactions behave as DynamoDB's do (see
emulator.atomic_dynamodb_writes): a cancelled transaction writes nothing, not
even a stream record, and names the failing item; concurrent ones never lose a write."""
import threading

import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core import aws
from chalicelib.core.models import Account, Lookup
from chalicelib.core.tokens import new_id


def _stream_records(table_name: str) -> int:
    """How many records the table's stream holds now."""
    streams, dynamodb = aws.client("dynamodbstreams"), aws.client("dynamodb")
    arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    total = 0
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            reply = streams.get_records(ShardIterator=iterator, Limit=1000)
            total += len(reply["Records"])
            if not reply["Records"]:
                break
            iterator = reply.get("NextShardIterator")
    return total


def test_a_cancelled_transaction_writes_nothing_and_names_the_failed_item(org):
    taken = Lookup(key=f"test#{new_id()}", org_id=org.org_id)
    taken.save()
    fresh_account = Account(org_id=org.org_id, account_id=new_id(), email=f"{new_id()}@example.org")
    fresh_lookup = Lookup(key=f"test#{new_id()}", org_id=org.org_id)
    records_before = _stream_records(Account.Meta.table_name)
    with pytest.raises(TransactWriteError) as caught:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.save(fresh_account, condition=Account.account_id.does_not_exist())
            transaction.save(fresh_lookup, condition=Lookup.key.does_not_exist())
            transaction.save(Lookup(key=taken.key, org_id="x"), condition=Lookup.key.does_not_exist())
    codes = [r.code if r else None for r in caught.value.cancellation_reasons]
    assert codes == [None, None, "ConditionalCheckFailed"]
    assert Account.count(org.org_id, Account.account_id == fresh_account.account_id) == 0
    assert Lookup.count(fresh_lookup.key) == 0
    assert Lookup.get(taken.key).org_id == org.org_id
    assert _stream_records(Account.Meta.table_name) == records_before  # no phantom record


def test_concurrent_transactions_on_one_key_leave_exactly_one_winner(org):
    key, winners, losers = f"test#{new_id()}", [], []
    barrier = threading.Barrier(8)

    def claim(n: int):
        barrier.wait()
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                transaction.save(Lookup(key=f"test#{new_id()}", org_id=org.org_id))
                transaction.save(Lookup(key=key, org_id=org.org_id, account_id=str(n)),
                                 condition=Lookup.key.does_not_exist())
            winners.append(n)
        except TransactWriteError:
            losers.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7
    assert Lookup.get(key).account_id == str(winners[0])
