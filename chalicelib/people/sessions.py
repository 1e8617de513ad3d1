"""Server-side sessions: the cookie holds a random id, the table only its hash.

Expiry is checked here on every load (idle and absolute), never left to TTL,
which deletes late. Sign-out and archiving end sessions at once.
"""
from datetime import timedelta
from typing import Optional, Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib.core.models import Account, Session, utcnow
from chalicelib.core.tokens import hash_token, new_token

IDLE_TIMEOUT = timedelta(hours=1)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen (and the account's last visit) are written at most this often.
TOUCH_INTERVAL = timedelta(minutes=5)


def start(account: Account, ip: str, user_agent: str) -> Tuple[str, Session]:
    """A new session (a new id at every sign-in). Returns the cookie value and the record."""
    cookie_value = new_token()
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
    session.save()
    return cookie_value, session


def is_live(session: Session, now=None) -> bool:
    now = now or utcnow()
    return (
        session.ended_at is None
        and now - session.last_seen < IDLE_TIMEOUT
        and now - session.started_at < ABSOLUTE_TIMEOUT
    )


def load(cookie_value: str) -> Optional[Session]:
    """The live session for a cookie value, or None (unknown, ended or expired)."""
    if not cookie_value or len(cookie_value) > 100:
        return None
    try:
        session = Session.get(hash_token(cookie_value))
    except DoesNotExist:
        return None
    return session if is_live(session) else None


def needs_touch(session: Session, now=None) -> bool:
    return (now or utcnow()) - session.last_seen >= TOUCH_INTERVAL


def touch(session: Session, now=None) -> None:
    session.update(actions=[Session.last_seen.set(now or utcnow())])


def end(session: Session, reason: str = "signed_out") -> None:
    session.update(actions=[Session.ended_at.set(utcnow()), Session.ended_reason.set(reason)])


def history(org_id: str, account_id: str, limit: int = 20, cursor=None):
    return Session.by_account.query(
        f"{org_id}#{account_id}", scan_index_forward=False, limit=limit, last_evaluated_key=cursor
    )


def end_all(account: Account, reason: str) -> int:
    """End every live session of an account (archiving); returns how many."""
    ended = 0
    for session in Session.by_account.query(f"{account.org_id}#{account.account_id}",
                                            filter_condition=Session.ended_at.does_not_exist()):
        end(session, reason)
        ended += 1
    return ended
