"""Signing in and out."""
from typing import Optional, Tuple

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, Unauthenticated, ValidationError
from chalicelib.core.models import Account, Session, Throttle, utcnow
from chalicelib.people import accounts, passwords, sessions, throttle

WRONG_CREDENTIALS = "The email or password is not right."


def _candidates(email: str, org_id: Optional[str]) -> list:
    keys = [(a.org_id, a.account_id) for a in Account.by_email.query(email)
            if org_id is None or a.org_id == org_id]
    return list(Account.batch_get(keys)) if keys else []


def sign_in(raw_email: str, password: str, ip: str, user_agent: str,
            org_id: Optional[str] = None, device_cookie: str = "") -> Tuple[str, Session, Account]:
    """Check the credentials and start a session. Unknown email and wrong
    password answer alike and take the same time (one argon2 verification).
    `device_cookie` is the known-browser cookie (see throttle): it spares the owner the account's delay."""
    if not (raw_email or "").strip():
        raise ValidationError("Enter your email address and your password." if not password
                              else "Enter your email address.", "email", code="missing_email")
    if not password:
        raise ValidationError("Enter your password.", "password", code="missing_password")
    try:
        email = accounts.normalise_email(raw_email)
    except ValidationError:
        raise Unauthenticated(WRONG_CREDENTIALS, "email") from None
    device = throttle.known_device(email, device_cookie)
    throttle.check(email, ip, device)
    matched = None
    candidates = [a for a in _candidates(email, org_id) if a.password_hash and not a.archived]
    if not candidates:
        passwords.verify_password(None, password)
    for account in candidates:
        if passwords.verify_password(account.password_hash, password):
            matched = account
            break
    if matched is None:
        throttle.record_failure(email, ip, device)
        raise Unauthenticated(WRONG_CREDENTIALS, "email")
    # The success clears this address's and browser's counters in the sign-in's own transaction.
    cookie_value, session = start_session(matched, ip, user_agent, throttle.success_keys(email, ip, device))
    if passwords.needs_rehash(matched.password_hash):
        _rehash(matched, password)
    return cookie_value, session, matched


def _rehash(account: Account, password: str) -> None:
    """Bring a hash made with other parameters to today's, unless the password changed meanwhile
    (an old password's sign-in must never write it back over a reset)."""
    try:
        accounts.change(account, condition=Account.password_hash == account.password_hash, check_version=False,
                        password_hash=passwords.hash_password(password))
    except Conflict:
        pass


def device_cookie(account: Account) -> str:
    """The known-browser cookie's value for an account that just signed in."""
    return throttle.device_token(account.email)


def start_session(account: Account, ip: str, user_agent: str, cleared_throttles=()) -> Tuple[str, Session]:
    """Open a session, turn Provisioned into Activated, record the visit (and delete
    the throttle counters named)."""
    now = utcnow()
    first_time = account.status == "provisioned"
    fields = accounts.visit_fields(account, now)
    if first_time:
        fields["status"] = "activated"
    cookie_value, session = sessions.new(account, ip, user_agent)
    events = [timeline.new_activity(account.org_id, account.account_id, "activated", when=now)] if first_time else []
    events.append(timeline.new_activity(account.org_id, account.account_id, "signed_in", when=now, ip=ip))
    # One request for the account (through the one write path), the session and the
    # timeline: a sign-in makes 4 in all.
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            accounts.stage(transaction, account, check_version=first_time, **fields)
            transaction.save(session)
            for event in events:
                transaction.save(event)
            for key in cleared_throttles:
                transaction.delete(Throttle(key=key))
    except TransactWriteError:
        if not first_time:
            raise
        # The account changed since it was read: activate it on a fresh read, then the rest.
        account = accounts.change_retrying(account, lambda fresh: {
            **accounts.visit_fields(fresh, now), "status": "activated" if fresh.status == "provisioned" else fresh.status})
        session.save()
        for event in events:
            event.save()
        throttle.clear(cleared_throttles)
    return cookie_value, session


def viewer_for_session(session: Session):
    """The Viewer behind a live session; None when the account is gone or archived."""
    account = session.account if hasattr(session, "account") else Account.get(session.org_id, session.account_id)
    if account is None:
        return None
    if account.archived:
        sessions.end(session, "archived")
        return None
    if sessions.needs_touch(session):
        now = utcnow()
        sessions.touch(session, now)
        accounts.record_visit(account, now)
    return accounts.Viewer.of(account, session)


def sign_out(session: Session) -> None:
    sessions.end(session, "signed_out")
