"""The per-person timeline and the organisation's audit log."""
import secrets
from typing import Optional

from chalicelib.core.models import Activity, utcnow

ORG_LOG = "org"  # account id under which organisation-wide events are kept
SYSTEM = "system"  # the actor of audit entries nobody signed in made


def account_key(org_id: str, account_id: str) -> str:
    return f"{org_id}#{account_id}"


def new_activity(org_id: str, account_id: str, kind: str, actor=None, when=None, target_id=None, target=None,
                 **detail) -> Activity:
    """An unsaved event; `actor` is whoever did it (a Viewer or an Account), None for the person.

    `target_id` / `target` (a name): whom or what it was done to (a person, a
    group, a link, an API key), shown by the Audit log. An entry of the
    organisation's log (`account_id` ORG_LOG) also gets the keys of the Audit
    log's filter indexes (Activity.audit_by_*), however it is saved.
    """
    when = when or utcnow()
    activity = Activity(
        account_key=account_key(org_id, account_id),
        at_id=f"{when.isoformat()}#{secrets.token_hex(4)}",
        kind=kind,
        actor_id=getattr(actor, "account_id", None),
        actor_name=(getattr(actor, "name", None) or getattr(actor, "email", None)) if actor else None,
        target_id=str(target_id) if target_id is not None else None,
        target_name=str(target) if target is not None else None,
        detail={k: str(v) for k, v in detail.items() if v is not None},
    )
    if account_id == ORG_LOG:
        who = activity.actor_id or SYSTEM
        activity.audit_kind = f"{org_id}#{kind}"
        activity.audit_actor = f"{org_id}#{who}"
        activity.audit_actor_kind = f"{org_id}#{who}#{kind}"
        if activity.target_id:
            activity.audit_target = f"{org_id}#{activity.target_id}"
            activity.audit_target_kind = f"{org_id}#{activity.target_id}#{kind}"
    return activity


def record(org_id: str, account_id: str, kind: str, actor=None, when=None, **detail) -> Activity:
    activity = new_activity(org_id, account_id, kind, actor, when, **detail)
    activity.save()
    return activity


def audit(org_id: str, kind: str, actor, **detail) -> Activity:
    """Record an entry of the organisation's audit log (the Audit log page):
    `kind` is the action (chalicelib.activity.audit.ACTIONS names it for
    people), `actor` a Viewer or Account (None: Caseload itself), `target_id` /
    `target` whom or what, the rest small values shown beside it."""
    return record(org_id, ORG_LOG, kind, actor, **detail)


def latest(org_id: str, account_id: str, limit: int = 50, cursor: Optional[dict] = None):
    return Activity.query(
        account_key(org_id, account_id), scan_index_forward=False, limit=limit, last_evaluated_key=cursor
    )
