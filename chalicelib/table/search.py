"""Search words: every word of a name, and the whole email, as items keyed by
their first two letters, so a prefix search is one Query on `begins_with`.

Each word item carries a copy of what the Clients Table filters and counts
on, so a search filters its matches and computes the stat boxes without
reading the accounts; the accounts stream keeps the copies current.
"""
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from chalicelib.core.models import Account, SearchToken

MAX_QUERY = 100
MIN_WORD = 2
_WORD = re.compile(r"\w+", re.UNICODE)
_APOSTROPHES = re.compile(r"['’`]")
# A query without spaces holding one of these is an email prefix ("dan.od", "jo_b@").
_EMAIL_MARKS = set(".@+_")
_COPIED = ("org_id", "account_id", "name", "email", "role", "status", "group_id", "caseload_id", "created_at",
           "last_visit", "active_days")


def clean_query(raw: str) -> str:
    """Casefolded, without control characters, at most MAX_QUERY characters."""
    text = "".join(ch for ch in (raw or "") if unicodedata.category(ch)[0] != "C")
    return " ".join(text.casefold().split())[:MAX_QUERY]


def words_of(name: str) -> list:
    """Words of a name, both split at apostrophes and joined: O'Donnell is "o", "donnell" and "odonnell"."""
    text = (name or "").casefold()
    return list(dict.fromkeys(_WORD.findall(text) + _WORD.findall(_APOSTROPHES.sub("", text))))


def _is_email_query(query: str) -> bool:
    return " " not in query and bool(_EMAIL_MARKS & set(query))


def terms_of(account) -> set:
    """What a search prefix can match: the name's words, the whole email, and the email from
    each hyphen of its local part on ("jo-annabel@x.org" is also "annabel@x.org"): a query such as
    "jo-annab" is anchored on its longest word, which may be a later part of the address."""
    email = account.email.casefold()
    local = email.split("@", 1)[0]
    after_hyphens = {email[i + 1:] for i, ch in enumerate(local) if ch == "-"}
    return ({w for w in words_of(account.name) if len(w) >= MIN_WORD} | {email}
            | {t for t in after_hyphens if len(t) >= MIN_WORD})


def anchor(query: str) -> Optional[str]:
    """The term a search queries on: the email-like query itself, or its longest word."""
    if _is_email_query(query):
        return query if len(query) >= MIN_WORD else None
    words = _WORD.findall(_APOSTROPHES.sub("", query))
    best = max(words, key=len, default="")
    return best if len(best) >= MIN_WORD else None


def matches(query: str, account) -> bool:
    """Every word of the query starts a word of the name, or the query starts the email."""
    email = account.email.casefold()
    if email.startswith(query):
        return True
    if _is_email_query(query):
        return False
    name_words = words_of(account.name)
    return all(any(w.startswith(q) for w in name_words) for q in _WORD.findall(_APOSTROPHES.sub("", query)))


def first_term(query: str, account) -> str:
    """The account's smallest term the anchor starts: the one word item that
    represents the account in results, so nobody is listed twice."""
    start = anchor(query)
    return min(t for t in terms_of(account) if t.startswith(start))


def bucket(org_id: str, term: str) -> str:
    return f"{org_id}#{term[:MIN_WORD]}"


def _day_start(moment):
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) if moment else None


def tokens_for(account: Account) -> list:
    copied = {name: getattr(account, name) for name in _COPIED}
    # The day of the last visit is all a search filters and counts on (like the
    # counters): a second visit on the same day leaves the word items as they are.
    copied["last_visit"] = _day_start(account.last_visit)
    return [SearchToken(bucket=bucket(account.org_id, term), token=f"{term}#{account.account_id}", **copied)
            for term in sorted(terms_of(account))]


def word_changes(old: Optional[Account], new: Optional[Account]) -> dict:
    """(bucket, token) -> ("delete" | "save", item): what one change of an
    account does to its word items. Later changes update() over earlier ones."""
    final, before = {}, {}
    for token in tokens_for(old) if old else ():
        final[(token.bucket, token.token)] = ("delete", token)
        before[(token.bucket, token.token)] = token.serialize()
    for token in tokens_for(new) if new else ():
        key = (token.bucket, token.token)
        if before.get(key) == token.serialize():
            del final[key]  # unchanged: no write
        else:
            final[key] = ("save", token)
    return final


def write(final: dict) -> None:
    """Word changes in batch writes (one write per item: a batch may not name an item twice)."""
    with SearchToken.batch_write() as batch:
        for action, token in final.values():
            getattr(batch, action)(token)


@dataclass
class WordCopy:
    """What a word item copies of its account, read straight off the raw item: a search's boxes
    read up to 2,000 word items, and a pynamodb model per item would cost ~0.2 ms each (issue 14:
    server time). It answers what filters, `matches` and the counters ask of an account."""
    account_id: str
    org_id: str
    name: str
    email: str
    role: str
    status: str
    group_id: Optional[str]
    caseload_id: Optional[str]
    created_at: datetime
    last_visit: Optional[datetime]
    active_days: Optional[set]

    @property
    def archived(self) -> bool:
        return self.status == "archived"


def _moment(raw: Optional[dict]) -> Optional[datetime]:
    return datetime.fromisoformat(raw["S"]) if raw else None


def copy_of(raw: dict) -> WordCopy:
    """A word item as DynamoDB returns it -> its account's copied fields."""
    def text(name):
        value = raw.get(name)
        return value.get("S") if value else None
    days = raw.get("active_days")
    return WordCopy(text("account_id"), text("org_id"), text("name") or "", text("email") or "", text("role"),
                    text("status"), text("group_id"), text("caseload_id"), _moment(raw.get("created_at")),
                    _moment(raw.get("last_visit")), {int(d) for d in days["NS"]} if days else None)


def as_account(token: SearchToken) -> Account:
    """The copied fields as an (unsaved) Account, for filters and counters."""
    return Account(**{name: getattr(token, name) for name in _COPIED})


# How many word items start with a prefix: what an estimated search box scales its sample by.
# Kept by the accounts stream in the metrics table beside the counters, one item per bucket:
# `n` (every word of the bucket) and `x<third letter>` (the words starting with those three).
PREFIX_ITEM = "w#"


def prefix_item(term: str) -> str:
    return f"{PREFIX_ITEM}{term[:MIN_WORD]}"


def _prefix_counts(account) -> Counter:
    found = Counter()
    for term in terms_of(account):
        found[(prefix_item(term), "n")] += 1
        if len(term) > MIN_WORD:
            found[(prefix_item(term), "x" + term[MIN_WORD])] += 1
    return found


def prefix_count_change(old: Optional[Account], new: Optional[Account]) -> Counter:
    """(metrics item key, counter) -> amount: how one change of an account moves the word counts."""
    delta = _prefix_counts(new) if new else Counter()
    delta.subtract(_prefix_counts(old) if old else Counter())
    return Counter({k: v for k, v in delta.items() if v})


def prefix_count_keys(account) -> set:
    return {item for item, _ in _prefix_counts(account)}


def words_starting(term: str, items: dict) -> Optional[int]:
    """How many word items start with `term` (at most 3 letters are counted), from the items read."""
    counts = items.get(prefix_item(term))
    if counts is None or len(term) > MIN_WORD + 1:
        return None
    return int(counts.get("n" if len(term) == MIN_WORD else "x" + term[MIN_WORD], 0))
