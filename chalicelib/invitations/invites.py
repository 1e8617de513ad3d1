"""Invite Users by email: Provisioned accounts and invitation
emails. What happens to an invitation afterwards is `lifecycle` (state,
Resend, Revoke) and `acceptance`.

Invariants:
- One account per email per organisation: every creation claims
  `email#org#addr` in the same transaction as the account, with a condition
  (never read-then-write). The batch read before is only an optimisation that
  reports "already has an account" without a failed transaction.
- An invite token is 256 random bits; only its sha256 is stored
  (`invite#<hash>` in Lookup, with `valid_until`). It works once, for 7 days
  (checked here: TTL deletes late and moto never), and only while it is the
  account's current one (`Account.invite_hash`): Resend replaces it, Revoke
  clears it.

Cost of `invite_many` for N new addresses (N ≤ 5,000): ⌈2N/100⌉ BatchGetItem
(email claims and suppressions), ⌈N/33⌉ TransactWriteItems (3 items each:
claim, account, token), ⌈N/50⌉ SendBulkTemplatedEmail, plus a constant (the
organisation, the chosen group/staff, one audit entry, the SES template once
per process). The per-person "invited" timeline entry is not written here: it
would add a fourth item per person (⌈N/25⌉ transactions) or N/25 batch
writes; the account's `created_at`/`invited_at`/`created_by` carry it, and one
audit entry records the whole invitation.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Dict, List, Optional, Sequence, Set, Tuple

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws, tokens, urls
from chalicelib.core.errors import Conflict, Forbidden, ValidationError
from chalicelib.core.models import ROLES, Account, Group, Lookup, Organisation, utcnow
from chalicelib.groups import manage as groups
from chalicelib.invitations import mailer
from chalicelib.invitations.addresses import check_addresses
from chalicelib.invitations.suppression import is_suppression_key, suppression_key
from chalicelib.people import accounts
from chalicelib.people.organisations import get_organisation

INVITE_LIFETIME = timedelta(days=7)
# Token lookups outlive their validity so that a late click says "expired", not "unknown".
LOOKUP_KEPT = timedelta(days=60)
TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit
TRANSACTION_ATTEMPTS = 4
MAX_SELECTED = 1000  # rows per Resend / Revoke
OUTCOMES = ("invited", "exists", "invalid", "suppressed")  # what happened to one entry

MESSAGES = {
    "invited": "Invited: an email with a sign-up link is on its way.",
    "invited_no_mail": "Account created (Provisioned); no email sent.",
    "exists": "Already has an account: nothing changed.",
    "suppressed": "Not invited: emails to this address bounced or were marked as spam before.",
}


@dataclass
class Outcome:
    """What happened to one entry: one of OUTCOMES."""

    input: str
    status: str
    message: str
    email: Optional[str] = None
    account_id: Optional[str] = None

    def to_dict(self) -> dict:
        return {"input": self.input, "email": self.email, "status": self.status, "message": self.message,
                "account_id": self.account_id}


@dataclass
class Report:
    """One invitation: an outcome per distinct entry, in the order entered."""

    outcomes: List[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    def to_dict(self) -> dict:
        return {"results": [o.to_dict() for o in self.outcomes], "counts": self.counts}


@dataclass(frozen=True)
class Choices:
    """Role, group and staff of an invitation, checked against the organisation and the inviter."""

    role: str = "client"
    group_id: Optional[str] = None
    staff_id: Optional[str] = None
    staff_email: Optional[str] = None


# --------------------------------------------------------------------------- who may invite what

def require_team(viewer) -> None:
    if not viewer.is_team:
        raise Forbidden("Only admins and staff can invite people.")


def staff_members(org_id: str) -> List[Account]:
    """Live staff accounts, by name (the Staff dropdown). The index projects only
    the filter attributes, so the accounts themselves come in one BatchGet."""
    keys = [(s.org_id, s.account_id) for s in Account.role_name.query(f"{org_id}#staff#L")]
    found = {a.account_id: a for a in Account.batch_get(keys)} if keys else {}
    return [found[account_id] for _org, account_id in keys if account_id in found]


def groups_of(org_id: str) -> List[Group]:
    return groups.choices(org_id)


def resolve_choices(viewer, role, group_id, staff_id) -> Choices:
    """Staff invite Clients only, assigned to themselves unless they pick another
    staff member. A staff member is assigned to Clients only, so it is ignored for
    Admin and Staff invitations."""
    role = (role or "client").strip().lower() if isinstance(role, str) else role
    if role not in ROLES:
        raise ValidationError("Choose Admin, Staff or Client.", "role")
    if viewer.role != "admin" and role != "client":
        raise ValidationError("Staff can invite Clients only.", "role", code="forbidden_role")
    group_id = _optional_id(group_id, "group_id")
    if group_id:
        try:
            if Group.get(viewer.org_id, group_id).deleting:
                raise DoesNotExist()
        except DoesNotExist:
            raise ValidationError("Choose a group from the list.", "group_id", code="unknown_group") from None
    if role != "client":
        return Choices(role, group_id)
    staff_id = _optional_id(staff_id, "staff_id") or (viewer.account_id if viewer.role == "staff" else None)
    if not staff_id:
        return Choices(role, group_id)
    try:
        staff = Account.get(viewer.org_id, staff_id)
    except DoesNotExist:
        staff = None
    if staff is None or staff.role != "staff" or staff.archived:
        raise ValidationError("Choose a staff member from the list.", "staff_id", code="unknown_staff")
    return Choices(role, group_id, staff.account_id, staff.email)


def _optional_id(value, name: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValidationError("Choose from the list.", name)
    return value.strip() or None


# --------------------------------------------------------------------------- inviting

@dataclass
class Invitee:
    """One valid, distinct address to invite, with what it gets (CSV rows carry their own)."""

    email: str
    outcome: Outcome
    choices: Choices
    name: str = ""


def invite_many(viewer, addresses: Sequence[str], role="client", group_id=None, staff_id=None,
                send_email: bool = True) -> Report:
    """Invite each address (one entry per address; see addresses.split_addresses for
    typed text). Duplicates are merged into their first occurrence. Race-safe and
    idempotent: an address that has, or concurrently gets, an account in the
    organisation is reported as "exists" and nothing about it changes."""
    require_team(viewer)
    entries = check_addresses(addresses)
    choices = resolve_choices(viewer, role, group_id, staff_id)
    report, invitees = Report(), []
    for entry in entries:
        if entry.duplicate:
            continue
        outcome = Outcome(entry.raw, "invalid" if not entry.valid else "pending", entry.reason, entry.email)
        report.outcomes.append(outcome)
        if entry.valid:
            invitees.append(Invitee(entry.email, outcome, choices))
    if invitees:
        invite_invitees(get_organisation(viewer.org_id), viewer, invitees, send_email)
        timeline.audit(viewer.org_id, "invited", viewer, role=choices.role, emailed=send_email,
                         **{k: v for k, v in report.counts.items() if v})
    return report


def invite_invitees(org: Organisation, viewer, invitees: List[Invitee], send_email: bool = True,
                    job_id: Optional[str] = None) -> None:
    """Create Provisioned accounts for distinct, valid addresses and mail them;
    sets each invitee's outcome. Shared by typed invitations and CSV imports
    (`job_id`: the import's, recorded on the accounts so that a re-run of its
    step counts the accounts it created as invited, not as existing)."""
    by_email = {i.email: i for i in invitees}
    existing, suppressed = _known(org.org_id, list(by_email))
    done_before = _created_by_job(org, existing, job_id, by_email, viewer) if job_id and existing else set()
    fresh = []
    for invitee in invitees:
        outcome = invitee.outcome
        if invitee.email in done_before:
            continue
        if invitee.email in existing:
            outcome.status, outcome.message = "exists", MESSAGES["exists"]
        elif send_email and invitee.email in suppressed:
            outcome.status, outcome.message = "suppressed", MESSAGES["suppressed"]
        else:
            fresh.append(invitee)
    size = TRANSACTION_ITEMS // (4 if send_email else 3)  # claim, account, [token], timeline event
    mail: List[Tuple[mailer.Invitation, str]] = []
    for start in range(0, len(fresh), size):
        created, taken = _create_chunk(org, viewer, fresh[start:start + size], send_email, job_id)
        for email in taken:
            by_email[email].outcome.status, by_email[email].outcome.message = "exists", MESSAGES["exists"]
        for email, (account, token) in created.items():
            outcome = by_email[email].outcome
            outcome.status, outcome.account_id = "invited", account.account_id
            outcome.message = MESSAGES["invited" if send_email else "invited_no_mail"]
            if send_email:
                mail.append((_invitation(org, account, token, viewer), account.account_id))
    if mail:
        mailer.queue_invitations(org.org_id, mail, job_id)


def _created_by_job(org, emails: Set[str], job_id: str, by_email: Dict[str, Invitee], viewer) -> Set[str]:
    """Of these existing addresses, those whose account this import job created (an
    earlier attempt of the same step): marked invited. Their emails, if still
    queued, get a fresh link and are queued again: the earlier message, if it was
    sent at all, now carries a dead link and is skipped (mailer._current), so each
    person gets exactly one. Two BatchGets per 100, plus the re-queued ones."""
    claims = Lookup.batch_get([accounts.email_lookup_key(org.org_id, e) for e in emails])
    keys = [(org.org_id, c.account_id) for c in claims if c.account_id]
    mine, again = set(), []
    for account in Account.batch_get(keys) if keys else []:
        if account.invite_job == job_id and account.email in by_email:
            outcome = by_email[account.email].outcome
            outcome.status, outcome.account_id = "invited", account.account_id
            outcome.message = MESSAGES["invited" if account.invite_hash else "invited_no_mail"]
            mine.add(account.email)
            if account.invite_state == "queued":
                again.append(account)
    if again:
        _requeue(org, again, viewer, job_id)
    return mine


def _requeue(org, stale: List[Account], viewer, job_id: str) -> None:
    """A fresh token for accounts whose invitation may never have been queued, then queue them."""
    mail = []
    for account in stale:
        old_hash = account.invite_hash
        token, lookup, fields = invitation_fields(org.org_id, account.account_id, utcnow())
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                transaction.save(lookup, condition=Lookup.key.does_not_exist())
                accounts.stage(transaction, account, check_version=False, **fields,
                               condition=(Account.invite_hash == old_hash) & (Account.invite_state == "queued"))
        except TransactWriteError:
            continue  # sent or changed meanwhile
        mail.append((_invitation(org, account, token, viewer), account.account_id))
    if mail:
        mailer.queue_invitations(org.org_id, mail, job_id)


def _known(org_id: str, emails: List[str]) -> Tuple[Set[str], Set[str]]:
    """Which addresses already have an account here, and which are suppressed:
    one BatchGetItem per 100 keys (pynamodb pages and retries unprocessed keys)."""
    keys = [accounts.email_lookup_key(org_id, e) for e in emails] + [suppression_key(e) for e in emails]
    existing, suppressed = set(), set()
    for item in Lookup.batch_get(keys):
        if is_suppression_key(item.key):
            suppressed.add(item.key.split("#", 1)[1])
        else:
            existing.add(item.key.split("#", 2)[2])
    return existing, suppressed


def check_for(viewer, raws: Sequence) -> List[dict]:
    """What the chips input shows before anything is sent: each entry's syntax,
    and whether the address already has an account here or bounced before.
    Nothing is created; one BatchGetItem per 100 keys."""
    require_team(viewer)
    entries = check_addresses(raws)
    emails = [e.email for e in entries if e.valid and not e.duplicate]
    existing, suppressed = _known(viewer.org_id, emails) if emails else (set(), set())
    return [{"input": e.raw, "email": e.email, "valid": e.valid, "duplicate": e.duplicate, "message": e.reason,
             "exists": e.email in existing, "suppressed": e.email in suppressed} for e in entries]


def _new_token(org_id: str, account: Account, now) -> Tuple[str, Lookup]:
    """A fresh invitation on a new `account` (unsaved) and its token lookup."""
    token, lookup, fields = invitation_fields(org_id, account.account_id, now)
    for name, value in fields.items():
        setattr(account, name, value)
    return token, lookup


def invitation_fields(org_id: str, account_id: str, now) -> Tuple[str, Lookup, dict]:
    """A fresh invitation: its token, the token's lookup (unsaved) and the account fields that carry it."""
    token = tokens.new_token()
    token_hash = tokens.hash_token(token)
    expires = now + INVITE_LIFETIME
    # queued: the mail queue's consumer records what SES did (mailer.deliver)
    fields = {"invite_state": "queued", "invite_error": None, "invite_hash": token_hash, "invited_at": now,
              "invite_expires_at": expires}
    lookup = Lookup(key=f"invite#{token_hash}", org_id=org_id, account_id=account_id,
                    valid_until=expires, expires_at=expires + LOOKUP_KEPT)
    return token, lookup, fields


def _create_chunk(org, viewer, invitees: List[Invitee], send_email: bool, job_id: Optional[str] = None):
    """One transaction for a chunk. An address claimed meanwhile by someone else
    cancels the transaction; it is dropped and the rest retried, so a race costs a
    retry, never a duplicate. Returns ({email: (account, token)}, {emails taken})."""
    pending, taken = list(invitees), set()
    for _attempt in range(TRANSACTION_ATTEMPTS):
        if not pending:
            return {}, taken
        now = utcnow()
        created, items = {}, []
        for invitee in pending:
            email, choices = invitee.email, invitee.choices
            account = accounts.new_account(
                org.org_id, email, invitee.name, choices.role, status="provisioned", group_id=choices.group_id,
                staff_id=choices.staff_id, staff_email=choices.staff_email, created_by=viewer.account_id,
                created_at=now, invite_job=job_id)
            token, lookup = _new_token(org.org_id, account, now) if send_email else (None, None)
            claim = Lookup(key=accounts.email_lookup_key(org.org_id, email), org_id=org.org_id,
                           account_id=account.account_id)
            created[email] = (account, token)
            event = timeline.new_activity(org.org_id, account.account_id, "invited" if send_email else "created",
                                          viewer, role=account.role, when=now)
            items.append((email, [claim, account] + ([lookup] if lookup else []) + [event]))
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                for _email, (claim, account, *lookup, event) in items:
                    transaction.save(claim, condition=Lookup.key.does_not_exist())
                    transaction.save(account, condition=Account.account_id.does_not_exist())
                    for item in lookup:
                        transaction.save(item, condition=Lookup.key.does_not_exist())
                    transaction.save(event)
            return created, taken
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            lost = _claims_lost(items, reasons)
            if not lost and not any(r is not None and r.code == "TransactionConflict" for r in reasons):
                raise
            taken.update(lost)
            pending = [i for i in pending if i.email not in lost]
    raise Conflict("Other people are inviting the same addresses right now. Try again.", code="busy")


def _claims_lost(items, reasons) -> List[str]:
    """The addresses whose email claim failed its condition (they have an account now)."""
    lost, index = [], 0
    for email, saved in items:
        reason = reasons[index] if index < len(reasons) else None
        if reason is not None and reason.code == "ConditionalCheckFailed":
            lost.append(email)
        index += len(saved)
    return lost


def invite_link(token: str) -> str:
    return urls.absolute(f"/invite/{token}")


def _invitation(org: Organisation, account: Account, token: str, inviter) -> mailer.Invitation:
    return mailer.Invitation(email=account.email, link=invite_link(token), org_name=org.name,
                             inviter=getattr(inviter, "name", "") or getattr(inviter, "email", "") or org.name,
                             expires_on=account.invite_expires_at.strftime("%-d %B %Y"), name=account.name)
