"""Counting what an operation costs: AWS requests (a botocore `after-call`
hook on every session the app's clients come from), items DynamoDB read,
the capacity DynamoDB says it consumed (every call asks for
`ReturnConsumedCapacity=TOTAL`), and peak Python memory (tracemalloc)."""
import math
import os
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import botocore.session


@dataclass
class Cost:
    requests: Counter = field(default_factory=Counter)  # "dynamodb.Query" -> n
    items_read: int = 0
    capacity: float = 0.0
    peak_bytes: int = 0
    seconds: float = 0.0
    aws_seconds: float = 0.0  # inside botocore calls (before-call to after-call)
    labels: list = field(default_factory=list)  # "Query accounts.role_name", in call order
    writes: dict = None  # table -> bench.write_units.WriteCost of the items written, when asked for
    read_units: float = 0.0  # what DynamoDB would charge for the items read (`read_units`), eventually consistent
    bytes_read: int = 0  # the DynamoDB sizes of the items the reads returned

    def write_units(self, table: str = "") -> int:
        return sum(c.total for name, c in (self.writes or {}).items() if not table or name == table)

    @property
    def app_seconds(self) -> float:
        """The app's own time: everything but the AWS calls."""
        return self.seconds - self.aws_seconds

    def estimate_ms(self, latency_ms: float) -> float:
        """On AWS: the app's own time plus each DynamoDB request at an in-region latency."""
        return self.app_seconds * 1000 + self.count("dynamodb") * latency_ms

    def count(self, service: str) -> int:
        return sum(n for name, n in self.requests.items() if name.startswith(service + "."))

    def summary(self) -> str:
        calls = ", ".join(f"{name.split('.', 1)[1]} {n}" for name, n in sorted(self.requests.items()))
        capacity = f", {self.capacity:g} capacity units" if self.capacity else ""
        return f"{sum(self.requests.values())} requests ({calls or 'none'}){capacity}"


class Meter:
    """Installed once, before the app makes any AWS client."""

    def __init__(self):
        self.current = None
        create_client = botocore.session.Session.create_client
        meter = self

        # Every client, whichever session made it (boto3's, pynamodb's, moto's resets).
        def create_watched_client(session, *args, **kwargs):
            client = create_client(session, *args, **kwargs)
            client.meta.events.register("before-call", meter._before_call)
            client.meta.events.register("after-call", meter._after_call)
            client.meta.events.register("before-parameter-build.dynamodb", _ask_for_capacity)
            client.meta.events.register("before-parameter-build.dynamodb", meter._remember_params)
            return client

        botocore.session.Session.create_client = create_watched_client
        self._create_client = create_client
        self._started = None
        self._raw = None
        self._pending = []

    def raw_client(self):
        """An unwatched DynamoDB client: the write recorder's own reads are not counted."""
        if self._raw is None:
            self._raw = self._create_client(botocore.session.Session(), "dynamodb")
        return self._raw

    def _before_call(self, model=None, params=None, **_):
        if self.current is None or model is None:
            return
        self._started = time.perf_counter()
        if self.current.writes is not None and model.service_model.service_name == "dynamodb":
            from bench import write_recorder
            self._pending = write_recorder.before(self, model.name, self._last_params or {})

    def _after_call(self, http_response=None, parsed=None, model=None, **_):
        if self.current is None or model is None:
            return
        if self._started is not None:
            self.current.aws_seconds += time.perf_counter() - self._started
            self._started = None
        self.current.requests[f"{model.service_model.service_name}.{model.name}"] += 1
        if model.service_model.service_name == "dynamodb":
            self.current.labels.append(_label(model.name, self._last_params))
        if self._pending:
            from bench import write_recorder
            for table, cost in write_recorder.after(self, self._pending):
                name = _table(table)
                self.current.writes[name] = self.current.writes[name] + cost if name in self.current.writes else cost
            self._pending = []
        parsed = parsed or {}
        consumed = parsed.get("ConsumedCapacity") or []
        for used in consumed if isinstance(consumed, list) else [consumed]:
            self.current.capacity += float(used.get("CapacityUnits", 0))
        self.current.read_units += read_units(model.name, parsed, self._last_params or {})
        self.current.bytes_read += bytes_returned(parsed)
        if model.name in ("Query", "Scan"):
            self.current.items_read += int(parsed.get("ScannedCount", 0))
        elif model.name == "BatchGetItem":
            self.current.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.current.items_read += 1 if parsed.get("Item") else 0

    _last_params = None

    def _remember_params(self, params=None, **_):
        self._last_params = params

    @contextmanager
    def measure(self, memory: bool = False, writes: bool = False):
        cost = Cost()
        if writes:
            cost.writes = {}
        self.current = cost
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        try:
            yield cost
        finally:
            cost.seconds = time.perf_counter() - started
            if memory:
                cost.peak_bytes = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            self.current = None


def read_units(operation: str, parsed: dict, params: dict) -> float:
    """DynamoDB's read units for what a read returned (moto's are nominal): a GetItem or each
    item of a BatchGetItem is its size rounded up to 4 KB; a Query or Scan the sum of its
    items' sizes, rounded up once; half as much when eventually consistent (the default).
    Filtered-out items a Query read are not in the reply: a lower bound for filtered Queries."""
    from bench.write_units import item_size

    half = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return math.ceil(item_size(parsed.get("Item")) / 4096) * half if parsed.get("Item") else 0.0
    if operation == "BatchGetItem":
        return sum(math.ceil(item_size(item) / 4096) * half
                   for items in parsed.get("Responses", {}).values() for item in items)
    if operation in ("Query", "Scan"):
        return math.ceil(sum(item_size(item) for item in parsed.get("Items", [])) / 4096) * half
    return 0.0


def bytes_returned(parsed: dict) -> int:
    from bench.write_units import item_size

    items = list(parsed.get("Items", [])) + ([parsed["Item"]] if parsed.get("Item") else [])
    items += [item for found in parsed.get("Responses", {}).values() for item in found]
    return sum(item_size(item) for item in items)


def _ask_for_capacity(params, model, **_):
    if "ReturnConsumedCapacity" in model.input_shape.members:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


def _table(name: str) -> str:
    """A table's name without the stage prefix: `caseload-local-accounts` -> `accounts`."""
    return name.rsplit("-", 1)[-1]


def _label(operation: str, params) -> str:
    """What a request is for: the operation and the tables (and index) it names."""
    params = params or {}
    if "TableName" in params:
        where = _table(params["TableName"]) + (f".{params['IndexName']}" if params.get("IndexName") else "")
    elif "RequestItems" in params:
        where = "+".join(f"{_table(t)}[{len(v.get('Keys', v) if isinstance(v, dict) else v)}]"
                         for t, v in params["RequestItems"].items())
    elif "TransactItems" in params:
        where = f"{len(params['TransactItems'])} items"
    else:
        where = ""
    return f"{operation} {where}".strip()


def line(label: str, value: str, bound: str = "", ok=None) -> None:
    verdict = "" if ok is None else ("  ok" if ok else "  OVER BOUND")
    print(f"  {label:<58} {value:<44} {bound}{verdict}")


def quick() -> bool:
    return os.environ.get("BENCH_QUICK") == "1"
