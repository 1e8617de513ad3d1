"""The row actions of one account: Edit, Assign staff/group, Archive, Restore.

Who may do what: admins act on any account of their
organisation; staff on their own clients (and edit themselves), never raising
a role, never moving a client to another caseload. Nobody changes their own
role or archives themselves, and the organisation always keeps an active
admin. Another organisation's account answers exactly like a missing one.

Cost: one GetItem (the account), one TransactWriteItems (the change, its
timeline event and its audit-log entry, plus condition checks that make the
rules hold under races: the email claim, the chosen staff member still live,
the group still there, the acting admin still an admin), and for Assign one
BatchGetItem of the chosen staff member and group. Archive then ends the
person's sessions (one Query, one UpdateItem per live session).
"""
from dataclasses import dataclass
from typing import List, Optional

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Problems, StaleVersion, ValidationError
from chalicelib.core.models import CASELOAD_ROLES, ROLE_LABELS, ROLES, Account, Group, Lookup
from chalicelib.invitations import lifecycle
from chalicelib.people import accounts, sessions
from chalicelib.people.accounts import Viewer

ROLE_RANK = {"client": 0, "staff": 1, "admin": 2}
PHONE_MAX = 32
PHONE_CHARACTERS = set("0123456789+-() .")
KEEP = object()  # "leave this field as it is"

LAST_ADMIN = ("The organisation must keep an active admin, and your own admin role changed meanwhile: "
              "nothing was changed.")


def _require_team(viewer: Viewer) -> None:
    if not viewer.is_team:
        raise Forbidden("Only admins and staff can change accounts.")


def target(viewer: Viewer, account_id: str) -> Account:
    """The account a row action applies to, if this viewer may act on it."""
    _require_team(viewer)
    if not isinstance(account_id, str) or not 0 < len(account_id) <= 64:
        raise NotFound("No such account.")
    account = accounts.get_visible(viewer, account_id)
    if account.role == "admin" and not viewer.is_admin:
        raise NotFound("No such account.")
    return account


def parse_version(raw) -> Optional[int]:
    """The version the person saw (forms send text, the API a number); None: not checked."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValidationError("version must be a whole number.", "version")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError("version must be a whole number.", "version") from None
    if value < 0:
        raise ValidationError("version must be a whole number.", "version")
    return value


def check_version(account: Account, version: Optional[int], seen: Optional[dict] = None) -> None:
    """Refuse a change decided on an older version, saying what changed since
    (`seen`: the values the person was shown, by attribute name)."""
    if version is None or version == account.version:
        return
    changes = {}
    for name, label in accounts.VISIBLE_FIELDS.items():
        if seen and name in seen and (seen[name] or "") != (getattr(account, name) or ""):
            changes[label] = {"was": seen[name] or "", "now": _shown(account, name)}
    what = "; ".join(f"{label} is now {c['now'] or 'empty'}" for label, c in changes.items())
    message = "Changed by someone else meanwhile — reload and check before saving again."
    raise StaleVersion(f"{message} ({what})" if what else message, changes)


def _shown(account: Account, name: str) -> str:
    value = getattr(account, name) or ""
    return ROLE_LABELS.get(value, value) if name == "role" else value


def clean_phone(raw) -> Optional[str]:
    phone = " ".join((raw or "").split())
    if not phone:
        return None
    if len(phone) > PHONE_MAX or not set(phone) <= PHONE_CHARACTERS or sum(c.isdigit() for c in phone) < 5:
        raise ValidationError(f"Enter a phone number of digits, spaces and + - ( ), at most {PHONE_MAX} characters.",
                              "phone")
    return phone


def clean_role(raw) -> str:
    role = raw.strip().lower() if isinstance(raw, str) else raw
    if role not in ROLES:
        raise ValidationError("Choose Admin, Staff or Client.", "role", code="invalid_role")
    return role


@dataclass
class _Check:
    """A condition another item must meet for the change to apply, and the error when it does not."""
    model: type
    keys: tuple
    condition: object
    error: Exception


def _admin_still(viewer: Viewer) -> _Check:
    """Whoever demotes or archives an admin is an active admin at that instant, so
    two admins demoting each other at once leave one admin, never none."""
    return _Check(Account, (viewer.org_id, viewer.account_id),
                  (Account.role == "admin") & (Account.status == "activated"),
                  Conflict(LAST_ADMIN, "role", code="last_admin"))


def _commit(viewer: Viewer, account: Account, kind: str, fields: dict, detail: dict,
            checks: List[_Check] = (), saves: list = (), deletes: list = ()) -> Account:
    """Change the account with its timeline and audit entries in one transaction.
    `saves` / `deletes`: (item, condition, error when the condition fails)."""
    snapshot = dict(account.attribute_values)
    if not accounts.changed_keys(account, **fields):
        return account
    account.attribute_values = dict(snapshot)
    events = [timeline.new_activity(account.org_id, account.account_id, kind, viewer, **detail),
              timeline.new_activity(account.org_id, timeline.ORG_LOG, kind, viewer, target_id=account.account_id,
                                    target=account.name or account.email, **detail)]
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            accounts.stage(transaction, account, **fields)
            for item, condition, _error in saves:
                transaction.save(item, condition=condition)
            for item, condition, _error in deletes:
                transaction.delete(item, condition=condition)
            for check in checks:
                transaction.condition_check(check.model, *check.keys, condition=check.condition)
            for event in events:
                transaction.save(event)
    except TransactWriteError as exc:
        account.attribute_values = snapshot
        reasons = list(exc.cancellation_reasons or [])
        failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
        if not failed:
            raise
        # pynamodb sends condition checks, then deletes, then puts, then updates.
        errors = ([c.error for c in checks] + [error for _i, _c, error in deletes] +
                  [error for _i, _c, error in saves] + [None] * len(events) + [None])
        raise (errors[failed[0]] or accounts.stale_error(account)) from None
    return account


# --- Edit ------------------------------------------------------------------------------------------------------

def edit(viewer: Viewer, account_id: str, *, name=KEEP, email=KEEP, phone=KEEP, role=KEEP, version=None,
         seen: Optional[dict] = None) -> Account:
    """Edit name, email, phone and role. The email claim moves in the same
    transaction (the old address is released, a taken one refuses the edit); a pending
    invitation follows the new address (the old link dies, a fresh one is mailed)."""
    account = target(viewer, account_id)
    check_version(account, parse_version(version), seen)
    fields, detail, saves, deletes, checks = {}, {}, [], [], []
    problems = Problems()  # every field's problem at once, in the form's order
    if name is not KEEP:
        fields["name"] = problems.check(accounts.clean_name, name)
    new_email = problems.check(accounts.normalise_email, email) if email is not KEEP else None
    if phone is not KEEP:
        fields["phone"] = problems.check(clean_phone, phone)
    new_role = problems.check(clean_role, role) if role is not KEEP else None
    problems.raise_any()
    if new_role is not None:
        if new_role != account.role:
            if account.account_id == viewer.account_id:
                raise ValidationError("You cannot change your own role: ask another admin.", "role",
                                      code="own_role")
            if not viewer.is_admin and ROLE_RANK[new_role] > ROLE_RANK[account.role]:
                raise Forbidden("Staff cannot raise anyone's role.", "role", code="role_raise")
            if account.role == "admin":
                checks.append(_admin_still(viewer))
            fields["role"] = new_role
            detail.update(role_from=account.role, role_to=new_role)
            if new_role != "client":
                fields.update(staff_id=None, staff_email=None)
    if new_email is not None:
        if new_email != account.email:
            claim = Lookup(key=accounts.email_lookup_key(account.org_id, new_email), org_id=account.org_id,
                           account_id=account.account_id)
            old = Lookup(key=accounts.email_lookup_key(account.org_id, account.email), org_id=account.org_id)
            saves.append((claim, Lookup.key.does_not_exist(),
                           Conflict("Another person in your organisation already has this email.", "email",
                                    code="email_taken")))
            deletes.append((old, Lookup.account_id == account.account_id,
                            Conflict("Changed by someone else meanwhile — reload and try again.",
                                     code="stale_version")))
            fields["email"] = new_email
            detail.update(email_from=account.email, email_to=new_email)
    for attribute in ("name", "phone"):
        if attribute in fields and fields[attribute] != getattr(account, attribute):
            detail[f"{attribute}_from"], detail[f"{attribute}_to"] = getattr(account, attribute), fields[attribute]
    kind = "role_changed" if "role" in fields else "profile_edited"
    invited = account.status == "provisioned" and bool(account.invite_hash)
    account = _commit(viewer, account, kind, fields, detail, checks, saves, deletes)
    if "email" in fields and invited:
        # The change killed the old link (accounts.INVITE_ADDRESS_CHANGED); whoever corrects a mistyped
        # address means the invitation for the corrected one. Resend's own rules apply (a suppressed address
        # is not mailed: the row then says Not sent).
        lifecycle.resend(viewer, [account.account_id])
        account = accounts.get_account(account.org_id, account.account_id, consistent=True)
    if "email" in fields and account.role in CASELOAD_ROLES:
        from chalicelib.actions import bulk  # bulk builds on the row actions

        bulk.refresh_staff_email(viewer, account)  # their clients' copy (Assigned staff email) follows
    return account


# --- Assign staff/group ----------------------------------------------------------------------------------------

def _choices(org_id: str, staff_id: Optional[str], group_id: Optional[str],
             leaving_group_id: Optional[str] = None):
    """The chosen staff member and group in one BatchGetItem (None when absent), and the name of
    the group being left ("" when none), for the audit entry's "from"."""
    request = {}
    if staff_id:
        request[Account.Meta.table_name] = {"Keys": [{"org_id": {"S": org_id}, "account_id": {"S": staff_id}}]}
    group_ids = [g for g in dict.fromkeys((group_id, leaving_group_id)) if g]
    if group_ids:
        request[Group.Meta.table_name] = {"Keys": [{"org_id": {"S": org_id}, "group_id": {"S": g}} for g in group_ids]}
    if not request:
        return None, None, ""
    found = aws.client("dynamodb").batch_get_item(RequestItems=request)["Responses"]
    staff = [Account.from_raw_data(i) for i in found.get(Account.Meta.table_name, [])]
    groups = {g.group_id: g for g in (Group.from_raw_data(i) for i in found.get(Group.Meta.table_name, []))}
    chosen = groups.get(group_id) if group_id else None
    left = groups.get(leaving_group_id) if leaving_group_id else None
    # A group being deleted (Manage Groups) can no longer be chosen.
    usable = chosen if chosen and not chosen.deleting else None
    return (staff[0] if staff else None), usable, (left.name if left else "")


def _clean_id(raw, field: str) -> Optional[str]:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        raise ValidationError("Choose from the list.", field)
    return raw


STAFF_REFUSED = "Choose a live Staff or Admin member of your organisation."
GROUP_REFUSED = "Choose a group of your organisation."


def assign(viewer: Viewer, account_id: str, *, staff_id=KEEP, group_id=KEEP, version=None,
           seen: Optional[dict] = None) -> Account:
    """Link a person to a staff member (clients only) and/or a group, or to none.
    Staff may only move their own clients between groups."""
    account = target(viewer, account_id)
    check_version(account, parse_version(version), seen)
    fields, checks, detail = {}, [], {}
    staff_id = KEEP if staff_id is KEEP else _clean_id(staff_id, "staff_id")
    group_id = KEEP if group_id is KEEP else _clean_id(group_id, "group_id")
    if staff_id is not KEEP and staff_id != account.staff_id:
        if not viewer.is_admin:
            raise Forbidden("Staff can move their own clients only between groups.", "staff_id",
                            code="staff_reassign")
        if staff_id and account.role != "client":
            raise ValidationError("Only clients are assigned to a staff member.", "staff_id")
    wanted_staff = staff_id if staff_id is not KEEP and staff_id != account.staff_id else None
    moving_group = group_id is not KEEP and group_id != account.group_id
    wanted_group = group_id if moving_group else None
    staff, group, left_name = _choices(account.org_id, wanted_staff, wanted_group,
                                       account.group_id if moving_group else None)
    if wanted_staff:
        if staff is None or staff.role not in CASELOAD_ROLES or staff.archived:
            raise ValidationError(STAFF_REFUSED, "staff_id", code="invalid_staff")
        checks.append(_Check(Account, (account.org_id, staff.account_id),
                             Account.role.is_in(*CASELOAD_ROLES) & (Account.status != "archived"),
                             ValidationError(STAFF_REFUSED, "staff_id", code="invalid_staff")))
        fields.update(staff_id=staff.account_id, staff_email=staff.email)
        detail.update(staff_from=account.staff_email or "", staff_to=staff.email)
    elif staff_id is None and account.staff_id:
        fields.update(staff_id=None, staff_email=None)
        detail.update(staff_from=account.staff_email or "", staff_to="")
    if wanted_group:
        if group is None:
            raise ValidationError(GROUP_REFUSED, "group_id", code="invalid_group")
        checks.append(_Check(Group, (account.org_id, group.group_id),
                             Group.group_id.exists() & Group.deleted_at.does_not_exist(),
                             ValidationError(GROUP_REFUSED, "group_id", code="invalid_group")))
        fields["group_id"] = group.group_id
        detail.update(group_from=left_name, group_to=group.name)
    elif group_id is None and account.group_id:
        fields["group_id"] = None
        detail.update(group_from=left_name, group_to="")
    return _commit(viewer, account, "assigned", fields, detail, checks)


# --- Archive and Restore ---------------------------------------------------------------------------------------

def archive_fields(account: Account) -> dict:
    """What archiving sets: Archived, the status to come back to, and a pending invitation revoked."""
    fields = {"status": "archived", "previous_status": account.status}
    if account.status == "provisioned" and account.invite_hash:
        fields.update(invite_state="revoked", invite_hash=None, invite_expires_at=None)
    return fields


def restore_fields(account: Account) -> dict:
    back = account.previous_status or ("activated" if account.password_hash else "provisioned")
    return {"status": back, "previous_status": None}


def check_archivable(viewer: Viewer, account: Account) -> None:
    if account.account_id == viewer.account_id:
        raise ValidationError("You cannot archive yourself: ask another admin.", code="archive_self")
    if account.archived:
        raise Conflict("Already archived.", code="already_archived")


def archive(viewer: Viewer, account_id: str, version=None) -> Account:
    """Archive: hidden from the default table and boxes, cannot sign in, sessions
    ended at once (the middleware also refuses any cookie of an archived account),
    a pending invitation revoked. Restore brings the previous status back."""
    account = target(viewer, account_id)
    check_version(account, parse_version(version))
    check_archivable(viewer, account)
    checks = [_admin_still(viewer)] if account.role == "admin" else []
    account = _commit(viewer, account, "archived", archive_fields(account), {"status_from": account.status}, checks)
    sessions.end_all(account, "archived")
    return account


def restore(viewer: Viewer, account_id: str, version=None) -> Account:
    account = target(viewer, account_id)
    check_version(account, parse_version(version))
    if not account.archived:
        raise Conflict("This person is not archived.", code="not_archived")
    fields = restore_fields(account)
    return _commit(viewer, account, "restored", fields, {"status_to": fields["status"]})


# --- What the forms offer --------------------------------------------------------------------------------------

def staff_choices(org_id: str) -> List[Account]:
    """Live Staff and Admin accounts, by name: who can hold a caseload."""
    keys = []
    for role in CASELOAD_ROLES:
        keys += [(org_id, item.account_id) for item in Account.role_name.query(f"{org_id}#{role}#L")]
    found = list(Account.batch_get(keys)) if keys else []
    return sorted(found, key=lambda a: (a.name or a.email).casefold())


def caseload_count(org_id: str, staff_id: str, limit: Optional[int] = None) -> int:
    """Clients (live or archived) whose staff member this is."""
    count = 0
    for live in ("L", "A"):
        for _item in Account.staff_name.query(f"{org_id}#{staff_id}#{live}",
                                              filter_condition=Account.role == "client"):
            count += 1
            if limit and count >= limit:
                return count
    return count
