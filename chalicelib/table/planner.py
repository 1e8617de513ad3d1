"""Which listing index a page reads, and how much of it: pure, no AWS.

Every filter dimension x sort order is an index (chalicelib.core.models). A
page with no filter or one filter reads one partition that holds exactly its
rows. Combined filters are answered from the most selective partition; the
counters say which one that is and what share of it matches (`choose`), and
the rest of the filters become a FilterExpression (`conditions`).
"""
from datetime import datetime, time, timezone
from typing import Optional

from chalicelib.core.models import NO_VALUE, PAIRS, Account, day_number, utcnow, visit_sort_value
from chalicelib.metrics import counters
from chalicelib.table.filters import Filters


def live_marker(filters: Filters) -> str:
    return "A" if filters.status == "archived" else "L"


# What each index's partition selects, so the other filters become FilterExpressions.
COVERS = {"all": (), "role": ("role",), "status": ("status",), "group": ("group",), "staff": ("staff",),
          **{pair: dims for pair, dims in PAIRS.items()}}


def partitions(org_id: str, filters: Filters) -> dict:
    """index dimension -> the listing partition selecting that filter (or pair of filters)."""
    live = live_marker(filters)
    value = {"role": filters.role, "group": filters.group, "staff": filters.staff}
    options = {d: f"{org_id}#{value[d]}#{live}" for d in ("role", "group", "staff") if value[d]}
    if filters.status:
        options["status"] = f"{org_id}#{filters.status}"
    if filters.sort == "name":
        for pair, (first, second) in PAIRS.items():
            if first == "status" and filters.status and value[second]:
                options[pair] = f"{org_id}#{filters.status}#{value[second]}"
            elif first == "group" and filters.group and filters.staff:
                options[pair] = f"{org_id}#{filters.group}#{filters.staff}#{live}"
    return options


def combo(filters: Filters, only=None) -> str:
    """The counters' key for these filters (or for the dimensions one index covers)."""
    def pick(dimension, value, default):
        return value if value and (only is None or dimension in only) else default
    return counters.combo_key(pick("role", filters.role, counters.ANY),
                             pick("status", filters.status, counters.LIVE),
                             pick("group", filters.group, counters.ANY),
                             pick("staff", filters.staff, counters.ANY))


def plan(org_id: str, filters: Filters) -> dict:
    """The candidate partitions, by index dimension. One candidate needs no counts;
    several are settled by `choose` with the counts of `count_keys`."""
    options = partitions(org_id, filters)
    # Archived partitions already hold only archived accounts: status needs no filter there.
    if filters.status == "archived" and len(options) > 1:
        options.pop("status")
    # A partition holding exactly the filtered accounts (a pair index) needs no counts: a page
    # then reads only its rows, and the counters come with the rows (one request fewer).
    wanted = {d for d in ("role", "status", "group", "staff") if getattr(filters, d)}
    for dimension, partition in options.items():
        covered = set(COVERS[dimension]) | ({"status"} if filters.status == "archived" else set())
        if len(options) > 1 and covered >= wanted:
            return {dimension: partition}
    return options or {"all": org_id}


def count_keys(filters: Filters, options: dict) -> list:
    """The counter combinations that size each candidate, then the whole filter."""
    return [combo(filters, COVERS[d]) for d in options] + [combo(filters)]


def choose(options: dict, counts: list):
    """(index dimension, partition, expected share of the partition that matches)."""
    if len(options) == 1:
        (dimension, partition), = options.items()
        return dimension, partition, 1.0
    dimensions = list(options)
    *sizes, combined = counts
    smallest = min(range(len(dimensions)), key=sizes.__getitem__)
    return dimensions[smallest], options[dimensions[smallest]], (combined / sizes[smallest]) if sizes[smallest] else 1.0


def _day_start(day: int) -> datetime:
    return datetime.combine(datetime.fromordinal(day).date(), time(), tzinfo=timezone.utc)


def visit_cutoff(no_visit: int, now: Optional[datetime] = None) -> datetime:
    """Accounts count as "no visit in N days" when their last visit is before this."""
    today = (now or utcnow()).date().toordinal()
    return _day_start(today - no_visit + 1)


def window_start(now: Optional[datetime] = None) -> datetime:
    """The first moment of the stat boxes' 30-day window (whole days, like the counters)."""
    today = (now or utcnow()).date().toordinal()
    return _day_start(today - counters.WINDOW + 1)


def conditions(dimension: str, filters: Filters):
    """(range key condition, filter condition) for the chosen index."""
    index = getattr(Account, f"{dimension}_{filters.sort}")
    sort_attribute = getattr(Account, f"s_{filters.sort}")
    checks, covered = [], COVERS[dimension]
    if filters.role and "role" not in covered:
        checks.append(Account.role == filters.role)
    if filters.status and "status" not in covered and filters.status != "archived":
        checks.append(Account.status == filters.status)
    if filters.group and "group" not in covered:
        checks.append(Account.group_id == filters.group if filters.group != NO_VALUE
                      else Account.group_id.does_not_exist())
    if filters.staff and "staff" not in covered:
        checks.append(Account.caseload_id == filters.staff if filters.staff != NO_VALUE
                      else Account.caseload_id.does_not_exist())
    low, high = None, None
    if filters.box:
        low = visit_sort_value(window_start()) if filters.sort == "visit" else window_start().isoformat()
    if filters.no_visit:
        cutoff = visit_cutoff(filters.no_visit)
        if filters.sort == "visit":
            high = visit_sort_value(cutoff)
        else:
            checks.append(Account.visit_day.does_not_exist() | (Account.visit_day < day_number(cutoff)))
    range_condition = None
    if low and high:
        range_condition = sort_attribute.between(low, high) if low < high else sort_attribute < "0"
    elif low:
        range_condition = sort_attribute >= low
    elif high:
        range_condition = sort_attribute < high
    condition = None
    for check in checks:
        condition = check if condition is None else condition & check
    return index, range_condition, condition


