"""Server-side sessions: the cookie holds a random id, the table only its hash.

Expiry is checked here on every load (idle and absolute), never left to TTL,
which deletes late. Sign-out and archiving end sessions at once.
"""
from datetime import timedelta
from typing import Optional, Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import aws
from chalicelib.core.models import Account, Session, utcnow
from chalicelib.core.tokens import hash_token, new_token

IDLE_TIMEOUT = timedelta(hours=1)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen (and the account's last visit) are written at most this often.
TOUCH_INTERVAL = timedelta(minutes=5)


def start(account: Account, ip: str, user_agent: str) -> Tuple[str, Session]:
    cookie_value, session = new(account, ip, user_agent)
    session.save()
    return cookie_value, session


def new(account: Account, ip: str, user_agent: str) -> Tuple[str, Session]:
    """A new (unsaved) session (a new id at every sign-in). Returns the cookie value and the record.
    The cookie names the account beside its random id (`org.account.random`), so a
    request reads the session and the person in one BatchGetItem; only the hash of the
    whole value is stored, and `load` checks that the session belongs to that account."""
    cookie_value = f"{account.org_id}.{account.account_id}.{new_token()}"
    now = utcnow()
    session = Session(
        session_hash=hash_token(cookie_value),
        account_key=f"{account.org_id}#{account.account_id}",
        org_id=account.org_id,
        account_id=account.account_id,
        started_at=now,
        last_seen=now,
        ip=ip[:64],
        user_agent=user_agent[:400],
        csrf_secret=new_token(),
        expires_at=now + ABSOLUTE_TIMEOUT + timedelta(days=90),  # kept for the history, then swept
    )
    return cookie_value, session


def is_live(session: Session, now=None) -> bool:
    now = now or utcnow()
    return (
        session.ended_at is None
        and now - session.last_seen < IDLE_TIMEOUT
        and now - session.started_at < ABSOLUTE_TIMEOUT
    )


MAX_COOKIE = 200


def load(cookie_value: str) -> Optional[Session]:
    """The live session for a cookie value, or None (unknown, ended or expired).
    With the account named in the cookie, the session and the account come in one
    read, the account kept on the session as `account` (None: the account is gone)."""
    if not cookie_value or len(cookie_value) > MAX_COOKIE:
        return None
    parts = cookie_value.split(".")
    if len(parts) == 3 and all(parts):
        session, account = _read_both(hash_token(cookie_value), parts[0], parts[1])
        if session is None or (session.org_id, session.account_id) != (parts[0], parts[1]):
            return None
        session.account = account
    else:
        try:
            session = Session.get(hash_token(cookie_value))
        except DoesNotExist:
            return None
    return session if is_live(session) else None


def _read_both(session_hash: str, org_id: str, account_id: str):
    """(session, account) in one BatchGetItem (it spans tables)."""
    sessions_table, accounts_table = Session.Meta.table_name, Account.Meta.table_name
    request = {sessions_table: {"Keys": [{"session_hash": {"S": session_hash}}]},
               accounts_table: {"Keys": [{"org_id": {"S": org_id}, "account_id": {"S": account_id}}]}}
    found = {}
    while request:
        reply = aws.client("dynamodb").batch_get_item(RequestItems=request)
        for table, items in reply["Responses"].items():
            found.update({table: items[0]} if items else {})
        request = reply.get("UnprocessedKeys") or None
    session = Session.from_raw_data(found[sessions_table]) if sessions_table in found else None
    account = Account.from_raw_data(found[accounts_table]) if accounts_table in found else None
    return session, account


def needs_touch(session: Session, now=None) -> bool:
    return (now or utcnow()) - session.last_seen >= TOUCH_INTERVAL


def touch(session: Session, now=None) -> None:
    session.update(actions=[Session.last_seen.set(now or utcnow())])


def end(session: Session, reason: str = "signed_out") -> None:
    session.update(actions=[Session.ended_at.set(utcnow()), Session.ended_reason.set(reason)])


class SessionPage(list):
    """Sessions, newest first, and where the next page starts (None: no more)."""
    last_evaluated_key = None


def history(org_id: str, account_id: str, limit: int = 20, cursor=None) -> SessionPage:
    """A page of a person's sessions: one Query on the index (keys only), one BatchGetItem."""
    found = Session.by_account.query(
        f"{org_id}#{account_id}", scan_index_forward=False, limit=limit, last_evaluated_key=cursor
    )
    hashes = [entry.session_hash for entry in found]
    whole = {s.session_hash: s for s in Session.batch_get(hashes)} if hashes else {}
    page = SessionPage(whole[h] for h in hashes if h in whole)
    page.last_evaluated_key = found.last_evaluated_key
    return page


def end_all(account: Account, reason: str) -> int:
    """End every live session of an account (archiving); returns how many."""
    ended = 0
    for session in Session.by_account.query(f"{account.org_id}#{account.account_id}",
                                            filter_condition=Session.ended_at.does_not_exist()):
        end(session, reason)
        ended += 1
    return ended
