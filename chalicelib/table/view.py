"""What the Clients Table page shows: the rows, the boxes and the filter menus."""
from dataclasses import dataclass
from typing import Optional

from chalicelib.core.errors import ValidationError
from chalicelib.core.models import Account
from chalicelib.groups.manage import choices
from chalicelib.people.accounts import Viewer
from chalicelib.table.filters import Filters, parse_filters
from chalicelib.table.listing import Page, Stats, list_page, read_counters, stats


def groups(org_id: str) -> list:
    """The filter's choices and the names the Group column shows: a group being
    deleted is gone from both at once (its members show no group)."""
    return choices(org_id)


def staff_members(org_id: str) -> list:
    """Staff who can hold a caseload, by name."""
    # role_name projects name and e-mail (models.MENU_PROJECTION): one Query, already in name order.
    return list(Account.role_name.query(f"{org_id}#staff#L"))


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

    @property
    def staff(self) -> list:
        if self._staff is None:
            self._staff = staff_members(self.org_id) if self.with_staff else []
        return self._staff

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
            counted = read_counters(viewer, filters)  # the planner's and the boxes', in one read, if needed
            page = list_page(viewer, filters, params.get("cursor", ""), counted, boxes=True)
            break
        except ValidationError as error:
            if not lenient or not error.field or error.field not in params:
                raise
            errors[error.field] = error.message
            params.pop(error.field)
    return TableView(filters, page, stats(viewer, filters, page.counted), groups(viewer.org_id), errors,
                     viewer.org_id, viewer.is_admin)
