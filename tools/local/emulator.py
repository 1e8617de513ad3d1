"""The AWS of a laptop or CI: moto, the project's resources, and event delivery
as Lambda does it (DynamoDB stream records, SQS messages, schedules), calling
the app's handlers through `app.handler_map` with Lambda-shaped events.

Resources come from the same definitions as production: tables from
`chalicelib.core.models`, the bucket, queue and email identity from the settings.
"""
import json
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

log = logging.getLogger("caseload.local")

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    # moto's in-process DynamoDB streams need this (else "Not yet implemented")
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "CASELOAD_STAGE": "local",
    "CASELOAD_TABLE_PREFIX": "caseload-local-",
    "CASELOAD_BUCKET": "caseload-local-files",
    "CASELOAD_MAIL_SENDER": "Caseload <no-reply@caseload.test>",
    "CASELOAD_MAIL_DOMAIN": "caseload.test",
    "CASELOAD_SECRET_KEY": "local-only-secret-key-change-me-in-production",
    # moto's GetSendQuota says MaxSendRate 1; the emulator stands for an account allowed 1,000 a second.
    "CASELOAD_MAIL_SIMULATED_RATE": "1000",
    "CASELOAD_MAIL_MAX_RATE": "1000",
}


def configure_environment(public_url: str, endpoint: Optional[str] = None, **overrides) -> None:
    """Set the local stage's environment (before `app` is imported)."""
    os.environ.update(LOCAL_ENV)
    os.environ["CASELOAD_PUBLIC_URL"] = public_url
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    else:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(overrides)


def atomic_dynamodb_writes() -> None:
    """Give moto's TransactWriteItems DynamoDB's semantics: atomic across the
    server's threads, all conditions checked before anything is written. Idempotent.

    moto deep-copies every table a transaction touches, applies the items one
    by one and, when a condition fails, puts the copies back. So (1) a write
    that another thread committed in between is lost (two concurrent
    invitations of one address could leave no account at all), (2) the
    rolled-back writes still reach the stream ("phantom" records), and (3) each
    transaction costs a copy of whole tables: seconds per call once a table
    holds a few thousand items. Here one lock serialises item writes, the
    conditions are checked first (a failing transaction writes nothing and
    copies nothing), and a transaction whose conditions hold runs without the
    table copies.
    """
    import copy as real_copy

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_caseload_atomic", False):
        return
    lock = threading.RLock()  # re-entrant: a transaction calls put_item/update_item inside
    state = threading.local()

    class _Copy:
        """moto.dynamodb.models' `copy`, without the whole-table snapshot inside a checked transaction."""

        def deepcopy(self, value, *args):
            if getattr(state, "checked", False) and isinstance(value, Table):
                return value
            return real_copy.deepcopy(value, *args)

        def __getattr__(self, name):
            return getattr(real_copy, name)

    dynamodb_models.copy = _Copy()

    def check_conditions(backend, transact_items) -> bool:
        """Raise the cancellation when a condition fails; False when moto's own path must answer."""
        reasons, failed, seen = [], False, set()
        for entry in transact_items:
            if len(entry) != 1:
                return False
            kind, op = next(iter(entry.items()))
            if op.get("ReturnValuesOnConditionCheckFailure"):
                return False
            try:
                table = backend.get_table(op["TableName"])
                if kind == "Put":
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                else:
                    key = op["Key"]
                marker = (op["TableName"], repr(sorted(key.items())))
                if marker in seen:
                    return False
                seen.add(marker)
                condition = op.get("ConditionExpression")
                holds = condition is None or get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"),
                ).expr(backend.get_item(op["TableName"], key))
            except Exception:  # malformed: moto's own checks give the right error
                return False
            failed = failed or not holds
            reasons.append((None, None, None) if holds else
                           ("ConditionalCheckFailed", "The conditional request failed", None))
        if failed:
            raise TransactionCanceledException(reasons)
        return True

    original_transaction = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        with lock:
            checked = check_conditions(self, transact_items)
            state.checked = checked
            try:
                return original_transaction(self, transact_items)
            finally:
                state.checked = False

    def locked(method):
        def wrapper(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)
        return wrapper

    DynamoDBBackend.transact_write_items = transact_write_items
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend._caseload_atomic = True


FAST_REPLIES = ("Query", "Scan", "GetItem", "BatchGetItem")


def fast_dynamodb_replies() -> None:
    """Write moto's successful DynamoDB read replies with json.dumps. Idempotent.

    moto 5's response serializer walks the operation's output shape for every
    attribute of every item it returns: py-spy showed it at ~70% of a Query's
    time (milliseconds an item on this machine), so the export of a large
    organisation spent minutes there. DynamoDB's JSON protocol answers with
    exactly the dict moto builds (attribute values already typed), so the
    reads in FAST_REPLIES skip the serializer; errors still go through it.
    tests/test_emulator_replies.py checks both give the same answer.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_caseload_fast_replies", False):
        return
    shaped = DynamoHandler.serialized

    def serialized(self, action_result):
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in FAST_REPLIES:
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            headers.update(self.response_headers)
            return 200, headers, json.dumps(result)
        return shaped(self, action_result)

    DynamoHandler.serialized = serialized
    DynamoHandler.shaped_serialized = shaped
    DynamoHandler._caseload_fast_replies = True


def fast_dynamodb_queries() -> None:
    """Answer moto's Query on a table's own key (not an index) from its partition. Idempotent.

    moto 5 answers every Query page by sorting every item of the whole table
    (`Table.all_items`), keeping the partition's, sorting those again, walking
    from the first to ExclusiveStartKey, deep-copying the page and projecting
    each item by deserialising the whole item once per projected name. py-spy
    on an export of 10,000 accounts (11 one-MB pages): 42% of the Query time in
    the whole-table sort, 32% in the projection, 15% in the copy. A page costs
    in proportion to the table and the pages to the partition: an export's time
    grew with the square of the organisation. Here a Query reads its own
    partition (the dict moto keys by hash value), sorts it by the values moto's
    `<` compares (`DynamoType.cast_value`), finds ExclusiveStartKey by bisection
    with moto's own predicate (`_item_comes_before_dct`, true for a prefix of
    the sorted partition), then runs moto's loop (Limit, the 1 MB page, key
    conditions, LastEvaluatedKey, ScannedCount; each item sized once, not
    twice). A page projected on top-level names skips the copy (the projection
    makes new values; the filter only reads); any other page is copied as moto
    does. Index queries stay moto's (the export reads the table itself: see
    chalicelib.exports.reader).
    tests/test_emulator_queries.py checks both give the same answers.
    """
    import bisect
    import copy
    import operator
    import re
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType, Item, deserializer, serializer
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    if getattr(Table, "_caseload_fast_queries", False):
        return
    moto_query, moto_project = Table.query, Item.project
    list_index = re.compile(r"(.+)\[(\d+)\]$")  # moto's find_nested_key: `name[n]` is a list element
    # A range key's `cast_value` (what moto sorts by) without its chain of type tests: once per item per
    # page, it was a quarter of this Query's time (py-spy, 50,000 accounts); sorting 100,000 items takes
    # 36 ms instead of 83. Keys are S or B (cast_value is the value) or N (a Decimal).
    by_value = operator.attrgetter("range_key.value")

    def by_number(item):
        return Decimal(item.range_key.value)

    def top_level(projection_expressions) -> bool:
        return all(len(path) == 1 and not list_index.match(path[0]) for path in projection_expressions)

    def project(self, projection_expressions):
        if not top_level(projection_expressions):
            return moto_project(self, projection_expressions)
        # moto round-trips the whole item through boto3's (de)serialiser once per name: the
        # same round trip, of the projected attributes only, gives the same values.
        kept = {}
        for (name,) in projection_expressions:
            if name in self.attrs and name not in kept:
                kept[name] = deserializer.deserialize(self.attrs[name].to_regular_json())
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=serializer.serialize(kept)["M"])

    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
              projection_expressions, index_name=None, consistent_read=False, filter_expression=None,
              hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
        if index_name or hash_key is None:
            return moto_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                              scan_index_forward, projection_expressions, index_name, consistent_read,
                              filter_expression, hash_key_conditions=hash_key_conditions,
                              range_key_conditions=range_key_conditions, **filter_kwargs)
        stored = self.items.get(hash_key)
        if self.range_key_attr:
            # list() first: one step under the GIL, so a concurrent write cannot break the iteration.
            found = [item for item in list((stored or {}).values()) if isinstance(item, Item)]
            found.sort(key=by_number if self.range_key_type == "N" else by_value)
        else:
            found = [stored] if isinstance(stored, Item) else []
        if scan_index_forward is False:
            found.reverse()
        start = 0
        if exclusive_start_key is not None:
            start = bisect.bisect_left(range(len(found)), True, key=lambda n: not self._item_comes_before_dct(
                found[n], exclusive_start_key, [self.hash_key_attr], [self.range_key_attr], scan_index_forward))

        # From here on moto's own loop (index_name is None).
        last_range_key_name = range_key_conditions[-1][0] if range_key_conditions else None
        results, result_size, scanned_count, last_evaluated_key = [], 0, 0, None
        for position in range(start, len(found)):
            result = found[position]
            size = result.size()
            reached_length_limit = len(results) == limit
            reached_size_limit = (result_size + size) > RESULT_SIZE_LIMIT
            if reached_length_limit or reached_size_limit:
                last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
                break
            if not range_comparison and not filter_kwargs:
                results.append(result)
                result_size += size
                scanned_count += 1
            if range_comparison:
                if last_range_key_name and result.attrs.get(last_range_key_name):
                    if result.attrs.get(last_range_key_name).compare(range_comparison, range_objs):
                        results.append(result)
                        result_size += size
                        scanned_count += 1
                elif result.range_key.compare(range_comparison, range_objs):
                    results.append(result)
                    result_size += size
                    scanned_count += 1
            if filter_kwargs:
                for name, value in filter_kwargs.items():
                    dynamo_types = [DynamoType(element) for element in value["AttributeValueList"]]
                    if result.attrs.get(name).compare(value["ComparisonOperator"], dynamo_types):
                        results.append(result)
                        result_size += size
                scanned_count += 1

        if not (projection_expressions and top_level(projection_expressions)):
            results = copy.deepcopy(results)
        if filter_expression is not None:
            results = [item for item in results if filter_expression.expr(item)]
        if projection_expressions:
            results = [item.project(projection_expressions) for item in results]
        return results, scanned_count, last_evaluated_key

    Item.project = project
    Table.query = query
    Table.moto_query, Item.moto_project = moto_query, moto_project
    Table._caseload_fast_queries = True


def fast_dynamodb_items() -> None:
    """Build moto's items summing their size once, not once per attribute. Idempotent.

    moto's Item stores its attributes in a LimitedSizeDict, whose every insert
    sizes all the attributes already there (the 400 KB item limit): an account
    of ~25 attributes is sized ~300 times. py-spy while seeding 10,000
    accounts: 73% of moto's put_item in those sizings. Here the attributes go
    in as they are and a running total is checked after each one, against the
    same limit with the same sizes (`bytesize(name) + value.size()`): an item
    over the limit raises ItemSizeTooLarge as before, at the same attribute.
    Later writes to `attrs` (updates) still go through LimitedSizeDict's check.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item, "_caseload_fast_items", False):
        return
    limit = 405000  # LimitedSizeDict.__setitem__'s

    def __init__(self, hash_key, range_key, attrs):
        self.hash_key, self.range_key = hash_key, range_key
        self.attrs, total = LimitedSizeDict(), 0
        for name, value in attrs.items():
            typed = DynamoType(value)
            total += bytesize(name) + typed.size()
            if total > limit:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, name, typed)

    Item.moto_init = Item.__init__
    Item.__init__ = __init__
    Item._caseload_fast_items = True


def start_moto_server(port: int = 0):
    """moto's server on loopback; returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    atomic_dynamodb_writes()
    fast_dynamodb_replies()
    fast_dynamodb_queries()
    fast_dynamodb_items()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    actual_port = server._server.server_port
    return server, f"http://127.0.0.1:{actual_port}"


def create_resources() -> dict:
    """Tables, bucket (CORS, notifications to the upload queue), queue, SES identity."""
    from chalicelib.core import aws, models

    aws.reset_clients()
    models.create_tables()
    bucket = os.environ["CASELOAD_BUCKET"]
    s3, sqs, ses = aws.client("s3"), aws.client("sqs"), aws.client("ses")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_DEFAULT_REGION"]})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedMethods": ["POST", "GET"], "AllowedOrigins": [os.environ["CASELOAD_PUBLIC_URL"]],
        "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]})
    prefix = os.environ["CASELOAD_TABLE_PREFIX"]
    queue_url = sqs.create_queue(QueueName=f"{prefix}uploads")["QueueUrl"]
    jobs_queue_url = sqs.create_queue(QueueName=f"{prefix}jobs")["QueueUrl"]
    mail_queue_url = sqs.create_queue(QueueName=f"{prefix}mail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}}]})
    os.environ["CASELOAD_UPLOAD_QUEUE_URL"] = queue_url
    os.environ["CASELOAD_JOBS_QUEUE_URL"] = jobs_queue_url
    os.environ["CASELOAD_MAIL_QUEUE_URL"] = mail_queue_url
    ses.verify_domain_identity(Domain=os.environ["CASELOAD_MAIL_DOMAIN"])
    return {"bucket": bucket, "queue_url": queue_url, "queue_arn": queue_arn, "jobs_queue_url": jobs_queue_url,
            "mail_queue_url": mail_queue_url}


class _Context:
    """Enough of Lambda's context object for the handlers."""

    function_name = "caseload-local"
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def _lambda_stream_record(record: dict, stream_arn: str) -> dict:
    """boto3's shape of a stream record, turned into what Lambda delivers."""
    shaped = dict(record)
    dynamodb = dict(shaped["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    shaped["dynamodb"] = dynamodb
    shaped["eventSourceARN"] = stream_arn
    shaped.setdefault("awsRegion", os.environ.get("AWS_DEFAULT_REGION"))
    return shaped


@dataclass
class EventPump:
    """Delivers the app's event sources the way Lambda would.

    `drain()` delivers everything pending now (tests call it); `start()` runs
    it in a thread every `interval` seconds (the local run).
    """

    app: object
    interval: float = 0.5
    _positions: dict = field(default_factory=dict)
    _schedule_next: dict = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    errors: list = field(default_factory=list)

    def _sources(self, kind: str) -> list:
        return [s for s in self.app.event_sources if type(s).__name__ == kind]

    def drain(self, rounds: int = 20) -> int:
        """Deliver until nothing is pending (or `rounds` passes); returns records delivered."""
        total = 0
        for _ in range(rounds):
            if self._stop.is_set() and threading.current_thread().name == "event-pump":
                break
            delivered = self._pump_streams() + self._pump_queues()
            total += delivered
            if not delivered:
                break
        return total

    def _pump_streams(self) -> int:
        from chalicelib.core import aws

        delivered = 0
        streams = aws.client("dynamodbstreams")
        for source in self._sources("DynamoDBEventConfig"):
            table = source.stream_arn.split(":table/")[1].split("/")[0]
            described = aws.client("dynamodb").describe_table(TableName=table)["Table"]
            arn = described["LatestStreamArn"]
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                key = (arn, shard["ShardId"])
                last = self._positions.get(key)
                # A fresh iterator each poll: moto can replay rolled-back records on long-held ones.
                args = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last
                        else {"ShardIteratorType": "TRIM_HORIZON"})
                iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **args)["ShardIterator"]
                records = streams.get_records(ShardIterator=iterator, Limit=source.batch_size)["Records"]
                if not records:
                    continue
                event = {"Records": [_lambda_stream_record(r, arn) for r in records]}
                failed = self._invoke(source.name, event)
                done = records
                if failed:
                    first_failed = min(failed, key=int)
                    done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first_failed)]
                if done:
                    self._positions[key] = done[-1]["dynamodb"]["SequenceNumber"]
                    delivered += len(done)
        return delivered

    def _pump_queues(self) -> int:
        from chalicelib.core import aws

        delivered = 0
        sqs = aws.client("sqs")
        for source in self._sources("SQSEventConfig"):
            queue_url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, source.batch_size),
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                continue
            event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                                  "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                                  "eventSourceARN": arn, "awsRegion": os.environ.get("AWS_DEFAULT_REGION")}
                                 for m in messages]}
            failed = set(self._invoke(source.name, event))
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    delivered += 1
        return delivered

    def run_schedules(self, now: Optional[float] = None, only: Optional[set] = None) -> list:
        """Invoke every scheduled handler that is due (or those named in `only`); returns their names."""
        now = now or time.time()
        ran = []
        for source in self._sources("ScheduledEventConfig"):
            if only is not None and source.name not in only:
                continue
            if source.name not in self._schedule_next and _schedule_text(source).startswith("cron("):
                self._schedule_next[source.name] = next_fire(_schedule_text(source), now)  # its first slot
            if self._schedule_next.get(source.name, 0) <= now:
                self._invoke(source.name, {"version": "0", "id": f"local-{int(now)}", "detail-type": "Scheduled Event",
                                           "source": "aws.events", "account": "123456789012",
                                           "region": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
                                           "time": datetime.utcfromtimestamp(now).isoformat() + "Z", "detail": {},
                                           "resources": [f"local:{source.name}"]})
                self._schedule_next[source.name] = next_fire(_schedule_text(source), now)
                ran.append(source.name)
        return ran

    def _invoke(self, name: str, event: dict) -> list:
        """Call a handler; returns the ids it reported as failed (all of them on an exception)."""
        try:
            result = self.app.handler_map[name](event, _Context())
        except Exception as exc:  # a failing handler must not stop the pump, as on Lambda
            log.exception("handler %s failed", name)
            self.errors.append((name, repr(exc)))
            return [r.get("messageId") or r.get("dynamodb", {}).get("SequenceNumber") for r in event.get("Records", [])]
        if isinstance(result, dict):
            return [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        return []

    def start(self) -> threading.Thread:
        def loop():
            while not self._stop.is_set():
                try:
                    self.drain(rounds=5)
                    self.run_schedules()
                except Exception:  # keep delivering after a transient emulator error
                    log.exception("event pump round failed")
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, name="event-pump", daemon=True)
        self._thread.start()
        return self._thread

    @contextmanager
    def running(self) -> Iterator["EventPump"]:
        """Delivering in the background for the block's length, as Lambda would."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def stop(self, wait: float = 120) -> None:
        """Stop after the round in flight: a pump still delivering after stop() would race whoever runs next."""
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)


def _schedule_text(source) -> str:
    expression = getattr(source, "schedule_expression", None)
    return expression if isinstance(expression, str) else getattr(expression, "to_string", lambda: "")()


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), 1)}  # EventBridge: 1 = Sunday


def _cron_field(text: str, low: int, high: int, names: dict = None) -> set:
    """The values one EventBridge cron field allows (`*`, `?`, lists, ranges, steps, names)."""
    allowed = set()
    for part in text.upper().split(","):
        part, _, step = part.partition("/")
        if part in ("*", "?"):
            first, last = low, high
        else:
            bounds = [int(names.get(b, b)) if names else int(b) for b in part.split("-")]
            first, last = bounds[0], bounds[-1] if len(bounds) > 1 or not step else high
        allowed.update(range(first, last + 1, int(step or 1)))
    return allowed


def next_fire(text: str, after: float) -> float:
    """When a schedule expression next fires after `after` (epoch seconds), as EventBridge does:
    rates every period, cron expressions on their next matching minute (UTC)."""
    if text.startswith("rate("):
        amount, unit = text[5:-1].split()
        return after + int(amount) * _RATE_UNITS[unit]
    if text.startswith("cron("):
        try:
            minute, hour, dom, month, dow, year = text[5:-1].split()
            fields = (_cron_field(minute, 0, 59), _cron_field(hour, 0, 23), _cron_field(dom, 1, 31),
                      _cron_field(month, 1, 12, _MONTHS), _cron_field(dow, 1, 7, _DAYS),
                      _cron_field(year, 1970, 2199))
        except ValueError:  # L, W, # and the like: close enough for a laptop
            log.warning("cron expression %s is not understood locally: running it hourly", text)
            return after + 3600
        minutes, hours, days, months, weekdays, years = fields
        moment = datetime.fromtimestamp(after - after % 60 + 60, tz=timezone.utc)
        for _ in range(366 * 24 * 60):
            if (moment.minute in minutes and moment.hour in hours and moment.day in days
                    and moment.month in months and (moment.isoweekday() % 7) + 1 in weekdays
                    and moment.year in years):
                return moment.timestamp()
            moment += timedelta(minutes=1)
    return after + 3600



def local_server(app, host: str, port: int, threaded: bool = False):
    """Chalice's local server in a daemon thread: one request at a time by default (the tests'
    chalice.test client swaps os.environ during its calls, unsafe beside server threads);
    `threaded` answers each connection in its own thread, as `make load` serves it (the app
    keeps its request in a context variable, Chalice's local app its current_request per thread)."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, create_local_server

    lock = threading.Lock()

    class SerialHandler(ChaliceRequestHandler):
        def _generic_handle(self):
            if threaded:
                return super()._generic_handle()
            with lock:
                super()._generic_handle()

        def log_message(self, *args):
            if not threaded:  # a load run prints its own figures, not a line per request
                super().log_message(*args)

    factory = CLIFactory(project_dir=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    config = factory.create_config_obj(chalice_stage_name="local")
    if not isinstance(app, LocalChalice):  # once per process: a second install makes a cycle of base classes
        create_local_server(app, config, host, port)  # installs Chalice's local app class on `app`
    server = LocalDevServer(app, config, host, port, handler_cls=SerialHandler)
    if threaded:  # a load test's clients hang up on in-flight requests when it stops: not worth a traceback
        report = server.server.handle_error
        server.server.handle_error = lambda request, address: (
            None if isinstance(sys.exc_info()[1], ConnectionError) else report(request, address))
    thread = threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True)
    thread.start()
    return server, thread

