"""Counting what an operation costs: AWS requests (a botocore `after-call`
hook on every session the app's clients come from), items DynamoDB read,
the capacity DynamoDB says it consumed (every call asks for
`ReturnConsumedCapacity=TOTAL`), and peak Python memory (tracemalloc)."""
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
            client.meta.events.register("after-call", meter._after_call)
            client.meta.events.register("before-parameter-build.dynamodb", _ask_for_capacity)
            return client

        botocore.session.Session.create_client = create_watched_client

    def _after_call(self, http_response=None, parsed=None, model=None, **_):
        if self.current is None or model is None:
            return
        self.current.requests[f"{model.service_model.service_name}.{model.name}"] += 1
        parsed = parsed or {}
        consumed = parsed.get("ConsumedCapacity") or []
        for used in consumed if isinstance(consumed, list) else [consumed]:
            self.current.capacity += float(used.get("CapacityUnits", 0))
        if model.name in ("Query", "Scan"):
            self.current.items_read += int(parsed.get("ScannedCount", 0))
        elif model.name == "BatchGetItem":
            self.current.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.current.items_read += 1 if parsed.get("Item") else 0

    @contextmanager
    def measure(self, memory: bool = False):
        cost = Cost()
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


def _ask_for_capacity(params, model, **_):
    if "ReturnConsumedCapacity" in model.input_shape.members:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


def line(label: str, value: str, bound: str = "", ok=None) -> None:
    verdict = "" if ok is None else ("  ok" if ok else "  OVER BOUND")
    print(f"  {label:<58} {value:<44} {bound}{verdict}")


def quick() -> bool:
    return os.environ.get("BENCH_QUICK") == "1"
