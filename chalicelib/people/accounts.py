"""Accounts: who may see whom, creation with per-organisation unique e-mails, visits."""
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from email_validator import EmailNotValidError, validate_email
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, NotFound, ValidationError
from chalicelib.core.models import ROLES, Account, Lookup, utcnow
from chalicelib.core.tokens import new_id

ACTIVE_DAYS_KEPT = 90
NAME_MAX = 120


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the signed-in account, as the domain needs it."""

    org_id: str
    account_id: str
    role: str
    name: str
    email: str
    session_hash: Optional[str] = None
    csrf_secret: Optional[str] = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_team(self) -> bool:
        """Admins and staff: the people who use the Clients Table."""
        return self.role in ("admin", "staff")

    @classmethod
    def of(cls, account: Account, session=None) -> "Viewer":
        return cls(
            account.org_id, account.account_id, account.role, account.name, account.email,
            getattr(session, "session_hash", None), getattr(session, "csrf_secret", None),
        )


def normalise_email(raw: str, field: str = "email") -> str:
    """The address in the form it is stored and compared (domain and local part lower-cased)."""
    raw = (raw or "").strip()
    if not raw:
        raise ValidationError("Enter an e-mail address.", field)
    if len(raw) > 254 or any(c in raw for c in "\r\n\t\0,;<>"):
        raise ValidationError("Enter a single e-mail address like name@example.org.", field)
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError(f"This is not a valid e-mail address: {exc}", field) from None


def clean_name(raw: str, field: str = "name", required: bool = True) -> str:
    name = " ".join((raw or "").split())
    if required and not name:
        raise ValidationError("Enter a name.", field)
    if len(name) > NAME_MAX:
        raise ValidationError(f"Use at most {NAME_MAX} characters.", field)
    if any(ord(c) < 32 for c in name):
        raise ValidationError("The name contains characters that are not allowed.", field)
    return name


def email_lookup_key(org_id: str, email: str) -> str:
    return f"email#{org_id}#{email}"


def find_by_email(org_id: str, email: str) -> Optional[Account]:
    try:
        claim = Lookup.get(email_lookup_key(org_id, email))
    except Lookup.DoesNotExist:
        return None
    return get_account(org_id, claim.account_id)


def new_account(org_id: str, email: str, name: str = "", role: str = "client", **attributes) -> Account:
    if role not in ROLES:
        raise ValidationError("Choose Admin, Staff or Client.", "role")
    return Account(org_id=org_id, account_id=new_id(), email=email, name=name, role=role, **attributes)


def create_account(account: Account, actor=None) -> Account:
    """Save a new account, claiming its e-mail in the same transaction: two
    concurrent creations of one address make one account, never two."""
    claim = Lookup(key=email_lookup_key(account.org_id, account.email), org_id=account.org_id,
                   account_id=account.account_id)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.save(claim, condition=Lookup.key.does_not_exist())
            transaction.save(account, condition=Account.account_id.does_not_exist())
    except TransactWriteError as exc:
        if any(r and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            raise Conflict("An account with this e-mail already exists.", "email", code="email_taken") from None
        raise
    timeline.record(account.org_id, account.account_id, "created", actor, role=account.role)
    return account


def get_account(org_id: str, account_id: str) -> Account:
    try:
        return Account.get(org_id, account_id)
    except DoesNotExist:
        raise NotFound("No such account.") from None


def can_see(viewer: Viewer, account: Account) -> bool:
    if account.org_id != viewer.org_id:
        return False
    if viewer.is_admin or account.account_id == viewer.account_id:
        return True
    return viewer.role == "staff" and account.caseload_id == viewer.account_id


def get_visible(viewer: Viewer, account_id: str) -> Account:
    """The account if this viewer may see it; another organisation's looks like nothing."""
    try:
        account = Account.get(viewer.org_id, account_id)
    except DoesNotExist:
        account = None
    if account is None or not can_see(viewer, account):
        raise NotFound("No such account.")
    return account


def note_visit(account: Account, when: Optional[datetime] = None) -> None:
    """Set last visit and the day it falls on (unsaved): what Engagement counts."""
    when = when or utcnow()
    account.last_visit = max(account.last_visit, when) if account.last_visit else when
    today = when.toordinal()
    days = {d for d in (account.active_days or set()) if d > today - ACTIVE_DAYS_KEPT}
    days.add(today)
    account.active_days = days


def record_visit(account: Account, when: Optional[datetime] = None) -> None:
    """Save a visit without touching anything else on the account (no lost edits)."""
    note_visit(account, when)
    account.derive_keys()
    account.update(
        actions=[Account.last_visit.set(account.last_visit), Account.active_days.set(account.active_days),
                 Account.visit_day.set(account.visit_day), Account.s_visit.set(account.s_visit)],
        add_version_condition=False,
    )


def rename_self(viewer: Viewer, raw_name: str) -> Account:
    name = clean_name(raw_name)
    account = get_account(viewer.org_id, viewer.account_id)
    old = account.name
    account.name = name
    account.save()
    timeline.record(account.org_id, account.account_id, "profile_edited", viewer, name_from=old, name_to=name)
    return account
