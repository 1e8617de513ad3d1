"""What the Clients Table page shows: the rows, the boxes and the filter menus."""
from dataclasses import dataclass
from typing import Optional

from chalicelib.core.errors import ValidationError
from chalicelib.core.models import CASELOAD_ROLES, Account, name_order
from chalicelib.groups.manage import choices
from chalicelib.people.accounts import Viewer
from chalicelib.table import search
from chalicelib.table.filters import PAGE_SIZES, SORTS, Filters, parse_filters
from chalicelib.table.listing import (
    Page,
    Stats,
    last_cursor,
    list_page,
    read_counters,
    search_count_keys,
    staff_menu,
    staff_menu_keys,
    stats,
)


def groups(org_id: str) -> list:
    """The filter's choices and the names the Group column shows: a group being
    deleted is gone from both at once (its members show no group)."""
    return choices(org_id)


def staff_members(org_id: str, items: Optional[dict] = None) -> list:
    """Who can hold a caseload, by name: the stream's menu items (read with the page's counters,
    chalicelib.metrics.menu), or a Query per caseload role on role_name (it projects name and email,
    models.MENU_PROJECTION) for an organisation whose menu is not built yet."""
    found = staff_menu(org_id, items)
    if found is not None:
        return found
    listed = [m for role in CASELOAD_ROLES for m in Account.role_name.query(f"{org_id}#{role}#L")]
    return sorted(listed, key=name_order)


def matching(filters: Filters, counted: Stats):
    """Rows on all pages: a box shows only the rows it counts."""
    if not counted.exact:
        return None
    boxes = counted.boxes
    return {"new": boxes.new, "engaged": boxes.engaged}.get(filters.box, boxes.total)


@dataclass
class TableView:
    """Everything the Clients Table page shows. The staff menu is read only when
    shown (the full page, for admins): the partial and the JSON twin skip that request."""
    filters: Filters
    page: Page
    stats: Stats
    groups: list
    errors: dict
    org_id: str = ""
    with_staff: bool = False
    _staff: Optional[list] = None
    cursor: str = ""  # the page's own cursor, for its canonical URL
    typed: str = ""  # the search as typed: searched casefolded, shown as the person wrote it

    @property
    def search_text(self) -> str:
        typed = " ".join(self.typed.split())
        return typed if search.clean_query(typed) == self.filters.q else self.filters.q

    @property
    def staff(self) -> list:
        if self._staff is None:
            self._staff = staff_members(self.org_id, self.page.counted) if self.with_staff else []
        return self._staff

    @property
    def group_names(self) -> dict:
        return {g.group_id: g.name for g in self.groups}

    @property
    def group_options(self) -> list:
        return [(g.group_id, g.name) for g in self.groups]

    @property
    def matching(self):
        """How many rows these filters select on all pages (None when the search count is cut short)."""
        return matching(self.filters, self.stats)

    @property
    def sort_options(self) -> list:
        return list(SORTS.items())

    @property
    def size_options(self) -> list:
        return [(size, str(size)) for size in PAGE_SIZES]

    @property
    def sort_label(self) -> str:
        return "Best match" if self.filters.q else SORTS[self.filters.sort]

    @property
    def announcement(self) -> str:
        """The one line a screen reader hears after the table changes."""
        count = self.matching
        shown = f"{count:,} client{'s' if count != 1 else ''} shown" if count is not None else (
            f"{len(self.page.rows)} clients on this page")
        return f"{shown}, sorted by {self.sort_label.lower()}"

    @property
    def staff_options(self) -> list:
        return [(s.account_id, f"{s.name} ({s.email})" if s.name else s.email) for s in self.staff]


def table_view(viewer: Viewer, params: dict, lenient: bool = False) -> TableView:
    """The page for these query parameters. `lenient` (the HTML page) drops a
    bad parameter and reports it next to its field instead of failing."""
    params, errors = dict(params), {}
    # The page (lenient: HTML) shows admins the staff menu: its items come with the counters.
    with_staff = lenient and viewer.is_admin
    while True:
        try:
            filters = parse_filters(params, viewer)
            # The staff menu, and a search's word count (its boxes' estimate), come with the counters.
            also = (staff_menu_keys() if with_staff else ()) + search_count_keys(filters)
            counted = read_counters(viewer, filters, also)  # the planner's, the boxes', the menu's: one read
            page = list_page(viewer, filters, params.get("cursor", ""), counted, boxes=True, also=also)
            break
        except ValidationError as error:
            if not lenient or not error.field or error.field not in params:
                raise
            errors[error.field] = error.message
            params.pop(error.field)
    counted_stats = stats(viewer, filters, page.counted)
    page.last_cursor = last_cursor(viewer, filters, page, matching(filters, counted_stats))
    return TableView(filters, page, counted_stats, groups(viewer.org_id), errors,
                     viewer.org_id, with_staff, cursor=params.get("cursor", ""), typed=str(params.get("q") or ""))
