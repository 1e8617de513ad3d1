"""Accepting an invitation: the link is checked (used, expired, revoked or
replaced each say so), then name and password are set and the person is
signed in, Activated."""
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws, tokens
from chalicelib.core.errors import Gone, NotFound
from chalicelib.core.models import Account, Lookup, Organisation, utcnow
from chalicelib.people import accounts, auth, passwords
from chalicelib.people.organisations import get_organisation


@dataclass
class PendingInvite:
    token_hash: str
    lookup: Lookup
    account: Account
    org: Organisation


def open_invite(token: str, now=None) -> PendingInvite:
    """The invitation behind a link, or an error saying what is wrong with it:
    NotFound `invite_invalid` (never valid), Gone `invite_used` / `invite_expired`
    / `invite_revoked` / `invite_replaced`."""
    now = now or utcnow()
    unknown = NotFound("This invitation link is not valid. Check that you copied the whole link from the email, "
                       "or ask your organisation to send a new invitation.", code="invite_invalid")
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise unknown
    token_hash = tokens.hash_token(token)
    try:
        lookup = Lookup.get(f"invite#{token_hash}", consistent_read=True)
        account = Account.get(lookup.org_id, lookup.account_id, consistent_read=True)
    except DoesNotExist:
        raise unknown from None
    org = get_organisation(lookup.org_id)
    if lookup.used_at is not None or account.status == "activated":
        raise Gone("This invitation has already been used. Sign in with your email address and password.",
                   code="invite_used")
    if account.archived:
        raise Gone(f"This account was archived. Ask {org.name} if you need access again.", code="invite_revoked")
    if account.invite_hash != token_hash:
        if account.invite_state == "revoked" or not account.invite_hash:
            raise Gone(f"This invitation was withdrawn by {org.name}. Ask them to send you a new one if you "
                       "still need access.", code="invite_revoked")
        raise Gone("A newer invitation was sent to you after this one, so this link no longer works. "
                   "Use the link in the most recent email.", code="invite_replaced")
    if lookup.valid_until is None or lookup.valid_until <= now:
        expired_on = f" on {lookup.valid_until:%-d %B %Y}" if lookup.valid_until else ""
        raise Gone(f"This invitation expired{expired_on}. Ask {org.name} to send you a new one: "
                   "the new email will have a fresh link.", code="invite_expired")
    return PendingInvite(token_hash, lookup, account, org)


def accept(token: str, raw_name: str, password: str, ip: str, user_agent: str):
    """Set name and password, use up the link and sign in (the account becomes
    Activated). Returns (session cookie value, session, account)."""
    pending = open_invite(token)
    name = accounts.clean_name(raw_name)
    passwords.check_new_password(password)
    account = pending.account
    now = utcnow()
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            # Both or neither: a link is used exactly once, even on a double submit,
            # and only while it is still the account's current invitation.
            transaction.update(pending.lookup, actions=[Lookup.used_at.set(now)],
                               condition=Lookup.used_at.does_not_exist())
            accounts.stage(transaction, account, condition=Account.invite_hash == pending.token_hash,
                           check_version=False, name=name, password_hash=passwords.hash_password(password),
                           invite_state="accepted", invite_hash=None)
    except TransactWriteError:
        raise Gone("This invitation has just been used or changed. Sign in, or use the newest invitation email.",
                   code="invite_used") from None
    account = Account.get(account.org_id, account.account_id, consistent_read=True)
    timeline.record(account.org_id, account.account_id, "invite_accepted", when=now)
    cookie_value, session = auth.start_session(account, ip, user_agent)
    return cookie_value, session, account
