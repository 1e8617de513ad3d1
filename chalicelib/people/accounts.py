"""Accounts: who may see whom, creation with per-organisation unique emails,
visits, and THE write path for every change to an existing account.

Changing an account (read this before writing one)
--------------------------------------------------
Never `account.save()` or `account.update(...)` an existing account by hand:
the Clients Table's listing keys (`caseload_id`, `p_*`, `s_*`, see
`Account.derive_keys`) depend on role, status, group, staff, name, email, last
visit and creation date, and a partial write that forgets one leaves the table,
filters and boxes silently wrong. Use:

- `change(account, **fields)`: one UpdateItem that sets the fields, every
  derived key they move, and bumps the version, on condition that the stored
  version is the one read (`check_version=False` for last-write-wins fields such
  as visits; `condition=` adds your own). Returns the account as stored.
  A lost race raises `StaleVersion` (409 `stale_version`, "changed by someone
  else", with `changes`: what the other writer changed).
- `stage(transaction, account, **fields)`: the same update inside your own
  `TransactWrite` (e.g. with a Lookup claim).
- `change_many([(account, fields), ...])`: many accounts in TransactWriteItems
  of `TRANSACTION_ITEMS` updates each (bulk actions, transfers); an item that
  fails its condition is retried alone, so one stale row costs one row.
- `changed_keys(account, **fields)`: the pure part (which attributes a change
  writes), for code that must build its own request.

A change of email while an invitation is pending also kills the invitation's
link (`INVITE_ADDRESS_CHANGED`), whichever caller changes it.

New accounts are created whole with `create_account` (a put: every key derived).
"""
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from email_validator import EmailNotValidError, validate_email
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Conflict, Forbidden, NotFound, StaleVersion, ValidationError
from chalicelib.core.models import DERIVED_KEYS, ROLES, Account, Lookup, utcnow
from chalicelib.core.tokens import new_id

ACTIVE_DAYS_KEPT = 90
NAME_MAX = 120
EMAIL_MAX = 254  # the longest address mail can carry (RFC 5321's path limit, less its brackets)
TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit
# What the person sees as changed when an edit loses a race (attribute -> label).
VISIBLE_FIELDS = {"name": "Name", "email": "Email", "phone": "Phone", "role": "Role", "status": "Status",
                  "group_id": "Group", "staff_id": "Staff"}
_FIXED = {"org_id", "account_id", "version", "created_at"} | set(DERIVED_KEYS)
# An invitation link is proof of the address it was mailed to: once the address changes, the link must not
# activate the account at the new one. It dies, and the row says Not sent until Resend mails the new address.
INVITE_ADDRESS_CHANGED = {"invite_hash": None, "invite_expires_at": None, "invite_state": "not_sent",
                          "invite_error": "The email address changed after this invitation was sent: "
                                          "Resend sends it to the new address."}


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
    """The address in the form it is stored, compared and mailed: lower-cased ASCII, an international
    domain as punycode; a non-ASCII part before the @ (which SES cannot send to) is refused with a reason."""
    raw = (raw or "").strip()
    if not raw:
        raise ValidationError("Enter an email address.", field)
    if len(raw) > EMAIL_MAX:
        raise ValidationError(f"This address is too long: an email address has at most {EMAIL_MAX} characters "
                              f"(this one has {len(raw):,}).", field, code="email_too_long")
    if any(c in raw for c in "\r\n\t\0,;<>"):
        raise ValidationError("Enter a single email address like name@example.org.", field)
    if any(ord(c) > 127 for c in raw.partition("@")[0]):
        raise ValidationError("Letters with accents or other scripts before the @ cannot be delivered by our "
                              "mail service. Use an address with plain letters before the @.", field,
                              code="unsupported_address")
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"This is not a valid email address: {exc}", field) from None
    # Stored and sent in the form SES accepts: ASCII, an international domain in punycode (xn--).
    return (checked.ascii_email or checked.normalized).lower()


# Format characters that real names and emoji need: the zero-width joiner and non-joiner.
NAME_FORMAT_ALLOWED = frozenset("\u200c\u200d")


def _refused_in_name(char: str) -> bool:
    """Control (Cc), format (Cf: direction overrides, zero-width spaces, tags), unassigned,
    private-use and surrogate characters disguise a name; the joiners are kept."""
    category = unicodedata.category(char)
    return char not in NAME_FORMAT_ALLOWED and category in ("Cc", "Cf", "Cn", "Co", "Cs")


def clean_name(raw: str, field: str = "name", required: bool = True) -> str:
    """A name as stored: NFC, runs of white space as one space, no invisible or control characters
    (the message names the first one found)."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if required and not name:
        raise ValidationError("Enter a name.", field)
    if len(name) > NAME_MAX:
        raise ValidationError(f"Use at most {NAME_MAX} characters.", field)
    for char in name:
        if _refused_in_name(char):
            label = unicodedata.name(char, "").title() or (
                "a control character" if unicodedata.category(char) == "Cc" else "an invisible character")
            raise ValidationError(f"The name contains a character that is not allowed: U+{ord(char):04X} "
                                  f"({label}). Remove it and try again.", field, code="invalid_character")
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
    """Save a new account, claiming its email in the same transaction: two
    concurrent creations of one address make one account, never two."""
    claim = Lookup(key=email_lookup_key(account.org_id, account.email), org_id=account.org_id,
                   account_id=account.account_id)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.save(claim, condition=Lookup.key.does_not_exist())
            transaction.save(account, condition=Account.account_id.does_not_exist())
    except TransactWriteError as exc:
        if any(r and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            raise Conflict("An account with this email already exists.", "email", code="email_taken") from None
        raise
    timeline.record(account.org_id, account.account_id, "created", actor, role=account.role)
    return account


def get_account(org_id: str, account_id: str, consistent: bool = False) -> Account:
    try:
        return Account.get(org_id, account_id, consistent_read=consistent)
    except DoesNotExist:
        raise NotFound("No such account.") from None


def team_member_now(org_id: str, account_id: str, refusal: str, code: str) -> Viewer:
    """The staff member or admin `account_id` as they are now (work they started runs on
    their current rights); `refusal` with `code` once they are archived, demoted or gone."""
    try:
        account = Account.get(org_id, account_id)
    except DoesNotExist:
        account = None
    if account is None or account.archived or account.role not in ("admin", "staff"):
        raise Forbidden(refusal, code=code)
    return Viewer.of(account)


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


def visit_fields(account: Account, when: Optional[datetime] = None) -> dict:
    """The last visit and active days after a visit at `when`: what Engagement counts."""
    when = when or utcnow()
    today = when.toordinal()
    days = {d for d in (account.active_days or set()) if d > today - ACTIVE_DAYS_KEPT}
    days.add(today)
    return {"last_visit": max(account.last_visit, when) if account.last_visit else when, "active_days": days}


def note_visit(account: Account, when: Optional[datetime] = None) -> None:
    """Set last visit and the day it falls on (unsaved), for a new account."""
    for name, value in visit_fields(account, when).items():
        setattr(account, name, value)


def record_visit(account: Account, when: Optional[datetime] = None) -> None:
    """Save a visit without touching anything else on the account (no lost edits):
    last visit only ever moves forward and moves only `visit_day` / `s_visit`, so it needs no
    version check; on a day already counted those keys do not move and are not written."""
    change(account, check_version=False, **visit_fields(account, when))


def rename_self(viewer: Viewer, raw_name: str) -> Account:
    name = clean_name(raw_name)
    account = get_account(viewer.org_id, viewer.account_id)
    old = account.name
    account = change(account, name=name)
    timeline.record(account.org_id, account.account_id, "profile_edited", viewer, name_from=old, name_to=name)
    return account


# --- The one write path -------------------------------------------------------------------------------------


def _value(account: Account, name: str):
    return getattr(account, name)


def changed_keys(account: Account, **fields) -> Dict[str, object]:
    """Apply `fields` to `account` (in memory) and return {attribute: new value}
    for every attribute the write must set (None: remove): the changed fields
    and every derived key that moved. Pure: no AWS."""
    unknown = set(fields) - (set(Account.get_attributes()) - _FIXED)
    if unknown:
        raise TypeError(f"not changeable account attributes: {sorted(unknown)}")
    if (account.invite_hash and "invite_hash" not in fields and "email" in fields
            and (fields["email"] or "").lower() != (account.email or "").lower()):
        fields = {**fields, **INVITE_ADDRESS_CHANGED}
    before = {name: _value(account, name) for name in DERIVED_KEYS}
    writes = {}
    for name, value in fields.items():
        if _value(account, name) != value:
            writes[name] = value
        setattr(account, name, value)
    account.derive_keys()
    if "email" in writes:
        writes["email"] = account.email
    for name in DERIVED_KEYS:
        if _value(account, name) != before[name]:
            writes[name] = _value(account, name)
    return writes


def _actions(writes: Dict[str, object]) -> list:
    attributes = Account.get_attributes()
    return [attributes[name].remove() if value is None or value == set() else attributes[name].set(value)
            for name, value in writes.items()]


def stale_error(account: Account) -> StaleVersion:
    """The error for a lost race, saying what the other writer changed."""
    try:
        current = Account.get(account.org_id, account.account_id, consistent_read=True)
    except DoesNotExist:
        return StaleVersion("This person was removed by someone else. Reload the page.", {})
    changes = {label: {"was": _shown(_value(account, name)), "now": _shown(_value(current, name))}
               for name, label in VISIBLE_FIELDS.items() if _value(account, name) != _value(current, name)}
    what = ", ".join(f"{label} is now {c['now'] or 'empty'}" for label, c in changes.items())
    message = "Changed by someone else meanwhile — reload and try again."
    return StaleVersion(f"{message} ({what})" if what else message, changes)


def _shown(value) -> str:
    return "" if value is None else str(value)


def change(account: Account, *, condition=None, check_version: bool = True, **fields) -> Account:
    """Change an existing account: THE write path (see the module docstring).

    Parameters: the account as read (its version is the one expected), optional
    extra `condition`, `check_version=False` for last-write-wins fields, and the
    attributes to set (None removes one). Returns the account as stored after
    the write (one UpdateItem, ALL_NEW). Raises `StaleVersion` when the version
    moved, `Conflict` (code `condition_failed`) when only `condition` failed.
    Nothing to change: no request at all."""
    snapshot = dict(account.attribute_values)
    writes = changed_keys(account, **fields)
    if not writes:
        return account
    try:
        account.update(actions=_actions(writes), condition=condition, add_version_condition=check_version)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        account.attribute_values = snapshot
        if check_version:
            stale = stale_error(account)
            try:
                moved = Account.get(account.org_id, account.account_id, consistent_read=True).version
            except DoesNotExist:
                raise stale from None
            if moved != account.version:
                raise stale from None
        raise Conflict("This change no longer applies: reload and try again.", code="condition_failed") from None
    return account


def change_retrying(account: Account, fields_of, attempts: int = 3) -> Account:
    """`change` with `fields_of(account)` recomputed on a fresh read after a lost
    race: for changes that still apply whatever else changed (a first sign-in)."""
    for attempt in range(attempts):
        try:
            return change(account, **fields_of(account))
        except StaleVersion:
            if attempt == attempts - 1:
                raise
            account = get_account(account.org_id, account.account_id, consistent=True)
    return account


def stage(transaction: TransactWrite, account: Account, *, condition=None, check_version: bool = True,
          **fields) -> bool:
    """`change` inside the caller's TransactWrite. Returns False (nothing staged) when nothing changes."""
    writes = changed_keys(account, **fields)
    if not writes:
        return False
    transaction.update(account, actions=_actions(writes), condition=condition, add_version_condition=check_version)
    return True


def change_many(changes: Sequence[Tuple[Account, dict]], *, check_version: bool = True,
                condition_of=None, also_save=None) -> Tuple[List[Account], List[Tuple[Account, Exception]]]:
    """Change many accounts in TransactWriteItems of up to `TRANSACTION_ITEMS`
    items: each account's version-checked update (plus `condition_of(account)`)
    and the items `also_save(account)` returns (its timeline event), all or
    none per account. A transaction that fails is retried one account at a
    time on a fresh read, so a stale row fails alone.
    Returns (changed accounts, [(account, error)])."""
    done, failed = [], []
    pending = []
    for account, fields in changes:
        snapshot = dict(account.attribute_values)
        writes = changed_keys(account, **fields)
        if writes:
            pending.append((account, fields, writes, list(also_save(account)) if also_save else [], snapshot))
    chunks, chunk, size = [], [], 0
    for entry in pending:
        if chunk and size + 1 + len(entry[3]) > TRANSACTION_ITEMS:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(entry)
        size += 1 + len(entry[3])
    if chunk:
        chunks.append(chunk)
    for chunk in chunks:
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                for account, _fields, writes, extra, _snapshot in chunk:
                    transaction.update(account, actions=_actions(writes),
                                       condition=condition_of(account) if condition_of else None,
                                       add_version_condition=check_version)
                    for item in extra:
                        transaction.save(item)
        except TransactWriteError:
            for account, fields, _writes, extra, snapshot in chunk:
                account.attribute_values = snapshot
                try:
                    fresh = Account.get(account.org_id, account.account_id, consistent_read=True)
                except DoesNotExist:
                    failed.append((account, NotFound("No such account.")))
                    continue
                if check_version and fresh.version != account.version:
                    failed.append((account, stale_error(account)))
                    continue
                try:
                    changed = change(fresh, condition=condition_of(fresh) if condition_of else None,
                                     check_version=check_version, **fields)
                except Conflict as error:
                    failed.append((account, error))
                    continue
                for item in extra:
                    item.save()
                done.append(changed)
            continue
        done.extend(entry[0] for entry in chunk)
    return done, failed
