"""What the Clients Table page shows: the rows, the boxes and the filter menus."""
from dataclasses import dataclass

from chalicelib.core.errors import ValidationError
from chalicelib.core.models import Account, Group
from chalicelib.people.accounts import Viewer
from chalicelib.table.filters import Filters, parse_filters
from chalicelib.table.listing import Page, Stats, list_page, stats


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
