"""The Clients Table's staff menu, kept by the accounts stream beside the counters: pure, no AWS.

Every live account that can hold a caseload (models.CASELOAD_ROLES, not archived) is one attribute `m<account_id>` = "name<TAB>email"
of one of MENU_SHARDS items `m#staff#<shard>` in the metrics table. A page reads them in the same
BatchGetItem as its counters, so the menu costs no request of its own (issue 14: at most 5 requests
for any filter combination). A shard holds ~1/MENU_SHARDS of the staff: with ~100 bytes a member,
the 400 KB item limit is met at about 16,000 staff members.

The stream writes an entry when it appears, moves or goes (SET/REMOVE: idempotent), in the same
transaction as the account's applied mark; `reconcile` recounts and repairs it like a counter item.
"""
import zlib
from dataclasses import dataclass
from typing import Optional

from chalicelib.core.models import CASELOAD_ROLES, name_order

MENU_SHARDS = 4
PREFIX = "m#staff#"
ATTRIBUTE = "m"  # an entry's attribute is ATTRIBUTE + account id
SEPARATOR = "\t"


@dataclass(frozen=True)
class StaffMember:
    account_id: str
    name: str
    email: str


def item_keys() -> list:
    return [f"{PREFIX}{shard}" for shard in range(MENU_SHARDS)]


def is_menu_key(key: str) -> bool:
    return key.startswith(PREFIX)


def item_key(account_id: str) -> str:
    return f"{PREFIX}{zlib.crc32(account_id.encode()) % MENU_SHARDS}"


def entry(account) -> Optional[str]:
    """The account's menu entry, or None when it is not in the menu."""
    if account is None or account.role not in CASELOAD_ROLES or account.status == "archived":
        return None
    return f"{' '.join((account.name or '').split())}{SEPARATOR}{account.email}"


def change(old, new) -> dict:
    """(item key, attribute) -> new entry (None: remove), for one change of an account."""
    before, after = entry(old), entry(new)
    if before == after:
        return {}
    account_id = (new or old).account_id
    return {(item_key(account_id), ATTRIBUTE + account_id): after}


def entries_of(accounts) -> dict:
    """item key -> {attribute: entry}: the whole menu for these accounts (rebuild, reconcile)."""
    found = {}
    for account in accounts:
        text = entry(account)
        if text is not None:
            found.setdefault(item_key(account.account_id), {})[ATTRIBUTE + account.account_id] = text
    return found


def staff(items: dict) -> Optional[list]:
    """The menu, by name, from the items read (key -> {attribute: value}); None when no shard
    exists yet (an organisation the stream or the reconciler has not reached)."""
    shards = [items[key] for key in item_keys() if key in items]
    if not shards:
        return None
    members = []
    for values in shards:
        for name, value in values.items():
            if name.startswith(ATTRIBUTE) and isinstance(value, str) and SEPARATOR in value:
                person, email = value.split(SEPARATOR, 1)
                members.append(StaffMember(name[len(ATTRIBUTE):], person, email))
    return sorted(members, key=name_order)
