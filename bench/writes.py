"""Issue 14's cost of a visit: write units of a visit, an invitation and an
edit, indexes and counters included, priced by bench.write_units from the
items before and after each write (bench.write_recorder). The stream's share
is measured by applying the operation's own stream records."""
import random
from dataclasses import dataclass
from datetime import timedelta

from bench.harness import line
from chalicelib.core.models import Account, utcnow
from chalicelib.metrics import stream
from chalicelib.people import accounts, sessions
from chalicelib.people.accounts import Viewer

VISIT_BOUND = 8
# The activity profile of the capacity model: an active person's session is
# touched (a visit recorded) every sessions.TOUCH_INTERVAL; a typical active day
# has this many recorded visits, the first of which starts a new visit day.
VISITS_PER_ACTIVE_DAY = 4


@dataclass
class OperationCost:
    label: str
    requests: int
    units: dict  # table -> write units, the stream's writes under "stream: ..."

    @property
    def total(self) -> int:
        return sum(self.units.values())


def _with_stream(meter, label: str, operation) -> OperationCost:
    from bench.clients_table import _lambda_records, _stream_from_now

    arn, iterator = _stream_from_now()
    with meter.measure(writes=True) as cost:
        operation()
    records = _lambda_records(arn, iterator)
    with meter.measure(writes=True) as applied:
        assert stream.apply_stream_batch({"Records": records}) == {"batchItemFailures": []}
    units = {table: c.total for table, c in cost.writes.items()}
    units.update({f"stream: {table}": c.total for table, c in applied.writes.items()})
    return OperationCost(label, cost.count("dynamodb") + applied.count("dynamodb"), units)


def measure(meter, org) -> dict:
    """label -> OperationCost, for the capacity model; printed against the bounds."""
    rng = random.Random(5)
    today = utcnow().date()
    people = [a for a in Account.query(org.org_id, limit=3000)
              if a.role == "client" and a.status == "activated" and a.last_visit and a.last_visit.date() < today]
    person = rng.choice(people)
    _, session = sessions.start(person, "192.0.2.1", "bench")
    now = utcnow()

    def visit(when):
        def run():
            sessions.touch(session, when)
            accounts.record_visit(person, when)
        return run

    results = {}
    results["visit, first of the day"] = _with_stream(meter, "visit, first of the day", visit(now))
    results["visit, later the same day"] = _with_stream(meter, "visit, later the same day",
                                                        visit(now + timedelta(minutes=6)))
    from chalicelib.invitations import invites
    address = f"bench-writes-{rng.randrange(10 ** 9)}@example.net"
    results["invitation (one address)"] = _with_stream(
        meter, "invitation (one address)",
        lambda: invites.invite_many(Viewer.of(org.admin), [address], group_id=org.groups[0].group_id,
                                    staff_id=org.staff[0].account_id))
    results["edit (a name)"] = _with_stream(
        meter, "edit (a name)", lambda: accounts.rename_self(Viewer.of(person), f"Renamed {rng.randrange(999)}"))
    return results


def report(meter, org) -> dict:
    results = measure(meter, org)
    for cost in results.values():
        parts = ", ".join(f"{table} {n}" for table, n in sorted(cost.units.items()) if n)
        line(f"write units: {cost.label}", f"{cost.total} WU ({parts})",
             f"<= {VISIT_BOUND}" if cost.label.startswith("visit") else "",
             cost.total <= VISIT_BOUND if cost.label.startswith("visit") else None)
    first, later = results["visit, first of the day"].total, results["visit, later the same day"].total
    amortised = (first + (VISITS_PER_ACTIVE_DAY - 1) * later) / VISITS_PER_ACTIVE_DAY
    line(f"  per visit, {VISITS_PER_ACTIVE_DAY} recorded visits per active day", f"{amortised:.1f} WU",
         f"<= {VISIT_BOUND}", amortised <= VISIT_BOUND)
    moving = visit_sorted_indexes()
    floor = 2 * len(moving) + 2
    line("  floor of a first visit while each filter has its visit order", f"{floor} WU: {len(moving)} index "
         "keys move (2 WU each), the account and the session 1 each", f"(> {VISIT_BOUND}: the goals conflict)")
    return results


def visit_sorted_indexes() -> list:
    """The accounts indexes sorted by last visit: a first visit of the day moves its key in each."""
    return [index["index_name"] for index in Account._get_schema()["global_secondary_indexes"]
            if any(key["AttributeName"] == "s_visit" for key in index["key_schema"])]
