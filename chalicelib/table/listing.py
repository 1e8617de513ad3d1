"""The Clients Table's reads: one page of rows behind a sealed cursor, and the
stat boxes over every row the filters select.

A page without search is one Query on the index the planner picks, then one
BatchGetItem for the rows. Search reads word items (chalicelib.table.search).
Every answer covers only what the viewer may see.
"""
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Optional

from chalicelib.core import aws, tokens
from chalicelib.core.errors import ValidationError
from chalicelib.core.models import NO_VALUE, Account, Metric, SearchToken
from chalicelib.invitations import lifecycle
from chalicelib.metrics import counters, store
from chalicelib.people.accounts import Viewer
from chalicelib.table import planner, search
from chalicelib.table.filters import Filters

MAX_READ_PER_REQUEST = 1000
BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit
# A search's boxes read at most this many Query pages of word items (the page then stays within
# 6 requests, and under 2 MB): exact when the matching words fit, estimated from them above.
SEARCH_BOX_REQUESTS = 2
SEARCH_BOX_PAGE = MAX_READ_PER_REQUEST  # word items per Query page (~1 KB each: under 1 MB a page)
SEARCH_BOX_WORDS = SEARCH_BOX_REQUESTS * SEARCH_BOX_PAGE


@dataclass
class Row:
    account_id: str
    name: str
    email: str
    role: str
    status: str
    group_id: Optional[str]
    staff_email: Optional[str]
    last_visit: Optional[datetime]
    created_at: datetime
    invite: Optional[str] = None  # lifecycle.invitation_state, on Provisioned rows

    def as_dict(self, group_names: dict) -> dict:
        return {"account_id": self.account_id, "name": self.name, "email": self.email, "role": self.role,
                "status": self.status, "group_id": self.group_id, "group": group_names.get(self.group_id),
                "staff_email": self.staff_email,
                "last_visit": self.last_visit.isoformat() if self.last_visit else None,
                "created_at": self.created_at.isoformat(), "invite": self.invite}


@dataclass
class Page:
    rows: list
    next_cursor: Optional[str]
    previous_cursor: Optional[str]
    counted: Optional[dict] = None  # the boxes' counter items, when asked for (list_page's `boxes`)
    offset: int = 0  # how many rows come before this page ("26–50 of 467")
    last_cursor: Optional[str] = None  # set once the count is known (listing.last_cursor)


# Cursors ----------------------------------------------------------------------

def _seal_cursor(viewer: Viewer, filters: Filters, position: dict, backwards: bool, offset: int = 0) -> str:
    """`offset`: rows before the page it leads to (forwards), or before its end (backwards).
    An empty position read backwards is the last page."""
    return tokens.seal("cursor", {"o": viewer.org_id, "v": viewer.account_id, "f": filters.fingerprint(),
                                  "p": position, "b": backwards, "n": max(0, int(offset))})


def _open_cursor(viewer: Viewer, filters: Filters, cursor: str):
    payload = tokens.unseal("cursor", cursor)
    if (not isinstance(payload, dict) or payload.get("o") != viewer.org_id or payload.get("v") != viewer.account_id
            or payload.get("f") != filters.fingerprint() or not isinstance(payload.get("p"), dict)):
        raise ValidationError("This page link is no longer valid for these filters. Start from the first page.",
                              field="cursor", code="invalid_cursor")
    offset = payload.get("n") if isinstance(payload.get("n"), int) else 0
    return payload["p"] or None, bool(payload.get("b")), offset


# Listing ---------------------------------------------------------------------------

def read_counters(viewer: Viewer, filters: Filters, also: tuple = ()) -> Optional[dict]:
    """The counter items to read before the Query: the planner's counts (when several
    indexes could answer) with the boxes' items and the metrics items in `also` (the staff
    menu), in one read. None when the Query needs no counts (the boxes' items then come with
    the rows) or with a search (its boxes come from the word items)."""
    if filters.q:
        return None
    options = planner.plan(viewer.org_id, filters)
    if len(options) == 1:
        return None
    keys = store.count_keys(planner.count_keys(filters, options))
    return store.read_items(viewer.org_id, keys + store.box_keys(planner.combo(filters)) + list(also))


def list_page(viewer: Viewer, filters: Filters, cursor: str = "", counted: Optional[dict] = None,
              boxes: bool = False, also: tuple = ()) -> Page:
    """One page of rows; `counted` is `read_counters` when the caller has it. With `boxes`,
    the page also carries the boxes' counter items (`Page.counted`), read with the rows
    when nothing read them before, and so do the metrics items in `also` (the staff menu).
    The page knows its place (`offset`: "26–50 of 467") from its cursor; `last_cursor`
    leads to the last page once the count is known."""
    position, backwards, offset = _open_cursor(viewer, filters, cursor) if cursor else (None, False, 0)
    if filters.q:
        keys, next_position, previous_position = _search_keys(viewer.org_id, filters, position, backwards)
    else:
        keys, next_position, previous_position = _listing_keys(viewer.org_id, filters, position, backwards,
                                                               counted)
    extra = []
    if counted is None:
        extra = (store.box_keys(planner.combo(filters)) if boxes and not filters.q else []) + list(also)
    rows, items = _load_rows(viewer.org_id, keys, extra)
    if backwards:
        offset = max(0, offset - len(keys))
    if not next_position and not previous_position:
        offset = 0  # everything fits on one page
    return Page(rows,
                _seal_cursor(viewer, filters, next_position, False, offset + len(keys)) if next_position else None,
                _seal_cursor(viewer, filters, previous_position, True, offset) if previous_position else None,
                counted if counted is not None else (items if extra else None), offset)


def matching_ids(viewer: Viewer, filters: Filters, position: Optional[dict] = None,
                 limit: int = MAX_READ_PER_REQUEST):
    """Up to `limit` ids of the rows these filters select, in the table's order, from
    `position` (a plain dict to store between calls; None: the start): (ids, next position
    or None at the end). Keys only: one Query per `limit` rows, no row is read
    (bulk actions on "all N matching" collect their selection with it)."""
    sized = replace(filters, size=limit)
    if filters.q:
        ids, next_position, _previous = _search_keys(viewer.org_id, sized, position, False)
    else:
        ids, next_position, _previous = _listing_keys(viewer.org_id, sized, position, False)
    return ids, next_position


def last_cursor(viewer: Viewer, filters: Filters, page: Page, total: Optional[int]) -> Optional[str]:
    """The last page, read backwards from the far end, when there is one beyond this page."""
    if page.next_cursor and total is not None and total > page.offset + len(page.rows):
        return _seal_cursor(viewer, filters, {}, True, total)
    return None


def _listing_keys(org_id: str, filters: Filters, position: Optional[dict], backwards: bool,
                  counted: Optional[dict] = None):
    options = planner.plan(org_id, filters)
    counts = store.read_counts(org_id, planner.count_keys(filters, options), counted) if len(options) > 1 else []
    dimension, partition, share = planner.choose(options, counts)
    index, range_condition, condition = planner.conditions(dimension, filters)
    forward = (filters.direction == "asc") != backwards
    want = filters.size + 1  # one more tells whether there is a next page
    read_size = want if condition is None else min(MAX_READ_PER_REQUEST, math.ceil(want / max(share, 0.01) * 1.2))
    hash_attribute, sort_attribute = f"p_{dimension}", f"s_{filters.sort}"
    start = None
    if position:
        start = {"org_id": {"S": org_id}, "account_id": {"S": position["id"]},
                 hash_attribute: {"S": partition}, sort_attribute: {"S": position["s"]}}
    results = index.query(partition, range_condition, filter_condition=condition, scan_index_forward=forward,
                          page_size=read_size, limit=want, last_evaluated_key=start)
    found = [(item.account_id, getattr(item, sort_attribute)) for item in results]
    more = len(found) > filters.size
    found = found[:filters.size]
    if backwards:
        found.reverse()
    positions = [{"id": account_id, "s": sort_value} for account_id, sort_value in found]
    next_position = positions[-1] if positions and (bool(position) if backwards else more) else None
    previous_position = positions[0] if positions and (more if backwards else bool(position)) else None
    return [p["id"] for p in positions], next_position, previous_position


def _search_keys(org_id: str, filters: Filters, position: Optional[dict], backwards: bool):
    """Matches in word order: the first page is usually one Query."""
    start_term = search.anchor(filters.q)
    want = filters.size + 1
    forward = not backwards
    start = None
    if position:
        start = {"bucket": {"S": search.bucket(org_id, start_term)}, "token": {"S": position["t"]}}
    found = []
    results = SearchToken.query(search.bucket(org_id, start_term), SearchToken.token.startswith(start_term),
                                scan_index_forward=forward, page_size=min(MAX_READ_PER_REQUEST, want * 2),
                                last_evaluated_key=start)
    for token in results:
        account = search.as_account(token)
        if _visible_match(filters, account) and search.first_term(filters.q, account) == token.token.rsplit("#", 1)[0]:
            found.append(token)
            if len(found) == want:
                break
    more = len(found) > filters.size
    found = found[:filters.size]
    if backwards:
        found.reverse()
    positions = [{"id": t.account_id, "t": t.token} for t in found]
    next_position = positions[-1] if positions and (bool(position) if backwards else more) else None
    previous_position = positions[0] if positions and (more if backwards else bool(position)) else None
    return [p["id"] for p in positions], next_position, previous_position


def _visible_match(filters: Filters, account: Account) -> bool:
    """Does a copied account pass the filters (search decides the words)?"""
    if filters.status == "archived":
        if not account.archived:
            return False
    elif account.archived or (filters.status and account.status != filters.status):
        return False
    if filters.role and account.role != filters.role:
        return False
    if filters.group and (account.group_id or NO_VALUE) != filters.group:
        return False
    if filters.staff and (account.caseload_id or NO_VALUE) != filters.staff:
        return False
    if filters.no_visit and account.last_visit and account.last_visit >= planner.visit_cutoff(filters.no_visit):
        return False
    if filters.box == "new" and account.created_at < planner.window_start():
        return False
    if filters.box == "engaged" and (not account.last_visit or account.last_visit < planner.window_start()):
        return False
    return search.matches(filters.q, account) if filters.q else True


visible_match = _visible_match  # the one test of "do these filters select this account" (exports use it too)


def _load_rows(org_id: str, account_ids: list, counter_keys: list = ()) -> tuple:
    """(rows in the order asked, counter items) in one BatchGetItem (it spans tables)
    when they fit its 100 keys; the counters alone otherwise follow in a second."""
    accounts_table, metrics_table = Account.Meta.table_name, Metric.Meta.table_name
    together = len(account_ids) + len(counter_keys) <= BATCH_GET_KEYS
    request = {}
    if account_ids:
        request[accounts_table] = {"Keys": [{"org_id": {"S": org_id}, "account_id": {"S": i}} for i in account_ids]}
    if counter_keys and together:
        request[metrics_table] = {"Keys": [{"org_id": {"S": org_id}, "key": {"S": k}} for k in counter_keys]}
    found, items = {}, {}
    while request:
        reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
        for raw in reply["Responses"].get(accounts_table, []):
            account = Account.from_raw_data(raw)
            found[account.account_id] = account
        items.update(store.parse_items(reply["Responses"].get(metrics_table, [])))
        request = reply.get("UnprocessedKeys") or None
    if counter_keys and not together:
        items = store.read_items(org_id, list(counter_keys))
    rows = [Row(a.account_id, a.name, a.email, a.role, a.status, a.group_id, a.staff_email, a.last_visit,
                a.created_at, lifecycle.invitation_state(a)) for a in (found.get(i) for i in account_ids) if a is not None]
    return rows, items


def staff_menu_keys() -> tuple:
    """The metrics items holding the staff menu: a page that shows it reads them with its counters."""
    return tuple(store.menu_keys())


def staff_menu(org_id: str, items: Optional[dict] = None) -> Optional[list]:
    """The staff menu from items read with the page (None: the organisation has none yet)."""
    return store.staff_menu(org_id, items)


# Stat boxes ------------------------------------------------------------------------

@dataclass
class Stats:
    boxes: counters.Boxes
    exact: bool = True  # False: a search matched more words than its boxes read (SEARCH_BOX_WORDS)
    sampled: int = 0  # not exact: the words read, the first in word order
    words: Optional[int] = None  # not exact: every word starting with the search (None: not known, a lower bound)

    @property
    def estimated(self) -> bool:
        return not self.exact and self.words is not None


def stats(viewer: Viewer, filters: Filters, counted: Optional[dict] = None) -> Stats:
    """The boxes over exactly the rows these filters select (all pages); a broad search's are
    estimated from its first SEARCH_BOX_WORDS words, and say so."""
    if filters.q:
        # A page of 100 rows fills its BatchGetItem: the menu and word count are one read more,
        # so the boxes read one Query page less (a search page stays within 6 requests).
        pages = SEARCH_BOX_REQUESTS - (1 if filters.size + len(staff_menu_keys()) + 1 > BATCH_GET_KEYS else 0)
        return _search_stats(viewer.org_id, replace(filters, box=""), counted, pages)
    totals = store.read_counters(viewer.org_id, planner.combo(filters), counted)
    return Stats(counters.boxes(totals, no_visit_days=filters.no_visit or None))


def search_count_keys(filters: Filters) -> tuple:
    """The metrics item a search's estimate needs (how many words start with it): read with the rows."""
    return (search.prefix_item(search.anchor(filters.q)),) if filters.q else ()


def _search_stats(org_id: str, filters: Filters, counted: Optional[dict] = None,
                  pages: Optional[int] = None) -> Stats:
    """At most `pages` Query pages of word items; scaled up to every word starting with the
    search (kept by the stream, search.words_starting) when there are more."""
    start_term = search.anchor(filters.q)
    seen, read, start = {}, 0, None
    request = {"TableName": SearchToken.Meta.table_name, "Limit": SEARCH_BOX_PAGE,
               "KeyConditionExpression": "#b = :b AND begins_with(#t, :t)",
               "ExpressionAttributeNames": {"#b": "bucket", "#t": "token"},
               "ExpressionAttributeValues": {":b": {"S": search.bucket(org_id, start_term)}, ":t": {"S": start_term}}}
    for _ in range(pages or SEARCH_BOX_REQUESTS):
        reply = aws.client("dynamodb").query(**request, **({"ExclusiveStartKey": start} if start else {}))
        for raw in reply.get("Items", []):
            read += 1
            account_id = raw["account_id"]["S"]
            if account_id not in seen:
                account = search.copy_of(raw)  # no model per item: server time
                if _visible_match(filters, account):
                    seen[account_id] = account
        start = reply.get("LastEvaluatedKey")
        if not start:
            break
    boxes = counters.boxes(counters.sum_counters(seen.values()), no_visit_days=filters.no_visit or None)
    if not start:
        return Stats(boxes)
    items = counted if counted is not None and search.prefix_item(start_term) in counted else store.read_items(
        org_id, [search.prefix_item(start_term)])
    words = search.words_starting(start_term, items)
    if words is None or words <= read:
        return Stats(boxes, exact=False, sampled=read)
    return Stats(boxes.scaled(words / read), exact=False, sampled=read, words=words)
