"""Emailed single-use links (a sign-up's confirmation, a password reset): a random
token in the link, only its hash kept (the Lookup key `kind#hash`), valid for a
while, used once (a conditional write, so two clicks cannot both use it).
Each flow brings its own words for a link that is unknown, used or expired."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Tuple

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core.errors import Gone, NotFound
from chalicelib.core.models import Lookup, utcnow
from chalicelib.core.tokens import hash_token, new_token

KEPT_AFTER = timedelta(days=1)  # the item outlives its link a little (TTL housekeeping)
MAX_TOKEN = 100


@dataclass(frozen=True)
class Words:
    invalid: str
    used: str
    expired: str


def issue(kind: str, org_id: str, valid_for: timedelta, **columns) -> Tuple[str, datetime]:
    """A new link's token (to mail) and when it stops working; `columns` are the Lookup's
    other columns for this kind (account_id, signup...)."""
    token, valid_until = new_token(), utcnow() + valid_for
    Lookup(key=f"{kind}#{hash_token(token)}", org_id=org_id, valid_until=valid_until,
           expires_at=valid_until + KEPT_AFTER, **columns).save()
    return token, valid_until


def open_link(kind: str, token: str, words: Words) -> Lookup:
    """The Lookup behind a link; NotFound when unknown, Gone when used or expired."""
    if not token or len(token) > MAX_TOKEN:
        raise NotFound(words.invalid, code="link_invalid")
    try:
        lookup = Lookup.get(f"{kind}#{hash_token(token)}")
    except DoesNotExist:
        raise NotFound(words.invalid, code="link_invalid") from None
    if lookup.used_at:
        raise Gone(words.used, code="link_used")
    if lookup.valid_until and lookup.valid_until <= utcnow():
        raise Gone(words.expired, code="link_expired")
    return lookup


def use(lookup: Lookup, words: Words) -> None:
    """Mark the link used, once: a second use (even a simultaneous one) is Gone."""
    try:
        lookup.update(actions=[Lookup.used_at.set(utcnow())], condition=Lookup.used_at.does_not_exist())
    except UpdateError:
        raise Gone(words.used, code="link_used") from None
