"""Invite Users (SPEC 4, 9): invitations by e-mail, their lifecycle, the
organisation account link and extra invite links, suppression after bounces.

Invariants:
- One account per e-mail per organisation: every creation claims
  `email#org#addr` in the same transaction as the account (never read-then-write).
- An invite token is 256 random bits; only its sha256 is stored
  (`invite#<hash>` in Lookup). It works once, for 7 days (checked here, not by
  TTL), and only while it is the account's current one (`Account.invite_hash`):
  resending replaces it, revoking clears it.
- The table reads the state from the account: `invite_state`
  (invited | revoked | bounced | complained | accepted) and
  `invite_expires_at`; `invitation_state()` derives "expired".
"""
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from email_validator import EmailNotValidError, validate_email
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import accounts, activities, auth, aws, config, mailer, passwords, tokens
from chalicelib.errors import Conflict, Forbidden, Gone, NotFound, ValidationError
from chalicelib.models import ROLES, Account, Activity, Group, Lookup, Organisation, utcnow
from chalicelib.organisations import get_organisation

INVITE_LIFETIME = timedelta(days=7)
# Lookup items outlive their validity so a late click gets "expired", not "unknown".
LOOKUP_KEPT = timedelta(days=60)
MAX_ADDRESSES = 1000  # per request; more goes through CSV upload
BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem limit
# Four items per invitee (account, e-mail claim, token, "invited" activity):
# 25 invitees fill one TransactWriteItems call (limit 100 items).
TRANSACTION_INVITEES = 25
GLOBAL = "*"  # org_id of lookups that belong to no organisation (suppressions)
_SPLIT = re.compile(r"[,;\s]+")


# --------------------------------------------------------------------------- addresses

def split_addresses(raw: str) -> List[str]:
    """What a paste or a typed line becomes: one entry per address, split on
    commas, semicolons, spaces and newlines (so "Bcc:" becomes its own, invalid, entry)."""
    return [part for part in _SPLIT.split(raw or "") if part]


def suppression_key(email: str) -> str:
    return f"suppressed#{email}"


def check_address(raw: str) -> Tuple[Optional[str], str]:
    """(normalised address, "") or (None, why it is not valid). Syntax only, no network."""
    try:
        return accounts.normalise_email(raw), ""
    except ValidationError as error:
        return None, error.message


@dataclass
class Outcome:
    """What happened to one address: invited | exists | invalid | suppressed."""

    input: str
    status: str
    message: str
    email: Optional[str] = None
    account_id: Optional[str] = None
    row: Optional[int] = None

    def to_dict(self) -> dict:
        body = {"input": self.input, "email": self.email, "status": self.status, "message": self.message,
                "account_id": self.account_id}
        if self.row is not None:
            body["row"] = self.row
        return body


@dataclass
class Invitee:
    """One person to invite, already validated (CSV rows carry their own role/group/staff)."""

    email: str
    name: str = ""
    role: str = "client"
    group_id: Optional[str] = None
    staff_id: Optional[str] = None
    staff_email: Optional[str] = None
    input: str = ""
    row: Optional[int] = None


@dataclass
class Choices:
    """The role, group and staff of an invitation, checked against the organisation."""

    role: str = "client"
    group_id: Optional[str] = None
    staff_id: Optional[str] = None
    staff_email: Optional[str] = None


MESSAGES = {
    "invited": "Invited.",
    "invited_no_mail": "Account created; no e-mail sent.",
    "exists": "Already has an account: nothing changed.",
    "suppressed": "Not sent: e-mails to this address bounced or were marked as spam before.",
}


# --------------------------------------------------------------------------- who may invite what

def require_team(viewer) -> None:
    if not viewer.is_team:
        raise Forbidden("Only admins and staff can invite people.")


def staff_members(org_id: str) -> List[Account]:
    """Live staff accounts of the organisation, by name (the Staff dropdown)."""
    return list(Account.role_name.query(f"{org_id}#staff#L"))


def groups_of(org_id: str) -> List[Group]:
    return sorted(Group.query(org_id), key=lambda g: g.name.casefold())


def resolve_choices(viewer, role: str, group_id: Optional[str], staff_id: Optional[str]) -> Choices:
    """Role, group and staff as the viewer may set them. Staff invite only Clients,
    assigned to themselves unless they pick another staff member."""
    role = (role or "client").strip().lower()
    if role not in ROLES:
        raise ValidationError("Choose Admin, Staff or Client.", "role")
    if viewer.role != "admin" and role != "client":
        raise ValidationError("Staff can invite Clients only.", "role")
    group_id = (group_id or "").strip() or None
    if group_id:
        try:
            Group.get(viewer.org_id, group_id)
        except DoesNotExist:
            raise ValidationError("Choose a group from the list.", "group_id") from None
    staff_id = (staff_id or "").strip() or None
    if role != "client":
        return Choices(role, group_id)
    if staff_id is None and viewer.role == "staff":
        staff_id = viewer.account_id
    staff_email = None
    if staff_id:
        try:
            staff = Account.get(viewer.org_id, staff_id)
        except DoesNotExist:
            staff = None
        if staff is None or staff.role != "staff" or staff.archived:
            raise ValidationError("Choose a staff member from the list.", "staff_id")
        staff_email = staff.email
    return Choices(role, group_id, staff_id, staff_email)


# --------------------------------------------------------------------------- inviting

def invite(viewer, raw_addresses: Sequence[str], role: str = "client", group_id: Optional[str] = None,
           staff_id: Optional[str] = None, send_email: bool = True) -> List[Outcome]:
    """Invite typed or pasted addresses. Returns one outcome per distinct entry,
    in the order given; duplicates (case-insensitive) are merged."""
    require_team(viewer)
    entries = []
    for raw in raw_addresses:
        if not isinstance(raw, str):
            raise ValidationError("Each address must be text.", "emails")
        # An entry may itself hold a list (a paste into the no-JS textarea).
        entries.extend([raw.strip()] if _looks_injected(raw) else split_addresses(raw))
    if not entries:
        raise ValidationError("Enter at least one e-mail address.", "emails")
    if len(entries) > MAX_ADDRESSES:
        raise ValidationError(f"{len(entries):,} addresses is more than {MAX_ADDRESSES:,} at once. "
                              "Upload them as a CSV file instead.", "emails", code="too_many")
    choices = resolve_choices(viewer, role, group_id, staff_id)
    outcomes: List[Outcome] = []
    invitees: List[Invitee] = []
    seen: Dict[str, Outcome] = {}
    for raw in entries:
        email, why = check_address(raw)
        if email is None:
            outcomes.append(Outcome(raw, "invalid", why))
            continue
        if email in seen:
            continue  # merged with the first occurrence
        outcome = Outcome(raw, "pending", "", email)
        seen[email] = outcome
        outcomes.append(outcome)
        invitees.append(Invitee(email, role=choices.role, group_id=choices.group_id, staff_id=choices.staff_id,
                                staff_email=choices.staff_email, input=raw))
    org = get_organisation(viewer.org_id)
    for done in create_invitations(org, viewer, invitees, send_email):
        seen[done.email].status, seen[done.email].message = done.status, done.message
        seen[done.email].account_id = done.account_id
    return outcomes


def check_entries(raw_addresses: Sequence[str]) -> List[dict]:
    """What the chips input shows: each entry valid or not (and why), duplicates marked."""
    seen, entries = set(), []
    for raw in raw_addresses:
        if not isinstance(raw, str):
            raise ValidationError("Each address must be text.", "emails")
        email, why = check_address(raw)
        duplicate = email is not None and email in seen
        seen.add(email)
        entries.append({"input": raw, "email": email, "valid": email is not None, "duplicate": duplicate,
                        "message": why or ("Already in the list." if duplicate else "")})
    return entries


def _looks_injected(raw: str) -> bool:
    """An entry with a line break and a header-like part ("...\r\nBcc: x") is
    kept whole so it is reported as one invalid entry, not silently split."""
    return bool(re.search(r"[\r\n]\s*[A-Za-z-]+\s*:", raw))


def create_invitations(org: Organisation, actor, invitees: List[Invitee], send_email: bool = True,
                       created_by: Optional[str] = None) -> List[Outcome]:
    """Create Provisioned accounts for `invitees` (distinct, valid addresses) and
    mail them. Race-safe and idempotent: an address that has (or gets,
    concurrently) an account in the organisation is reported as "exists".

    Cost: ceil(2N/100) BatchGetItem (claims and suppressions), ceil(N/25)
    TransactWriteItems, ceil(N/50) SES calls (+1 to make sure the template exists).
    """
    existing, suppressed = _known(org.org_id, [i.email for i in invitees])
    outcomes: List[Outcome] = []
    fresh: List[Invitee] = []
    for invitee in invitees:
        if invitee.email in existing:
            outcomes.append(Outcome(invitee.input or invitee.email, "exists", MESSAGES["exists"], invitee.email,
                                    existing[invitee.email], invitee.row))
        elif send_email and invitee.email in suppressed:
            outcomes.append(Outcome(invitee.input or invitee.email, "suppressed", MESSAGES["suppressed"],
                                    invitee.email, None, invitee.row))
        else:
            fresh.append(invitee)
    mail: List[mailer.Invitation] = []
    inviter = getattr(actor, "name", None) or getattr(actor, "email", None) or org.name
    for start in range(0, len(fresh), TRANSACTION_INVITEES):
        chunk = fresh[start:start + TRANSACTION_INVITEES]
        created, taken = _create_chunk(org, actor, chunk, send_email, created_by)
        for invitee in chunk:
            if invitee.email in taken:
                outcomes.append(Outcome(invitee.input or invitee.email, "exists", MESSAGES["exists"],
                                        invitee.email, taken[invitee.email], invitee.row))
                continue
            account, token = created[invitee.email]
            outcomes.append(Outcome(invitee.input or invitee.email, "invited",
                                    MESSAGES["invited" if send_email else "invited_no_mail"], invitee.email,
                                    account.account_id, invitee.row))
            if send_email:
                mail.append(_invitation(org, account, token, inviter))
    if mail:
        _report_mail(mailer.send_invitations(mail), outcomes)
    return outcomes


def _report_mail(results: Dict[str, str], outcomes: List[Outcome]) -> None:
    for outcome in outcomes:
        why = results.get(outcome.email or "")
        if outcome.status == "invited" and why:
            outcome.message = f"Account created, but the e-mail was not sent: {why}"


def _known(org_id: str, emails: List[str]) -> Tuple[Dict[str, str], set]:
    """Which addresses already have an account here ({email: account_id}) and which are suppressed."""
    keys = [accounts.email_lookup_key(org_id, e) for e in emails] + [suppression_key(e) for e in emails]
    existing, suppressed = {}, set()
    for item in Lookup.batch_get(keys) if keys else []:
        if item.key.startswith("suppressed#"):
            suppressed.add(item.key.split("#", 1)[1])
        else:
            existing[item.key.split("#", 2)[2]] = item.account_id
    return existing, suppressed


def _new_invite(org_id: str, account: Account, now) -> Tuple[str, Lookup]:
    token = tokens.new_token()
    token_hash = tokens.hash_token(token)
    account.invite_state = "invited"
    account.invite_hash = token_hash
    account.invited_at = now
    account.invite_expires_at = now + INVITE_LIFETIME
    lookup = Lookup(key=f"invite#{token_hash}", org_id=org_id, account_id=account.account_id,
                    valid_until=account.invite_expires_at, expires_at=now + LOOKUP_KEPT)
    return token, lookup


def _create_chunk(org, actor, chunk: List[Invitee], send_email: bool, created_by: Optional[str]):
    """One transaction for up to 25 invitees; an address claimed meanwhile is
    dropped and the rest retried, so a race costs a retry, never a duplicate."""
    pending = list(chunk)
    taken: Dict[str, str] = {}
    for _attempt in range(4):
        now = utcnow()
        created, items = {}, []
        for invitee in pending:
            account = accounts.new_account(
                org.org_id, invitee.email, invitee.name, invitee.role, status="provisioned",
                group_id=invitee.group_id, staff_id=invitee.staff_id, staff_email=invitee.staff_email,
                created_by=created_by or getattr(actor, "account_id", None), created_at=now)
            token, lookup = (None, None)
            if send_email:
                token, lookup = _new_invite(org.org_id, account, now)
            claim = Lookup(key=accounts.email_lookup_key(org.org_id, invitee.email), org_id=org.org_id,
                           account_id=account.account_id)
            activity = activities.new_activity(org.org_id, account.account_id, "invited", actor, when=now,
                                               role=invitee.role, emailed="yes" if send_email else "no")
            created[invitee.email] = (account, token)
            items.append((invitee, claim, account, lookup, activity))
        if not items:
            return {}, taken
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                for _invitee, claim, account, lookup, activity in items:
                    transaction.save(claim, condition=Lookup.key.does_not_exist())
                    transaction.save(account, condition=Account.account_id.does_not_exist())
                    if lookup is not None:
                        transaction.save(lookup)
                    transaction.save(activity)
            return created, taken
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            lost = _claims_lost(items, reasons)
            if not lost and not any(r and r.code == "TransactionConflict" for r in reasons):
                raise
            for email in lost:
                taken[email] = _claim_owner(org.org_id, email)
            pending = [i for i in pending if i.email not in taken]
    raise Conflict("Too many people are inviting the same addresses right now. Try again.", code="busy")


def _claims_lost(items, reasons) -> List[str]:
    """The addresses whose e-mail claim failed its condition (someone else has them now)."""
    lost, index = [], 0
    for invitee, _claim, _account, lookup, _activity in items:
        reason = reasons[index] if index < len(reasons) else None
        if reason is not None and reason.code == "ConditionalCheckFailed":
            lost.append(invitee.email)
        index += 4 if lookup is not None else 3
    return lost


def _claim_owner(org_id: str, email: str) -> Optional[str]:
    try:
        return Lookup.get(accounts.email_lookup_key(org_id, email), consistent_read=True).account_id
    except DoesNotExist:
        return None


def invite_link(token: str) -> str:
    return f"{config.public_url()}/invite/{token}"


def _invitation(org: Organisation, account: Account, token: str, inviter: str) -> mailer.Invitation:
    return mailer.Invitation(email=account.email, link=invite_link(token), org_name=org.name, inviter=inviter,
                             expires_on=account.invite_expires_at.strftime("%-d %B %Y"), name=account.name)


# --------------------------------------------------------------------------- state, resend, revoke

def invitation_state(account: Account, now=None) -> Optional[str]:
    """What the Clients Table shows on a Provisioned row: invited | expired |
    bounced | complained | revoked, or None (not invited by e-mail / not Provisioned)."""
    if account.status != "provisioned" or not account.invite_state or account.invite_state == "accepted":
        return None
    if account.invite_state == "invited" and account.invite_expires_at and account.invite_expires_at <= (
            now or utcnow()):
        return "expired"
    return account.invite_state


def resend(viewer, account_ids: Sequence[str]) -> List[dict]:
    """A fresh link (the old one dies) for each Provisioned account the viewer can see.
    Returns [{account_id, status: sent | not_provisioned | suppressed | not_found, message}]."""
    require_team(viewer)
    ids = list(dict.fromkeys(a for a in account_ids if isinstance(a, str) and a))
    if not ids:
        raise ValidationError("Choose at least one person.", "account_ids")
    if len(ids) > MAX_ADDRESSES:
        raise ValidationError(f"Choose at most {MAX_ADDRESSES:,} people at once.", "account_ids")
    found = {a.account_id: a for a in Account.batch_get([(viewer.org_id, i) for i in ids])}
    results: Dict[str, dict] = {}
    eligible: List[Account] = []
    for account_id in ids:
        account = found.get(account_id)
        if account is None or not accounts.can_see(viewer, account):
            results[account_id] = {"status": "not_found", "message": "No such account."}
        elif account.status != "provisioned":
            results[account_id] = {"status": "not_provisioned",
                                   "message": "Has already signed in: there is nothing to resend."}
        else:
            eligible.append(account)
    _, suppressed = _known(viewer.org_id, [a.email for a in eligible]) if eligible else ({}, set())
    org = get_organisation(viewer.org_id)
    mail = []
    inviter = viewer.name or viewer.email
    for start in range(0, len(eligible), 50):
        chunk = [a for a in eligible[start:start + 50] if a.email not in suppressed]
        now = utcnow()
        saved = []
        for account in chunk:
            token, lookup = _new_invite(org.org_id, account, now)
            saved.append((account, token, lookup))
        if not saved:
            continue
        try:
            with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
                for account, _token, lookup in saved:
                    transaction.save(lookup)
                    transaction.save(account)  # version-checked: a concurrent change fails the chunk
        except TransactWriteError:
            for account, _token, _lookup in saved:
                results[account.account_id] = {"status": "conflict",
                                               "message": "Changed by someone else meanwhile: try again."}
            continue
        for account, token, _lookup in saved:
            mail.append(_invitation(org, account, token, inviter))
            results[account.account_id] = {"status": "sent", "message": "A new invitation was sent."}
    for account in eligible:
        if account.email in suppressed:
            results[account.account_id] = {"status": "suppressed", "message": MESSAGES["suppressed"]}
    if mail:
        sent = mailer.send_invitations(mail)
        by_email = {a.email: a.account_id for a in eligible}
        for email, why in sent.items():
            if why:
                results[by_email[email]] = {"status": "not_sent", "message": f"The e-mail was not sent: {why}"}
        with Activity.batch_write() as batch:
            for account in eligible:
                if results[account.account_id]["status"] == "sent":
                    batch.save(activities.new_activity(org.org_id, account.account_id, "invite_resent", viewer))
    return [{"account_id": i, **results[i]} for i in ids]


def revoke(viewer, account_id: str) -> Account:
    """The invitation link stops working; the account stays Provisioned (nothing is deleted)."""
    require_team(viewer)
    account = accounts.get_visible(viewer, account_id)
    if account.status != "provisioned":
        raise Conflict("This person has already signed in: there is no invitation to revoke.",
                       code="not_provisioned")
    if account.invite_state == "revoked":
        return account
    account.invite_state = "revoked"
    account.invite_hash = None
    account.invite_expires_at = None
    try:
        account.save()
    except PutError:
        raise Conflict("Changed by someone else meanwhile: reload and try again.", code="conflict") from None
    activities.record(account.org_id, account.account_id, "invite_revoked", viewer)
    return account


def revoke_many(viewer, account_ids: Sequence[str]) -> List[dict]:
    ids = list(dict.fromkeys(a for a in account_ids if isinstance(a, str) and a))
    if not ids:
        raise ValidationError("Choose at least one person.", "account_ids")
    if len(ids) > MAX_ADDRESSES:
        raise ValidationError(f"Choose at most {MAX_ADDRESSES:,} people at once.", "account_ids")
    results = []
    for account_id in ids:
        try:
            revoke(viewer, account_id)
            results.append({"account_id": account_id, "status": "revoked", "message": "Revoked."})
        except (NotFound, Conflict) as error:
            results.append({"account_id": account_id, "status": error.code, "message": error.message})
    return results


# --------------------------------------------------------------------------- accepting

@dataclass
class PendingInvite:
    token_hash: str
    lookup: Lookup
    account: Account
    org: Organisation


def open_invite(token: str, now=None) -> PendingInvite:
    """The invitation behind a link, or an error that says what is wrong with it:
    not_found (never valid), and Gone with invite_used / invite_expired /
    invite_revoked / invite_replaced."""
    now = now or utcnow()
    unknown = NotFound("This invitation link is not valid. Check that you copied the whole link from the e-mail, "
                       "or ask your organisation to send a new invitation.", code="invite_invalid")
    if not token or len(token) > 100:
        raise unknown
    token_hash = tokens.hash_token(token)
    try:
        lookup = Lookup.get(f"invite#{token_hash}", consistent_read=True)
        account = Account.get(lookup.org_id, lookup.account_id, consistent_read=True)
    except DoesNotExist:
        raise unknown from None
    org = get_organisation(lookup.org_id)
    if lookup.used_at is not None or account.status == "activated" or account.invite_state == "accepted":
        raise Gone("This invitation has already been used. Sign in with your e-mail address and password.",
                   code="invite_used")
    if account.archived:
        raise Gone(f"This account was archived. Ask {org.name} if you need access again.", code="invite_revoked")
    if account.invite_hash != token_hash:
        if account.invite_state == "revoked" or not account.invite_hash:
            raise Gone(f"This invitation was withdrawn by {org.name}. Ask them to send you a new one if you "
                       "still need access.", code="invite_revoked")
        raise Gone("A newer invitation was sent to you after this one, so this link no longer works. "
                   "Use the link in the most recent e-mail.", code="invite_replaced")
    if lookup.valid_until is None or lookup.valid_until <= now:
        raise Gone(f"This invitation expired on {lookup.valid_until:%-d %B %Y}. Ask {org.name} to send you a new "
                   "one: the new e-mail will have a fresh link.", code="invite_expired")
    return PendingInvite(token_hash, lookup, account, org)


def accept(token: str, raw_name: str, password: str, ip: str, user_agent: str):
    """Set name and password, use up the link, sign in (the account becomes Activated).
    Returns (cookie value, session, account)."""
    invite_ = open_invite(token)
    name = accounts.clean_name(raw_name)
    passwords.check_new_password(password)
    account = invite_.account
    account.name = name
    account.password_hash = passwords.hash_password(password)
    account.invite_state = "accepted"
    account.invite_hash = None
    now = utcnow()
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            # Both or neither: a link is used exactly once, even on a double click.
            transaction.update(invite_.lookup, actions=[Lookup.used_at.set(now)],
                               condition=Lookup.used_at.does_not_exist())
            transaction.save(account, condition=Account.invite_hash == invite_.token_hash)
    except TransactWriteError:
        raise Gone("This invitation has just been used or changed. Sign in, or use the newest invitation e-mail.",
                   code="invite_used") from None
    account = Account.get(account.org_id, account.account_id, consistent_read=True)
    activities.record(account.org_id, account.account_id, "invite_accepted", when=now)
    cookie_value, session = auth.start_session(account, ip, user_agent)
    return cookie_value, session, account


# --------------------------------------------------------------------------- bounces and complaints

def mark_suppressed(email: str, reason: str, detail: str = "") -> int:
    """Never mail `email` again (any organisation) and flag its Provisioned accounts.
    Idempotent: SNS delivers at least once. Returns the accounts flagged."""
    try:
        email = accounts.normalise_email(email)
    except ValidationError:
        return 0
    Lookup(key=suppression_key(email), org_id=GLOBAL, data={"reason": reason, "detail": detail[:500]}).save()
    flagged = 0
    keys = [(a.org_id, a.account_id) for a in Account.by_email.query(email)]
    for account in Account.batch_get(keys) if keys else []:
        if account.status == "provisioned" and account.invite_state != reason:
            account.update(actions=[Account.invite_state.set(reason)], add_version_condition=False)
            activities.record(account.org_id, account.account_id, f"invite_{reason}", detail=detail[:200] or None)
            flagged += 1
    return flagged


def handle_ses_notification(message: dict) -> List[str]:
    """An SES feedback notification (as SNS delivers it): permanent bounces and
    complaints suppress their recipients; transient bounces are left to SES's retries."""
    kind = message.get("notificationType") or message.get("eventType")
    done = []
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        for recipient in bounce.get("bouncedRecipients") or []:
            email = (recipient or {}).get("emailAddress", "")
            mark_suppressed(email, "bounced", str((recipient or {}).get("diagnosticCode", "")))
            done.append(email)
    elif kind == "Complaint":
        for recipient in (message.get("complaint") or {}).get("complainedRecipients") or []:
            email = (recipient or {}).get("emailAddress", "")
            mark_suppressed(email, "complained")
            done.append(email)
    return done


# --------------------------------------------------------------------------- organisation link and extra links

ORG_LINK_KEY = "orglink#{}"
EXTRA_LINKS_KEY = "links#{}"
MAX_EXTRA_LINKS = 50
MAX_DOMAINS = 20
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _derived_token(purpose: str, org_id: str, nonce: str) -> str:
    """Links are shown again to admins, so their tokens are derived (HMAC with
    the secret key) from a stored random nonce instead of stored themselves:
    the tables alone never reveal a working link."""
    return tokens.sign(purpose, f"{org_id}:{nonce}")


def join_url(token: str) -> str:
    return f"{config.public_url()}/join/{token}"


def extra_link_url(token: str) -> str:
    return f"{config.public_url()}/links/{token}"


def org_link_token(org: Organisation) -> Optional[str]:
    """The current account link's token, or None when it cannot be shown (it was
    made before links could be shown again: regenerate to get one)."""
    try:
        record = Lookup.get(ORG_LINK_KEY.format(org.org_id))
    except DoesNotExist:
        return None
    token = _derived_token("join-link", org.org_id, record.data.get("nonce", "") if record.data else "")
    return token if tokens.hash_token(token) == org.join_token_hash else None


def require_admin(viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins can change the organisation's links.")


def regenerate_org_link(viewer) -> str:
    """A new account link; the old one stops working at once."""
    require_admin(viewer)
    org = get_organisation(viewer.org_id)
    nonce = tokens.new_token()
    token = _derived_token("join-link", org.org_id, nonce)
    old_hash, org.join_token_hash = org.join_token_hash, tokens.hash_token(token)
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    Lookup(key=ORG_LINK_KEY.format(org.org_id), org_id=org.org_id, data={"nonce": nonce}).save()
    org.save()
    if old_hash and old_hash != org.join_token_hash:
        Lookup(key=f"join#{old_hash}").delete()
    activities.audit(org.org_id, "org_link_regenerated", viewer)
    return token


def set_org_link_enabled(viewer, enabled: bool) -> Organisation:
    require_admin(viewer)
    org = get_organisation(viewer.org_id)
    org.update(actions=[Organisation.join_enabled.set(bool(enabled))])
    activities.audit(org.org_id, "org_link_enabled" if enabled else "org_link_disabled", viewer)
    return org


def parse_domains(raw) -> List[str]:
    parts = raw if isinstance(raw, list) else _SPLIT.split(raw or "")
    domains = []
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError("Each domain must be text.", "allowed_domains")
        domain = part.strip().lower().lstrip("@")
        if not domain:
            continue
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationError(f"“{part[:60]}” is not a domain like example.org.", "allowed_domains") from None
        if not _DOMAIN.match(domain):
            raise ValidationError(f"“{part[:60]}” is not a domain like example.org.", "allowed_domains")
        if domain not in domains:
            domains.append(domain)
    if len(domains) > MAX_DOMAINS:
        raise ValidationError(f"List at most {MAX_DOMAINS} domains.", "allowed_domains")
    return domains


def set_allowed_domains(viewer, raw) -> Organisation:
    """Restrict sign-up through the links to these domains (empty: anyone)."""
    require_admin(viewer)
    domains = parse_domains(raw)
    org = get_organisation(viewer.org_id)
    org.update(actions=[Organisation.allowed_domains.set(domains)])
    activities.audit(org.org_id, "org_link_domains", viewer, domains=", ".join(domains) or "any")
    return org


@dataclass
class ExtraLink:
    link_id: str
    token: str
    label: str
    group_id: Optional[str]
    staff_id: Optional[str]
    valid_until: object
    max_uses: Optional[int]
    uses: int = 0
    group_name: str = ""
    staff_email: str = ""
    state: str = "active"

    def to_dict(self) -> dict:
        return {"link_id": self.link_id, "url": extra_link_url(self.token), "label": self.label,
                "group_id": self.group_id, "group_name": self.group_name or None, "staff_id": self.staff_id,
                "staff_email": self.staff_email or None, "valid_until": self.valid_until.isoformat(),
                "max_uses": self.max_uses, "uses": self.uses, "state": self.state}


def _links_record(org_id: str) -> Lookup:
    try:
        return Lookup.get(EXTRA_LINKS_KEY.format(org_id), consistent_read=True)
    except DoesNotExist:
        return Lookup(key=EXTRA_LINKS_KEY.format(org_id), org_id=org_id, data={})


def extra_links(viewer) -> List[ExtraLink]:
    """The organisation's extra invite links with their use counts (one Get + one BatchGet)."""
    require_team(viewer)
    record = _links_record(viewer.org_id)
    entries = dict(record.data or {})
    if not entries:
        return []
    found = []
    tokens_by_id = {link_id: _derived_token("extra-link", viewer.org_id, link_id) for link_id in entries}
    counters = {item.key: item for item in Lookup.batch_get(
        [f"link#{tokens.hash_token(t)}" for t in tokens_by_id.values()])}
    groups = {g.group_id: g.name for g in Group.query(viewer.org_id)}
    now = utcnow()
    for link_id, meta in entries.items():
        counter = counters.get(f"link#{tokens.hash_token(tokens_by_id[link_id])}")
        if counter is None:
            continue
        link = ExtraLink(link_id, tokens_by_id[link_id], meta.get("label", ""), counter.data.get("group_id"),
                         counter.data.get("staff_id"), counter.valid_until, counter.max_uses, int(counter.uses or 0),
                         groups.get(counter.data.get("group_id"), ""), counter.data.get("staff_email", ""))
        if counter.valid_until <= now:
            link.state = "expired"
        elif link.max_uses is not None and link.uses >= link.max_uses:
            link.state = "used up"
        found.append(link)
    return sorted(found, key=lambda l: l.valid_until, reverse=True)


def create_extra_link(viewer, label: str = "", group_id: Optional[str] = None, staff_id: Optional[str] = None,
                      days=7, max_uses=None) -> ExtraLink:
    """An invite link that signs people up as Clients in a group and/or a staff
    member's caseload, until it expires or has been used `max_uses` times."""
    require_admin(viewer)
    label = " ".join(str(label or "").split())[:80]
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise ValidationError("Enter a number of days from 1 to 90.", "days") from None
    if not 1 <= days <= 90:
        raise ValidationError("Enter a number of days from 1 to 90.", "days")
    if max_uses in (None, ""):
        max_uses = None
    else:
        try:
            max_uses = int(max_uses)
        except (TypeError, ValueError):
            raise ValidationError("Enter a use limit from 1 to 10,000, or leave it empty.", "max_uses") from None
        if not 1 <= max_uses <= 10_000:
            raise ValidationError("Enter a use limit from 1 to 10,000, or leave it empty.", "max_uses")
    choices = resolve_choices(viewer, "client", group_id, staff_id)
    if not choices.group_id and not choices.staff_id:
        raise ValidationError("Choose a group, a staff member, or both: for anyone else use the organisation link.",
                              "group_id")
    record = _links_record(viewer.org_id)
    if len(record.data or {}) >= MAX_EXTRA_LINKS:
        raise ValidationError(f"An organisation can have {MAX_EXTRA_LINKS} extra links: delete an old one first.",
                              "form")
    link_id = tokens.new_id()
    token = _derived_token("extra-link", viewer.org_id, link_id)
    valid_until = utcnow() + timedelta(days=days)
    counter = Lookup(key=f"link#{tokens.hash_token(token)}", org_id=viewer.org_id, valid_until=valid_until,
                     max_uses=max_uses, uses=0, expires_at=valid_until + LOOKUP_KEPT,
                     data={"group_id": choices.group_id, "staff_id": choices.staff_id,
                           "staff_email": choices.staff_email, "link_id": link_id})
    counter.save()
    # Admin-only and rare: a whole-map write is simpler than nested-path updates on a maybe-missing map.
    Lookup(key=record.key, org_id=viewer.org_id, data={**(record.data or {}), link_id: {"label": label}}).save()
    activities.audit(viewer.org_id, "invite_link_created", viewer, label=label or None)
    return ExtraLink(link_id, token, label, choices.group_id, choices.staff_id, valid_until, max_uses)


def delete_extra_link(viewer, link_id: str) -> None:
    require_admin(viewer)
    record = _links_record(viewer.org_id)
    if not link_id or link_id not in (record.data or {}):
        raise NotFound("No such link.")
    token = _derived_token("extra-link", viewer.org_id, link_id)
    Lookup(key=f"link#{tokens.hash_token(token)}").delete()
    Lookup(key=record.key, org_id=viewer.org_id,
           data={k: v for k, v in (record.data or {}).items() if k != link_id}).save()
    activities.audit(viewer.org_id, "invite_link_deleted", viewer)


@dataclass
class OpenLink:
    org: Organisation
    counter: Lookup


def open_extra_link(token: str, now=None) -> OpenLink:
    now = now or utcnow()
    missing = NotFound("This sign-up link is not valid. Ask your organisation for a new one.", code="link_invalid")
    if not token or len(token) > 100:
        raise missing
    try:
        counter = Lookup.get(f"link#{tokens.hash_token(token)}", consistent_read=True)
    except DoesNotExist:
        raise missing from None
    org = get_organisation(counter.org_id)
    if counter.valid_until <= now:
        raise Gone(f"This sign-up link expired on {counter.valid_until:%-d %B %Y}. Ask {org.name} for a new one.",
                   code="link_expired")
    if counter.max_uses is not None and (counter.uses or 0) >= counter.max_uses:
        raise Gone(f"This sign-up link has been used as many times as {org.name} allowed. Ask them for a new one.",
                   code="link_used_up")
    return OpenLink(org, counter)


def sign_up_with_link(token: str, raw_name: str, raw_email: str, password: str, ip: str, user_agent: str):
    """Sign-up through an extra link: a Client in the link's group/caseload. The use
    is counted in the same transaction as the account, so the limit holds under races."""
    link = open_extra_link(token)
    org, counter = link.org, link.counter
    name = accounts.clean_name(raw_name)
    email = accounts.normalise_email(raw_email)
    domain = email.rsplit("@", 1)[1]
    if org.allowed_domains and domain not in org.allowed_domains:
        raise ValidationError(f"Sign-up is limited to addresses at {', '.join(org.allowed_domains)}.", "email")
    passwords.check_new_password(password)
    data = counter.data or {}
    account = accounts.new_account(org.org_id, email, name, "client", password_hash=passwords.hash_password(password),
                                   created_by="invite_link", group_id=data.get("group_id"),
                                   staff_id=data.get("staff_id"), staff_email=data.get("staff_email"))
    claim = Lookup(key=accounts.email_lookup_key(org.org_id, email), org_id=org.org_id, account_id=account.account_id)
    limit = Lookup.max_uses.does_not_exist() | (Lookup.uses < Lookup.max_uses)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            transaction.save(claim, condition=Lookup.key.does_not_exist())
            transaction.save(account, condition=Account.account_id.does_not_exist())
            transaction.update(counter, actions=[Lookup.uses.add(1)], condition=Lookup.key.exists() & limit)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raise Conflict("An account with this e-mail already exists. Sign in instead.", "email",
                           code="email_taken") from None
        raise Gone(f"This sign-up link has been used as many times as {org.name} allowed. Ask them for a new one.",
                   code="link_used_up") from None
    activities.record(org.org_id, account.account_id, "created", None, role="client", via="invite link")
    cookie_value, session = auth.start_session(account, ip, user_agent)
    return cookie_value, session, account
