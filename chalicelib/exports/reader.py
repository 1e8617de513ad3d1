"""Every row an export's filters select, read in batches from a position that
can be stored (JSON) and resumed: the background job reads a part at a time.

Three ways to read, chosen once per export (`choose_path`) and kept in the position:

- `table`: the whole organisation, one Query on the accounts table's own
  partition, 1 MB pages of full items, filtered here with the Clients Table's
  own test (`listing.visible_match`). Requests = ceil(bytes read / 1 MB) + 1:
  nothing cheaper reads every row (an index walk needs a BatchGetItem per 100).
- `index`: a selective filter (a group, a staff member's caseload): the Clients
  Table's own listing index and its FilterExpression (chalicelib.table.planner)
  for the keys, 100 at a time, then one BatchGetItem: ~2 requests per 100 rows,
  reading only the rows exported.
- `search`: the search's word items (chalicelib.table.search), one account per
  match, then BatchGetItem for the rows.

The table path wins unless the selection is small next to the organisation:
index requests ~ 2 x rows / 100 against table requests ~ all items x
ITEM_BYTES / 1 MB (`choose_path`, from the counters the table already keeps).

Order: the file comes in the Clients Table's order for the same filters. The
index and search paths read in that order already. The table path reads in
account-id order, so each row carries its sort key (`Batch.keys`: the same
derived `s_name` / `s_visit` / `s_created` the table's index sorts by) and
the export sorts (chalicelib.exports.sorting: in memory when small, else an
external merge sort through S3).

Every read asks only for READ_ATTRIBUTES (a ProjectionExpression): DynamoDB
still counts the whole item towards the 1 MB page, so requests do not change,
but half the attributes (the listing keys, `active_days`' up to 90 numbers)
never cross the wire. In moto this is most of the export's time (profiled:
its response serializer walks every attribute of every item).
"""
import math
from dataclasses import dataclass
from typing import Optional

from chalicelib.core.models import Account, SearchToken
from chalicelib.invitations import lifecycle
from chalicelib.metrics import counters, store
from chalicelib.table import planner, search
from chalicelib.table.filters import Filters
from chalicelib.table.listing import Row, visible_match

# What an export reads of an account: the file's columns, what `visible_match` and
# `invitation_state` test, and the Clients Table's sort keys.
READ_ATTRIBUTES = ["org_id", "account_id", "name", "email", "role", "status", "group_id", "staff_id", "staff_email",
                   "caseload_id", "last_visit", "created_at", "invite_state", "invited_at", "invite_expires_at",
                   "s_name", "s_visit", "s_created"]
KEYS_PER_READ = 100  # BatchGetItem's limit: one index page feeds one BatchGetItem
SEARCH_PAGE = 1000
ONE_MB = 1024 * 1024
TABLE_PAGE_ITEMS = None  # None: DynamoDB's 1 MB pages (tests set a few items to see several pages)
# An account item as stored, listing keys and active days included: bench/exports.py measured 1,070 bytes
# on the seeded organisation (it prints the figure next to this one).
ITEM_BYTES = 1070


@dataclass
class Batch:
    rows: list
    position: Optional[dict]  # None: every row has been read
    requests: int = 0
    keys: Optional[list] = None  # the table path: each row's sort key (the rows are in account-id order)


def sort_key(account: Account, filters: Filters) -> str:
    """Where the Clients Table puts this account for these filters: its index's sort key (`s_<sort>`)."""
    return getattr(account, f"s_{filters.sort}") or ""


def _row(account: Account) -> Row:
    return Row(account.account_id, account.name, account.email, account.role, account.status, account.group_id,
               account.staff_email, account.last_visit, account.created_at, lifecycle.invitation_state(account))


def choose_path(org_id: str, filters: Filters) -> str:
    """`search`, `index` or `table` (see the module's docstring)."""
    if filters.q:
        return "search"
    options = planner.plan(org_id, filters)
    if list(options) == ["all"]:
        return "table"
    live, archived, selected = store.read_counts(org_id, [
        counters.combo_key(), counters.combo_key(status="archived"), planner.combo(filters)])
    return "index" if index_is_cheaper(selected, live + archived) else "table"


def index_is_cheaper(selected: int, organisation: int) -> bool:
    index_requests = 2 * math.ceil(selected / KEYS_PER_READ)
    table_requests = math.ceil(organisation * ITEM_BYTES / ONE_MB)
    return index_requests < table_requests


def start(org_id: str, filters: Filters) -> dict:
    """Where an export starts reading: the path, and for `index` the partition the Clients Table would read."""
    path = choose_path(org_id, filters)
    position = {"path": path, "key": None}
    if path == "index":
        options = planner.plan(org_id, filters)
        counts = store.read_counts(org_id, planner.count_keys(filters, options)) if len(options) > 1 else []
        position["dimension"], position["partition"], _share = planner.choose(options, counts)
    return position


def read(org_id: str, filters: Filters, position: dict, min_rows: int) -> Batch:
    """At least `min_rows` rows (fewer at the end) from `position`, whole pages at a time."""
    read_page = {"table": _table_page, "index": _index_page, "search": _search_page}[position["path"]]
    rows, key, requests = [], position.get("key"), 0
    keys = [] if position["path"] == "table" else None
    while True:
        found, key, used = read_page(org_id, filters, position, key)
        if keys is not None:
            keys.extend(sort_key(account, filters) for account in found)
        rows.extend(_row(account) for account in found)
        requests += used
        if key is None:
            return Batch(rows, None, requests, keys)
        if len(rows) >= min_rows:
            return Batch(rows, {**position, "key": key}, requests, keys)


def _table_page(org_id: str, filters: Filters, _position: dict, key: Optional[dict]):
    pages = Account.query(org_id, last_evaluated_key=key, page_size=TABLE_PAGE_ITEMS,
                          attributes_to_get=READ_ATTRIBUTES).page_iter
    page = next(pages, None) or {}
    accounts = (Account.from_raw_data(item) for item in page.get("Items", []))
    return [a for a in accounts if visible_match(filters, a)], pages.last_evaluated_key, 1


def _index_page(org_id: str, filters: Filters, position: dict, key: Optional[dict]):
    index, range_condition, condition = planner.conditions(position["dimension"], filters)
    pages = index.query(position["partition"], range_condition, filter_condition=condition,
                        scan_index_forward=filters.direction == "asc", page_size=KEYS_PER_READ,
                        last_evaluated_key=key).page_iter
    page = next(pages, None) or {}
    ids = [item["account_id"]["S"] for item in page.get("Items", [])]
    return _load(org_id, ids), pages.last_evaluated_key, 1 + (1 if ids else 0)


def _search_page(org_id: str, filters: Filters, _position: dict, key: Optional[dict]):
    start_term = search.anchor(filters.q)
    pages = SearchToken.query(search.bucket(org_id, start_term), SearchToken.token.startswith(start_term),
                              page_size=SEARCH_PAGE, last_evaluated_key=key).page_iter
    page = next(pages, None) or {}
    ids = []
    for item in page.get("Items", []):
        token = SearchToken.from_raw_data(item)
        account = search.as_account(token)
        # One word item stands for each account (as on the Clients Table), so nobody is exported twice.
        if visible_match(filters, account) and search.first_term(filters.q, account) == token.token.rsplit("#", 1)[0]:
            ids.append(token.account_id)
    return _load(org_id, ids), pages.last_evaluated_key, 1 + math.ceil(len(ids) / KEYS_PER_READ)


def _load(org_id: str, account_ids: list) -> list:
    if not account_ids:
        return []
    found = {a.account_id: a for a in Account.batch_get([(org_id, i) for i in account_ids],
                                                         attributes_to_get=READ_ATTRIBUTES)}
    return [found[i] for i in account_ids if i in found]
