"""Forgot password: an emailed single-use link that expires, stored only as a hash.

Asking answers alike for known and unknown addresses (the page never says which).
Using the link sets the new password and ends every session of the account, so
whoever knew the old password is signed out everywhere.

A link is bound to the account's address and password as they were when it was sent
(`_fingerprint`): a reset, any other change of password, or a change of address kills
every other link the account has outstanding.
"""
from datetime import timedelta
from typing import List, Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import single_use, tokens, urls
from chalicelib.core.errors import Conflict, Gone, NotFound
from chalicelib.core.models import Account, Lookup
from chalicelib.invitations import mailer
from chalicelib.people import accounts, organisations, passwords, sessions, throttle

RESET_FOR = timedelta(hours=1)
INVALID = "This password reset link is not valid. Ask for a new one."
WORDS = single_use.Words(
    invalid=INVALID, used="This password reset link has already been used. Ask for a new one if you need to.",
    expired="This password reset link has expired. Ask for a new one.")
STALE = ("This password reset link no longer works: the password or the email address of the account changed "
         "since it was sent. Ask for a new one if you need to.")


def _fingerprint(account: Account) -> str:
    # Keyed, so the stored value says nothing about the password hash it covers.
    return tokens.sign("reset", "\x1f".join((account.account_id, account.email, account.password_hash or "")))


def _accounts(email: str) -> List[Account]:
    keys = [(a.org_id, a.account_id) for a in Account.by_email.query(email)]
    found = list(Account.batch_get(keys)) if keys else []
    return [a for a in found if not a.archived and a.status == "activated"]


def request_reset(raw_email: str, ip: str) -> str:
    """Mail a reset link to every activated account at this address (nothing to an unknown one).
    Returns the address the page names; ValidationError only for text that is not an address,
    TooManyRequests when this address or client asked too often (known or not: see throttle)."""
    email = accounts.normalise_email(raw_email)
    throttle.count_email(email, ip)
    for account in _accounts(email):
        token, valid_until = single_use.issue("reset", account.org_id, RESET_FOR, account_id=account.account_id,
                                              fingerprint=_fingerprint(account))
        org = organisations.get_organisation(account.org_id)
        mailer.send_one(email, "password_reset", org_name=org.name, link=urls.absolute(f"/reset/{token}"),
                        expires_at=valid_until.strftime("%H:%M UTC on %-d %B %Y"))
    return email


def _pending(token: str) -> Tuple[Lookup, Account]:
    lookup = single_use.open_link("reset", token, WORDS)
    try:
        account = Account.get(lookup.org_id, lookup.account_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(INVALID, code="link_invalid") from None
    if account.archived:
        raise NotFound(INVALID, code="link_invalid")
    if lookup.fingerprint != _fingerprint(account):
        raise Gone(STALE, code="link_replaced")
    return lookup, account


def open_reset(token: str) -> Lookup:
    """The reset behind a link; NotFound when unknown, Gone when used, expired or outdated."""
    return _pending(token)[0]


def reset_password(token: str, password: str) -> Account:
    """Use the link once: the new password, and every session of the account ended."""
    lookup, account = _pending(token)
    passwords.check_new_password(password)
    single_use.use(lookup, WORDS)
    # Only while the account is still the one the link was checked against: a password or address
    # changed meanwhile (another link used at the same instant) leaves this one dead.
    unchanged = (Account.email == account.email) & (
        Account.password_hash == account.password_hash if account.password_hash
        else Account.password_hash.does_not_exist())
    try:
        account = accounts.change(account, condition=unchanged, check_version=False,
                                  password_hash=passwords.hash_password(password))
    except Conflict:
        raise Gone(STALE, code="link_replaced") from None
    sessions.end_all(account, "password_reset")
    return account
