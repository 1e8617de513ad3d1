"""An invitation's life after it is sent: its state on the row, Resend (a fresh
link, the old one dies at once) and Revoke (the link dies, the account stays
Provisioned)."""
from typing import Dict, List, Optional, Sequence, Tuple

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, ValidationError
from chalicelib.core.models import Account, Lookup, utcnow
from chalicelib.invitations import mailer
from chalicelib.invitations.invites import (
    MAX_SELECTED,
    MESSAGES,
    TRANSACTION_ITEMS,
    _invitation,
    invitation_fields,
    require_team,
)
from chalicelib.invitations.suppression import suppression_key
from chalicelib.people import accounts
from chalicelib.people.organisations import get_organisation


INVITE_STATES = ("invited", "expired", "bounced", "complained", "revoked")
# What a Provisioned row's invitation state is called on the page.
INVITE_LABELS = {"invited": "Invitation sent", "expired": "Invitation expired", "bounced": "Email bounced",
                 "complained": "Marked as spam", "revoked": "Invitation revoked"}


def invitation_state(account: Account, now=None) -> Optional[str]:
    """What a Provisioned row shows: one of INVITE_STATES, or None (not Provisioned, or never e-mailed)."""
    if account.status != "provisioned" or account.invite_state in (None, "accepted"):
        return None
    if account.invite_state == "invited" and account.invite_expires_at and account.invite_expires_at <= (
            now or utcnow()):
        return "expired"
    return account.invite_state


def _selected(viewer, account_ids) -> Tuple[List[str], Dict[str, Account]]:
    require_team(viewer)
    if not isinstance(account_ids, (list, tuple)):
        raise ValidationError("Send account_ids as a list.", "account_ids")
    ids = list(dict.fromkeys(a for a in account_ids if isinstance(a, str) and 0 < len(a) <= 64))
    if not ids:
        raise ValidationError("Choose at least one person.", "account_ids", code="nothing_selected")
    if len(ids) > MAX_SELECTED:
        raise ValidationError(f"Choose at most {MAX_SELECTED:,} people at once.", "account_ids")
    found = {a.account_id: a for a in Account.batch_get([(viewer.org_id, i) for i in ids])}
    return ids, {i: a for i, a in found.items() if accounts.can_see(viewer, a)}


def resend(viewer, account_ids: Sequence[str]) -> List[dict]:
    """A new link for each selected Provisioned account; the old link dies at once.
    Returns [{account_id, status: sent | not_provisioned | suppressed | not_found | conflict, message}]."""
    ids, visible = _selected(viewer, account_ids)
    results = {i: {"status": "not_found", "message": "No such account."} for i in ids if i not in visible}
    eligible = []
    for account_id, account in visible.items():
        if account.status != "provisioned":
            results[account_id] = {"status": "not_provisioned",
                                   "message": "Has already signed in: there is no invitation to resend."}
        else:
            eligible.append(account)
    suppressed = {item.key.split("#", 1)[1] for item in Lookup.batch_get([suppression_key(a.email) for a in eligible])}
    org = get_organisation(viewer.org_id)
    mail, sent = [], []
    chunk_size = TRANSACTION_ITEMS // 2
    for account in eligible:
        if account.email in suppressed:
            results[account.account_id] = {"status": "suppressed", "message": MESSAGES["suppressed"]}
    eligible = [a for a in eligible if a.email not in suppressed]
    for start in range(0, len(eligible), chunk_size):
        now, saved = utcnow(), []
        for account in eligible[start:start + chunk_size]:
            token, lookup, fields = invitation_fields(org.org_id, account.account_id, now)
            saved.append((account, token, lookup, fields))
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                for account, _token, lookup, fields in saved:
                    transaction.save(lookup, condition=Lookup.key.does_not_exist())
                    # Version-checked: an account accepted or changed meanwhile fails the chunk.
                    accounts.stage(transaction, account, **fields)
        except TransactWriteError:
            for account, _token, _lookup, _fields in saved:
                results[account.account_id] = {"status": "conflict",
                                               "message": "Changed by someone else meanwhile: reload and try again."}
            continue
        for account, token, _lookup, _fields in saved:
            mail.append(_invitation(org, account, token, viewer))
            sent.append(account)
            results[account.account_id] = {"status": "sent", "message": "A new invitation was sent; "
                                           "the previous link no longer works."}
    if mail:
        by_email = {a.email: a.account_id for a in sent}
        for email, why in mailer.send_invitations(mail).items():
            if why:
                results[by_email[email]] = {"status": "not_sent", "message": f"The e-mail was not sent ({why})."}
        timeline.record_many(timeline.new_activity(viewer.org_id, a.account_id, "invite_resent", viewer)
                             for a in sent if results[a.account_id]["status"] == "sent")
        timeline.audit(viewer.org_id, "invites_resent", viewer, count=len(sent))
    return [{"account_id": i, **results[i]} for i in ids]


def revoke(viewer, account_ids: Sequence[str]) -> List[dict]:
    """The selected Provisioned accounts' invitation links stop working; the
    accounts stay Provisioned (nothing is deleted; Resend invites them again).
    Returns [{account_id, status: revoked | not_provisioned | not_found, message}]."""
    ids, visible = _selected(viewer, account_ids)
    results = {}
    for account_id in ids:
        account = visible.get(account_id)
        if account is None:
            results[account_id] = {"status": "not_found", "message": "No such account."}
            continue
        try:
            accounts.change(account, condition=Account.status == "provisioned", check_version=False,
                            invite_state="revoked", invite_hash=None, invite_expires_at=None)
        except Conflict:
            results[account_id] = {"status": "not_provisioned",
                                   "message": "Has already signed in: there is no invitation to revoke."}
            continue
        results[account_id] = {"status": "revoked", "message": "Invitation revoked: its link no longer works."}
        timeline.record(viewer.org_id, account_id, "invite_revoked", viewer)
    revoked = sum(1 for r in results.values() if r["status"] == "revoked")
    if revoked:
        timeline.audit(viewer.org_id, "invites_revoked", viewer, count=revoked)
    return [{"account_id": i, **results[i]} for i in ids]
