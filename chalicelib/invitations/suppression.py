"""Addresses that bounced or complained: never mailed again (SES feedback through SNS).

A suppression is global (`suppressed#addr` in Lookup), not per organisation:
an address that bounces bounces for everyone, and mailing it again hurts the
sender's reputation for every organisation.
"""
from typing import List

from chalicelib.activity import timeline
from chalicelib.core.errors import ValidationError
from chalicelib.core.models import Account, Lookup, SuppressionReason
from chalicelib.people import accounts

GLOBAL = "*"  # org_id of lookups that belong to no organisation
REASONS = ("bounced", "complained")


def suppression_key(email: str) -> str:
    return f"suppressed#{email}"


def is_suppression_key(key: str) -> bool:
    return key.startswith("suppressed#")


def mark_suppressed(raw_email: str, reason: str, detail: str = "") -> int:
    """Never mail this address again, and flag its Provisioned accounts (the
    Clients Table shows "Bounced"). Idempotent, because SNS delivers at least
    once. Returns how many accounts were flagged."""
    if reason not in REASONS:
        raise ValueError(reason)
    try:
        email = accounts.normalise_email(raw_email)
    except ValidationError:
        return 0
    Lookup(key=suppression_key(email), org_id=GLOBAL,
           suppression=SuppressionReason(reason=reason, detail=detail[:500])).save()
    flagged = 0
    keys = [(a.org_id, a.account_id) for a in Account.by_email.query(email)]
    for account in Account.batch_get(keys) if keys else []:
        if account.status == "provisioned" and account.invite_state != reason:
            accounts.change(account, check_version=False, invite_state=reason)
            timeline.record(account.org_id, account.account_id, f"invite_{reason}", detail=detail[:200] or None)
            flagged += 1
    return flagged


def handle_ses_notification(message: dict) -> List[str]:
    """One SES feedback notification (the JSON that SNS carries). Permanent
    bounces and complaints suppress their recipients; transient bounces are
    left to SES's own retries. Returns the addresses suppressed."""
    kind = message.get("notificationType") or message.get("eventType")
    done: List[str] = []
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return done
        for recipient in bounce.get("bouncedRecipients") or []:
            if isinstance(recipient, dict) and isinstance(recipient.get("emailAddress"), str):
                mark_suppressed(recipient["emailAddress"], "bounced", str(recipient.get("diagnosticCode", "")))
                done.append(recipient["emailAddress"])
    elif kind == "Complaint":
        for recipient in (message.get("complaint") or {}).get("complainedRecipients") or []:
            if isinstance(recipient, dict) and isinstance(recipient.get("emailAddress"), str):
                mark_suppressed(recipient["emailAddress"], "complained")
                done.append(recipient["emailAddress"])
    return done
