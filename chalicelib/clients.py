"""The Clients Table: filters, sort, cursor pages, search and the stat boxes.

A page without search is one Query on the listing index of the most selective
filter (see chalicelib.models), then one BatchGetItem for the rows. Combined
filters ask the counters which index is smallest and how much of it will
match, and size their reads from that. Search reads word items (see
chalicelib.search). Every answer covers only what the viewer may see: staff
are held to their own caseload.
"""
import math
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, time, timezone
from typing import Optional

from chalicelib import aggregator, invites, metrics, search, tokens
from chalicelib.accounts import Viewer
from chalicelib.errors import ValidationError
from chalicelib.models import NO_VALUE, PAIRS, ROLES, STATUSES, Account, Group, SearchToken, utcnow

PAGE_SIZES = (25, 50, 100)
# A box's rows are a range of one sort key: newest first, read straight off the index.
BOX_SORTS = {"new": "created", "engaged": "visit"}
NO_VISIT_DAYS = (7, 30, 90)
SORTS = {"name": "Name", "visit": "Last visit", "created": "Date created"}
MAX_READ_PER_REQUEST = 1000
SEARCH_READ_LIMIT = 20000  # word items a search's boxes may read before asking for a narrower search
_ID = re.compile(r"^[0-9a-f]{32}$")
QUERY_NAMES = {"direction": "dir"}


@dataclass(frozen=True)
class Filters:
    role: str = ""
    status: str = ""  # "" = every live status; "archived" shows archived accounts
    group: str = ""  # a group id, "-" for no group
    staff: str = ""  # a staff account id, "-" for unassigned
    no_visit: int = 0
    box: str = ""  # "new" or "engaged": the rows a stat box counts
    q: str = ""
    sort: str = "name"
    direction: str = "asc"
    size: int = PAGE_SIZES[0]

    def fingerprint(self) -> str:
        """What a cursor is bound to: everything but the page size."""
        return tokens.sign("filters", repr({k: v for k, v in asdict(self).items() if k != "size"}))[:16]

    def params(self, cursor: Optional[str] = None, **changes) -> dict:
        """Query parameters of these filters (non-default values only), for links."""
        defaults = Filters()
        values = asdict(replace(self, **changes))
        params = {QUERY_NAMES.get(k, k): v for k, v in values.items() if v != getattr(defaults, k)}
        if cursor:
            params["cursor"] = cursor
        return params


def _choice(params: dict, name: str, allowed, default=""):
    value = (params.get(name) or "").strip()
    if value and value not in allowed:
        raise ValidationError(f"Unknown {name} '{value[:40]}'. Choose one of: {', '.join(allowed)}.",
                              field=name, code="invalid_filter")
    return value or default


def _id_or_none(params: dict, name: str) -> str:
    value = (params.get(name) or "").strip()
    if value and value != NO_VALUE and not _ID.match(value):
        raise ValidationError(f"Unknown {name}.", field=name, code="invalid_filter")
    return value


def _page_size(raw) -> int:
    """Clamped up to the next page size offered; not a number is an error."""
    if raw in (None, ""):
        return PAGE_SIZES[0]
    try:
        wanted = int(str(raw).strip())
    except ValueError:
        raise ValidationError("Page size must be a number.", field="size", code="invalid_filter") from None
    return next((size for size in PAGE_SIZES if wanted <= size), PAGE_SIZES[-1])


def parse_filters(params: dict, viewer: Viewer) -> Filters:
    """Filters from query parameters; unknown values are errors, sizes are clamped."""
    no_visit = _choice(params, "no_visit", [str(d) for d in NO_VISIT_DAYS])
    box = _choice(params, "box", list(BOX_SORTS))
    filters = Filters(
        role=_choice(params, "role", ROLES),
        status=_choice(params, "status", STATUSES),
        group=_id_or_none(params, "group"),
        staff=_id_or_none(params, "staff"),
        no_visit=int(no_visit) if no_visit else 0,
        box=box,
        q=search.clean_query(params.get("q", "")),
        # "No visit in N days" lists the longest-absent first unless a sort is chosen: it reads only its rows.
        sort=BOX_SORTS.get(box) or _choice(params, "sort", list(SORTS), "visit" if no_visit else "name"),
        direction="desc" if box else _choice(params, "dir", ["asc", "desc"], "asc"),
        size=_page_size(params.get("size")),
    )
    if filters.q and not search.anchor(filters.q):
        raise ValidationError("Type at least 2 letters of a name or e-mail to search.", field="q",
                              code="search_too_short")
    if viewer.role == "staff":
        filters = replace(filters, staff=viewer.account_id)  # staff see their own caseload only
    return filters


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
    invite: Optional[str] = None  # invited | expired | bounced | complained | revoked, on Provisioned rows

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


# Cursors ----------------------------------------------------------------------

def _seal_cursor(viewer: Viewer, filters: Filters, position: dict, backwards: bool) -> str:
    return tokens.seal("cursor", {"o": viewer.org_id, "v": viewer.account_id, "f": filters.fingerprint(),
                                  "p": position, "b": backwards})


def _open_cursor(viewer: Viewer, filters: Filters, cursor: str):
    payload = tokens.unseal("cursor", cursor)
    if (not isinstance(payload, dict) or payload.get("o") != viewer.org_id or payload.get("v") != viewer.account_id
            or payload.get("f") != filters.fingerprint() or not isinstance(payload.get("p"), dict)):
        raise ValidationError("This page link is no longer valid for these filters. Start from the first page.",
                              field="cursor", code="invalid_cursor")
    return payload["p"], bool(payload.get("b"))


# Index choice -------------------------------------------------------------------

def _live(filters: Filters) -> str:
    return "A" if filters.status == "archived" else "L"


# What each index's partition selects, so the other filters become FilterExpressions.
COVERS = {"all": (), "role": ("role",), "status": ("status",), "group": ("group",), "staff": ("staff",),
          **{pair: dims for pair, dims in PAIRS.items()}}


def _partitions(org_id: str, filters: Filters) -> dict:
    """index dimension -> the listing partition selecting that filter (or pair of filters)."""
    live = _live(filters)
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


def _combo(filters: Filters, only=None) -> str:
    """The counters' key for these filters (or for the dimensions one index covers)."""
    def pick(dimension, value, default):
        return value if value and (only is None or dimension in only) else default
    return metrics.combo_key(pick("role", filters.role, metrics.ANY),
                             pick("status", filters.status, metrics.LIVE),
                             pick("group", filters.group, metrics.ANY),
                             pick("staff", filters.staff, metrics.ANY))


def _plan(org_id: str, filters: Filters):
    """(index dimension, partition, expected share of the partition that matches)."""
    options = _partitions(org_id, filters)
    if not options:
        return "all", org_id, 1.0
    # Archived partitions already hold only archived accounts: status needs no filter there.
    if filters.status == "archived" and len(options) > 1:
        options.pop("status")
    if len(options) == 1:
        (dimension, partition), = options.items()
        return dimension, partition, 1.0
    dimensions = list(options)
    *sizes, combined = aggregator.read_counts(
        org_id, [_combo(filters, COVERS[d]) for d in dimensions] + [_combo(filters)])
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
    return _day_start(today - metrics.WINDOW + 1)


def _conditions(dimension: str, filters: Filters):
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
        low = window_start().isoformat()
    if filters.no_visit:
        cutoff = visit_cutoff(filters.no_visit)
        if filters.sort == "visit":
            high = cutoff.isoformat()
        else:
            checks.append(Account.last_visit.does_not_exist() | (Account.last_visit < cutoff))
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


# Listing ---------------------------------------------------------------------------

def list_page(viewer: Viewer, filters: Filters, cursor: str = "") -> Page:
    position, backwards = _open_cursor(viewer, filters, cursor) if cursor else (None, False)
    if filters.q:
        keys, next_position, previous_position = _search_keys(viewer.org_id, filters, position, backwards)
    else:
        keys, next_position, previous_position = _listing_keys(viewer.org_id, filters, position, backwards)
    rows = _load_rows(viewer.org_id, keys)
    return Page(rows,
                _seal_cursor(viewer, filters, next_position, False) if next_position else None,
                _seal_cursor(viewer, filters, previous_position, True) if previous_position else None)


def _listing_keys(org_id: str, filters: Filters, position: Optional[dict], backwards: bool):
    dimension, partition, share = _plan(org_id, filters)
    index, range_condition, condition = _conditions(dimension, filters)
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
    next_position = positions[-1] if positions and (more or backwards) else None
    previous_position = positions[0] if positions and (position and (more or not backwards)) else None
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
    next_position = positions[-1] if positions and (more or backwards) else None
    previous_position = positions[0] if positions and (position and (more or not backwards)) else None
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
    if filters.no_visit and account.last_visit and account.last_visit >= visit_cutoff(filters.no_visit):
        return False
    if filters.box == "new" and account.created_at < window_start():
        return False
    if filters.box == "engaged" and (not account.last_visit or account.last_visit < window_start()):
        return False
    return search.matches(filters.q, account) if filters.q else True


def _load_rows(org_id: str, account_ids: list) -> list:
    if not account_ids:
        return []
    found = {a.account_id: a for a in Account.batch_get([(org_id, i) for i in account_ids])}
    return [Row(a.account_id, a.name, a.email, a.role, a.status, a.group_id, a.staff_email, a.last_visit,
                a.created_at, invites.invitation_state(a)) for a in (found.get(i) for i in account_ids) if a is not None]


# Stat boxes ------------------------------------------------------------------------

@dataclass
class Stats:
    boxes: metrics.Boxes
    exact: bool = True  # False when a search matched more words than SEARCH_READ_LIMIT


def stats(viewer: Viewer, filters: Filters) -> Stats:
    """The boxes over exactly the rows these filters select (all pages)."""
    if filters.q:
        return _search_stats(viewer.org_id, replace(filters, box=""))
    counters = aggregator.read_counters(viewer.org_id, _combo(filters))
    return Stats(metrics.boxes(counters, no_visit_days=filters.no_visit or None))


def _search_stats(org_id: str, filters: Filters) -> Stats:
    start_term = search.anchor(filters.q)
    seen, read = {}, 0
    for token in SearchToken.query(search.bucket(org_id, start_term), SearchToken.token.startswith(start_term),
                                   page_size=MAX_READ_PER_REQUEST):
        read += 1
        if read > SEARCH_READ_LIMIT:
            break
        if token.account_id not in seen:
            account = search.as_account(token)
            if _visible_match(filters, account):
                seen[token.account_id] = account
    counters = metrics.sum_counters(seen.values())
    return Stats(metrics.boxes(counters, no_visit_days=filters.no_visit or None), exact=read <= SEARCH_READ_LIMIT)


# What the filter menus offer ----------------------------------------------------------

def groups(org_id: str) -> list:
    return sorted(Group.query(org_id), key=lambda g: g.name.casefold())


def staff_members(org_id: str) -> list:
    """Staff who can hold a caseload, by name."""
    keys = [(org_id, item.account_id) for item in Account.role_name.query(f"{org_id}#staff#L")]
    return sorted(Account.batch_get(keys), key=lambda a: (a.name or a.email).casefold()) if keys else []


@dataclass
class TableView:
    """Everything the Clients Table page shows."""
    filters: Filters
    page: Page
    stats: Stats
    groups: list
    staff: list
    errors: dict

    @property
    def group_names(self) -> dict:
        return {g.group_id: g.name for g in self.groups}

    @property
    def group_options(self) -> list:
        return [(g.group_id, g.name) for g in self.groups]

    @property
    def staff_options(self) -> list:
        return [(s.account_id, f"{s.name} ({s.email})" if s.name else s.email) for s in self.staff]


def table_view(viewer: Viewer, params: dict, lenient: bool = False) -> TableView:
    """The page for these query parameters. `lenient` (the HTML page) drops a
    bad parameter and reports it next to its field instead of failing."""
    params, errors = dict(params), {}
    while True:
        try:
            filters = parse_filters(params, viewer)
            page = list_page(viewer, filters, params.get("cursor", ""))
            break
        except ValidationError as error:
            if not lenient or not error.field or error.field not in params:
                raise
            errors[error.field] = error.message
            params.pop(error.field)
    return TableView(filters, page, stats(viewer, filters), groups(viewer.org_id),
                     staff_members(viewer.org_id) if viewer.is_admin else [], errors)
