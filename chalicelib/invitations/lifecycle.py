"""An invitation's life after it is sent: its state on the row, Resend (a fresh
link, the old one dies at once) and Revoke (the link dies, the account stays
Provisioned)."""
from datetime import timedelta
from typing import Dict, List, Optional, Sequence, Tuple

from chalicelib.activity import timeline
from chalicelib.core.errors import ValidationError
from chalicelib.core.models import Account, Lookup, utcnow
from chalicelib.invitations import mailer
from chalicelib.invitations.invites import (
    MAX_SELECTED,
    MESSAGES,
    _invitation,
    invitation_fields,
    require_team,
)
from chalicelib.invitations.suppression import suppression_key
from chalicelib.people import accounts
from chalicelib.people.organisations import get_organisation


INVITE_STATES = ("queued", "invited", "not_sent", "expired", "bounced", "complained", "revoked")
QUEUED_TOO_LONG = timedelta(hours=1)  # a queued email not sent by then was lost: shown as Not sent
# What a Provisioned row's invitation state is called on the page.
INVITE_LABELS = {"queued": "Invitation queued", "invited": "Invitation sent", "not_sent": "Not sent",
                 "expired": "Invitation expired", "bounced": "Email bounced", "complained": "Marked as spam",
                 "revoked": "Invitation revoked"}


def invitation_state(account: Account, now=None) -> Optional[str]:
    """What a Provisioned row shows: one of INVITE_STATES, or None (not Provisioned, or never emailed).
    queued: the email waits in the mail queue; not_sent: SES did not take it (invite_error says why)."""
    if account.status != "provisioned" or account.invite_state in (None, "accepted"):
        return None
    now = now or utcnow()
    if account.invite_state == "queued" and account.invited_at and account.invited_at + QUEUED_TOO_LONG <= now:
        return "not_sent"
    if account.invite_state == "invited" and account.invite_expires_at and account.invite_expires_at <= now:
        return "expired"
    return account.invite_state


def _selected(viewer, account_ids) -> Tuple[List[str], Dict[str, Account]]:
    require_team(viewer)
    if not isinstance(account_ids, (list, tuple)):
        raise ValidationError("Send account_ids as a list.", "account_ids")
    if len(account_ids) > MAX_SELECTED:  # the list as sent, repeats included (as documented: maxItems)
        raise ValidationError(f"Choose at most {MAX_SELECTED:,} people at once.", "account_ids")
    ids = list(dict.fromkeys(a for a in account_ids if isinstance(a, str) and 0 < len(a) <= 64))
    if not ids:
        raise ValidationError("Choose at least one person.", "account_ids", code="nothing_selected")
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
    for account in eligible:
        if account.email in suppressed:
            results[account.account_id] = {"status": "suppressed", "message": MESSAGES["suppressed"]}
    eligible = [a for a in eligible if a.email not in suppressed]
    # A fresh token on each account (version-checked: one accepted or changed meanwhile loses the race
    # alone, the others go through), its lookup and the timeline event, in transactions of 33 accounts.
    now, fresh = utcnow(), {}
    for account in eligible:
        fresh[account.account_id] = invitation_fields(org.org_id, account.account_id, now)
    changed, failed = accounts.change_many(
        [(a, fresh[a.account_id][2]) for a in eligible],
        also_save=lambda a: [fresh[a.account_id][1], timeline.new_activity(viewer.org_id, a.account_id,
                                                                         "invite_resent", viewer)])
    for account, _error in failed:
        results[account.account_id] = {"status": "conflict",
                                       "message": "Changed by someone else meanwhile: reload and try again."}
    mail = [(_invitation(org, account, fresh[account.account_id][0], viewer), account.account_id)
            for account in changed]
    for account in changed:
        results[account.account_id] = {"status": "sent", "message": "A new invitation is on its way; "
                                       "the previous link no longer works."}
    if mail:
        mailer.queue_invitations(org.org_id, mail)
        timeline.audit(viewer.org_id, "invites_resent", viewer, count=len(changed))
    return [{"account_id": i, **results[i]} for i in ids]


def revoke(viewer, account_ids: Sequence[str]) -> List[dict]:
    """The selected Provisioned accounts' invitation links stop working; the
    accounts stay Provisioned (nothing is deleted; Resend invites them again).
    Batched: the update (conditioned on the account still being Provisioned) and
    its timeline event, 50 accounts per TransactWriteItems; one that signed in
    meanwhile fails alone: about N/50 + c requests.
    Returns [{account_id, status: revoked | not_provisioned | not_found, message}]."""
    ids, visible = _selected(viewer, account_ids)
    results = {i: {"status": "not_found", "message": "No such account."} for i in ids if i not in visible}
    not_provisioned = {"status": "not_provisioned", "message": "Has already signed in: there is no invitation to revoke."}
    pending = []
    for account_id, account in visible.items():
        if account.status != "provisioned":
            results[account_id] = dict(not_provisioned)
        else:
            pending.append(account)
    changed, failed = accounts.change_many(
        [(a, {"invite_state": "revoked", "invite_hash": None, "invite_expires_at": None}) for a in pending],
        check_version=False, condition_of=lambda a: Account.status == "provisioned",
        also_save=lambda a: [timeline.new_activity(viewer.org_id, a.account_id, "invite_revoked", viewer)])
    for account, _error in failed:
        results[account.account_id] = dict(not_provisioned)
    for account in changed:
        results[account.account_id] = {"status": "revoked", "message": "Invitation revoked: its link no longer works."}
    for account in pending:  # already revoked: nothing changed, still the answer asked for
        results.setdefault(account.account_id, {"status": "revoked",
                                                "message": "Invitation revoked: its link no longer works."})
    revoked = sum(1 for r in results.values() if r["status"] == "revoked")
    if revoked:
        timeline.audit(viewer.org_id, "invites_revoked", viewer, count=revoked)
    return [{"account_id": i, **results[i]} for i in ids]
