"""The stat boxes' counters: what each account contributes, and the boxes read back.

A filter combination (Role x Status x Group x Staff, each either its value or
"any"; "any" status means live, because archived accounts are hidden unless
asked for) is `combo_key(...)`. Its boxes are sums of counters:

- `n`            accounts in the combination
- `v{day}`       accounts whose last visit fell on that day (0: never)
- `cv{c}_{v}`    accounts created on day c whose last visit is on day v
- `k{d}_{next}`  one per active day d of an account, with the account's next
                 active day (0: none since). An account was active in a window
                 [a, b) exactly when it has an active day d in the window
                 whose next active day is at or after b, so any window's
                 engagement (the last 30 days, the 30 before, each of the last
                 12 weeks) is a sum over these counters, read in one GetItem.

Contributions depend only on the account, never on the clock, so a change is
old contribution out, new contribution in; the clock only decides which
counters a box sums. Days are `date.toordinal()`.

Stored (issue 14: the cost of a visit), the counters are kept per Group x
Staff combination only (`item_combo`: 4 per account, not 16), each counter
prefixed with the role and status of the accounts it counts (`cav{day}`: client,
activated); a filter on role or status selects prefixes when the items are read
(`select`). A combination is one small item for `n`, items of CREATED_ITEM_DAYS
days of `cv` counters and items of ACTIVITY_ITEM_DAYS days of `v` and `k` counters
(by the counter's first day), named compactly within their item (`stored_name`).
A first visit of the day rewrites about 8 small items, and the boxes read the 60
days of `cv` and 90 days of `v` and `k` they sum, 17 or 18 items under 4 KB each
even when dense, in one BatchGetItem, whatever the organisation's size or age.
"""
import string
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Optional

from chalicelib.core.models import NO_VALUE, Account

ANY = "*"
LIVE = "live"
WINDOW = 30
TREND_WEEKS = 12


def day_of(moment: Optional[datetime]) -> int:
    return moment.astimezone(timezone.utc).date().toordinal() if moment else 0


# One letter per role and status: the prefix of every stored counter name.
ROLE_CODES = {"admin": "a", "staff": "s", "client": "c"}
STATUS_CODES = {"provisioned": "p", "activated": "a", "archived": "x"}
LIVE_CODES = ("p", "a")
PREFIX = 2


def combo_key(role: str = ANY, status: str = LIVE, group: str = ANY, staff: str = ANY) -> str:
    """A filter combination (what the planner and the boxes ask for)."""
    return f"c#{role}#{status}#{group}#{staff}"


def item_combo(combo: str) -> str:
    """The stored combination holding a filter combination's counters: its group and staff."""
    _, _role, _status, group, staff = combo.split("#")
    return f"c#{group}#{staff}"


def count_item(combo: str) -> str:
    """The item holding a combination's `n` (the planner's counts)."""
    return item_combo(combo)


def select(stored: dict, combo: str) -> Counter:
    """The counters of one filter combination, from its stored combination's counters
    (prefixed names, summed over every week read): the prefixes its role and status select."""
    _, role, status, _group, _staff = combo.split("#")
    role_code = None if role == ANY else ROLE_CODES.get(role, "?")
    status_codes = LIVE_CODES if status == LIVE else (STATUS_CODES.get(status, "?"),)
    selected = Counter()
    for name, amount in stored.items():
        if len(name) > PREFIX and (role_code is None or name[0] == role_code) and name[1] in status_codes:
            selected[name[PREFIX:]] += amount
    return selected


def combos_of(account: Account) -> list:
    """The stored combinations an account counts in."""
    return [f"c#{group}#{staff}" for group in (account.group_id or NO_VALUE, ANY)
            for staff in (account.caseload_id or NO_VALUE, ANY)]


def counters_of(account: Account) -> Counter:
    """The counters one account adds to each of its combinations.

    Two canonical forms keep the counters few (small items: cheap writes and reads) and a
    visit's changes few, without losing exactness (tests/test_metrics.py checks every box):
    - `cv{c}_{v}` only while it can matter: a "new" box counts accounts created in the last
      2 x WINDOW days, and a last visit v >= c + 2 x WINDOW puts c before that whenever v
      has happened; never visited (v = 0) always counts.
    - `k{d}_{next}` with a next active day WINDOW or more days later is `k{d}_0`: a box asks
      only whether the next active day is after a window's end, which is under WINDOW days
      from d (a 7-day week of the trend, or the 30 days before the window).
    """
    visit = day_of(account.last_visit)
    created = day_of(account.created_at)
    counters = Counter({"n": 1, f"v{visit}": 1})
    if visit == 0 or visit - created < 2 * WINDOW:
        counters[f"cv{created}_{visit}"] = 1
    days = sorted(int(d) for d in (account.active_days or ()))
    for day, following in zip(days, days[1:] + [0]):
        counters[f"k{day}_{following if following - day < WINDOW else 0}"] += 1
    return counters


def _first_day(counter: str) -> int:
    return int(counter[2 if counter.startswith("cv") else 1:].split("_")[0])


# Days per stored item: the boxes sum `cv` over 2 x WINDOW days and `v`, `k` over 3 x WINDOW,
# and each size keeps a dense item under 4 KB (one eventually consistent read unit per 2 items).
CREATED_ITEM_DAYS = 7
ACTIVITY_ITEM_DAYS = 14
CREATED_TAG = "c"  # `{combo}@c{n}`: cv counters; `{combo}@{n}`: v and k


def _item_suffix(counter: str) -> str:
    if counter.startswith("cv"):
        return f"{CREATED_TAG}{_first_day(counter) // CREATED_ITEM_DAYS}"
    return str(_first_day(counter) // ACTIVITY_ITEM_DAYS)


def item_key(combo: str, counter: str) -> str:
    """The stored item holding this counter (unprefixed) of this stored combination."""
    return combo if counter == "n" else f"{combo}@{_item_suffix(counter)}"


def combo_of_item(key: str) -> str:
    return key.split("@", 1)[0]


def item_keys_for_boxes(combo: str, today: Optional[int] = None) -> list:
    """Every item the boxes of a filter combination read: `n`, then the items back to the
    oldest day a box sums (created: the previous window's first day; visits and activity:
    "no visit in 90 days"' cutoff)."""
    today = today or date.today().toordinal()
    stored = item_combo(combo)
    created = range((today - 2 * WINDOW + 1) // CREATED_ITEM_DAYS, today // CREATED_ITEM_DAYS + 1)
    activity = range((today - 3 * WINDOW + 1) // ACTIVITY_ITEM_DAYS, today // ACTIVITY_ITEM_DAYS + 1)
    return ([stored] + [f"{stored}@{CREATED_TAG}{n}" for n in created]
            + [f"{stored}@{n}" for n in activity])


def prefix_of(account: Account) -> str:
    return ROLE_CODES.get(account.role, "?") + STATUS_CODES.get(account.status, "?")


def contribution(account: Optional[Account]) -> Counter:
    """(stored item key, prefixed stored name) -> amount, for one account (nothing when absent)."""
    if account is None:
        return Counter()
    counters, prefix = counters_of(account), prefix_of(account)
    return Counter({(item_key(combo, name), prefix + stored_name(name)): amount
                    for combo in combos_of(account) for name, amount in counters.items()})


# An item stores each counter's first day as its offset in the item (one character) and the
# second day as the gap after the first (one character while under 62 days, `_gap` beyond;
# none for "never" / "not since"): `cak3b` is client, activated, active on the item's 4th day and
# next 11 days later. Half the bytes of day numbers, and an item's reads and writes cost by size.
DIGITS = string.digits + string.ascii_letters


def stored_name(counter: str) -> str:
    """A counter's name in its item (`n` stays `n`)."""
    if counter == "n":
        return counter
    kind = "c" if counter.startswith("cv") else counter[0]
    first, *second = (int(part) for part in counter[len(kind) + (kind == "c"):].split("_"))
    days = CREATED_ITEM_DAYS if kind == "c" else ACTIVITY_ITEM_DAYS
    name = kind + DIGITS[first % days]
    if second and second[0]:
        gap = second[0] - first
        name += DIGITS[gap] if 0 <= gap < len(DIGITS) else f"_{gap}"
    return name


def absolute_names(key: str, stored: dict) -> dict:
    """One stored item's counters under their own names (what `select` and `boxes` read)."""
    if "@" not in key:
        return stored
    suffix = key.rsplit("@", 1)[1]
    created = suffix.startswith(CREATED_TAG)
    try:
        start = int(suffix[len(CREATED_TAG):] if created else suffix) * (
            CREATED_ITEM_DAYS if created else ACTIVITY_ITEM_DAYS)
    except ValueError:
        return {}
    named = {}
    for name, amount in stored.items():
        prefix, kind, offset, gap = name[:PREFIX], name[PREFIX:PREFIX + 1], name[PREFIX + 1:PREFIX + 2], \
            name[PREFIX + 2:]
        if kind not in ("v", "c", "k") or not offset or offset not in DIGITS:
            continue
        day = start + DIGITS.index(offset)
        if kind == "v":
            named[f"{prefix}v{day}"] = amount
            continue
        if not gap:
            following = 0
        elif gap.startswith("_"):
            try:
                following = day + int(gap[1:])
            except ValueError:
                continue
        elif len(gap) == 1 and gap in DIGITS:
            following = day + DIGITS.index(gap)
        else:
            continue
        named[f"{prefix}{'cv' if kind == 'c' else 'k'}{day}_{following}"] = amount
    return named


def change(old: Optional[Account], new: Optional[Account]) -> Counter:
    delta = contribution(new)
    delta.subtract(contribution(old))
    return Counter({k: v for k, v in delta.items() if v})


# Reading the boxes -----------------------------------------------------------

def _parse(counters: dict):
    """Split counter names into (kind, numbers) once, skipping the rest."""
    for name, amount in counters.items():
        if not amount or name == "n":
            continue
        kind = name[:2] if name.startswith("cv") else name[:1]
        if kind not in ("v", "cv", "k"):
            continue
        try:
            numbers = tuple(int(part) for part in name[len(kind):].split("_"))
        except ValueError:
            continue
        yield kind, numbers, int(amount)


@dataclass
class Boxes:
    total: int
    new: int
    new_before: int
    engaged: int
    engaged_before: Optional[int]  # None: not defined under a "no visit" filter
    trend: Optional[list]  # weekly active accounts, oldest first
    today: int

    @property
    def engagement_share(self) -> Optional[float]:
        return self.engaged / self.total if self.total else None

    @property
    def total_before(self) -> int:
        return self.total - self.new

    def scaled(self, factor: float) -> "Boxes":
        """Every count times `factor`, rounded: an estimate from a sample (a broad search)."""
        def scale(value):
            return None if value is None else round(value * factor)
        return Boxes(scale(self.total), scale(self.new), scale(self.new_before), scale(self.engaged),
                     scale(self.engaged_before), [scale(v) for v in self.trend] if self.trend is not None else None,
                     self.today)

    def as_dict(self) -> dict:
        return {"total": self.total, "total_30_days_ago": self.total_before, "new": self.new,
                "new_previous_30_days": self.new_before, "engaged": self.engaged,
                "engagement": round(self.engagement_share, 4) if self.engagement_share is not None else None,
                "engaged_previous_30_days": self.engaged_before, "weekly_active": self.trend}


def boxes(counters: dict, today: Optional[int] = None, no_visit_days: Optional[int] = None) -> Boxes:
    """The stat boxes from one combination's counters (or a sum of contributions).

    With "no visit in N days", only accounts whose last visit is on or before
    today - N count; the earlier windows' engagement of exactly those accounts
    is not derivable from the counters, so it is left undefined (shown as a dash).
    """
    today = today or date.today().toordinal()
    cutoff = today - no_visit_days if no_visit_days else None
    window_start = today - WINDOW  # a window is (start, end]
    visited_since_cutoff = new = new_before = engaged = engaged_before = 0
    weeks = [0] * TREND_WEEKS
    for kind, numbers, amount in _parse(counters):
        if kind == "v":
            (visit,) = numbers
            if cutoff is not None and visit > cutoff:
                visited_since_cutoff += amount
            elif visit > window_start:
                engaged += amount
        elif kind == "cv":
            created, visit = numbers
            if cutoff is not None and visit > cutoff:
                continue
            if window_start < created <= today:
                new += amount
            elif window_start - WINDOW < created <= window_start:
                new_before += amount
        elif cutoff is None:
            active, following = numbers
            if window_start - WINDOW < active <= window_start and (following == 0 or following > window_start):
                engaged_before += amount
            weeks_ago = (today - active) // 7
            if 0 <= weeks_ago < TREND_WEEKS and (following == 0 or following > today - 7 * weeks_ago):
                weeks[TREND_WEEKS - 1 - weeks_ago] += amount
    total = int(counters.get("n", 0)) - visited_since_cutoff
    if cutoff is not None:
        return Boxes(total, new, new_before, engaged, None, None, today)
    return Boxes(total, new, new_before, engaged, engaged_before, weeks, today)


def sum_counters(accounts: Iterable[Account]) -> Counter:
    """All counters of these accounts summed, as one combination would hold them."""
    summed = Counter()
    for account in accounts:
        summed.update(counters_of(account))
    return summed
