"""Forgot password: an emailed single-use link that expires, stored only as a hash.

Asking answers alike for known and unknown addresses (the page never says which).
Using the link sets the new password and ends every session of the account, so
whoever knew the old password is signed out everywhere.
"""
from datetime import timedelta
from typing import List

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import single_use, urls
from chalicelib.core.errors import NotFound
from chalicelib.core.models import Account, Lookup
from chalicelib.invitations import mailer
from chalicelib.people import accounts, organisations, passwords, sessions

RESET_FOR = timedelta(hours=1)
INVALID = "This password reset link is not valid. Ask for a new one."
WORDS = single_use.Words(
    invalid=INVALID, used="This password reset link has already been used. Ask for a new one if you need to.",
    expired="This password reset link has expired. Ask for a new one.")


def _accounts(email: str) -> List[Account]:
    keys = [(a.org_id, a.account_id) for a in Account.by_email.query(email)]
    found = list(Account.batch_get(keys)) if keys else []
    return [a for a in found if not a.archived and a.status == "activated"]


def request_reset(raw_email: str) -> str:
    """Mail a reset link to every activated account at this address (nothing to an unknown one).
    Returns the address the page names; ValidationError only for text that is not an address."""
    email = accounts.normalise_email(raw_email)
    for account in _accounts(email):
        token, valid_until = single_use.issue("reset", account.org_id, RESET_FOR, account_id=account.account_id)
        org = organisations.get_organisation(account.org_id)
        mailer.send_one(email, "password_reset", org_name=org.name, link=urls.absolute(f"/reset/{token}"),
                        expires_at=valid_until.strftime("%H:%M UTC on %-d %B %Y"))
    return email


def open_reset(token: str) -> Lookup:
    """The reset behind a link; NotFound when unknown, Gone when used or expired."""
    return single_use.open_link("reset", token, WORDS)


def reset_password(token: str, password: str) -> Account:
    """Use the link once: the new password, and every session of the account ended."""
    lookup = open_reset(token)
    passwords.check_new_password(password)
    try:
        account = Account.get(lookup.org_id, lookup.account_id)
    except DoesNotExist:
        raise NotFound(INVALID, code="link_invalid") from None
    if account.archived:
        raise NotFound(INVALID, code="link_invalid")
    single_use.use(lookup, WORDS)
    account = accounts.change(account, check_version=False, password_hash=passwords.hash_password(password))
    sessions.end_all(account, "password_reset")
    return account
