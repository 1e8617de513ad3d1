"""The Clients Table's state: query parameters <-> `Filters`, pure.

Unknown values are errors naming the parameter; page sizes are clamped up to
the sizes offered. Staff are held to their own caseload here, once.
"""
import re
from dataclasses import asdict, dataclass, replace
from typing import Optional

from chalicelib.core import tokens
from chalicelib.core.errors import ValidationError
from chalicelib.core.models import NO_VALUE, ROLES, STATUSES
from chalicelib.people.accounts import Viewer
from chalicelib.table import search

PAGE_SIZES = (25, 50, 100)
# A box's rows are a range of one sort key: newest first, read straight off the index.
BOX_SORTS = {"new": "created", "engaged": "visit"}
NO_VISIT_DAYS = (7, 30, 90)
SORTS = {"name": "Name", "visit": "Last visit", "created": "Date created"}
DIRECTIONS = ("asc", "desc")
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
    staff_fixed: bool = False  # staff see their own caseload: not a filter they chose, never in links

    def fingerprint(self) -> str:
        """What a cursor is bound to: everything but the page size."""
        return tokens.sign("filters", repr({k: v for k, v in asdict(self).items() if k != "size"}))[:16]

    def params(self, cursor: Optional[str] = None, **changes) -> dict:
        """Query parameters of these filters (non-default values only), for links.
        The sort is left out only when it is the default for these filters, so
        the link reads back as the same table (Name under a no-visit filter stays Name)."""
        defaults = Filters()
        chosen = replace(self, **changes)
        values = asdict(chosen)
        params = {QUERY_NAMES.get(k, k): v for k, v in values.items()
                  if k not in ("sort", "direction", "staff_fixed") and v != getattr(defaults, k)}
        if not chosen.box:  # a box has its own order
            if chosen.sort != default_sort(chosen.box, chosen.no_visit):
                params["sort"] = chosen.sort
            if chosen.direction != defaults.direction:
                params["dir"] = chosen.direction
        if cursor:
            params["cursor"] = cursor
        return params

    @property
    def active(self) -> int:
        """How many filters narrow the rows (the phone's "Filters (2)" button)."""
        return sum(1 for value in (self.role, self.status, self.group, self.no_visit, self.box) if value) + (
            1 if self.staff and not self.staff_fixed else 0)


def default_sort(box: str = "", no_visit: int = 0) -> str:
    """A box's rows come in its own order; "no visit" lists the longest-absent first."""
    return BOX_SORTS.get(box) or ("visit" if no_visit else "name")


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
        sort=BOX_SORTS.get(box) or _choice(params, "sort", list(SORTS), default_sort(box, int(no_visit or 0))),
        direction="desc" if box else _choice(params, "dir", DIRECTIONS, DIRECTIONS[0]),
        size=_page_size(params.get("size")),
    )
    if filters.q and not search.anchor(filters.q):
        raise ValidationError("Type at least 2 letters of a name or email to search.", field="q",
                              code="search_too_short")
    if viewer.role == "staff":
        filters = replace(filters, staff=viewer.account_id, staff_fixed=True)  # their own caseload only
    return filters
