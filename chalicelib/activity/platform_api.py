"""Activities that other platform modules record for a person (POST /api/v1/activities).

An activity counts as a visit: it moves the person's last visit (never
backwards) and their active days, so Engagement follows through the stream.

Idempotency: the Idempotency-Key, the activity and the visit are written in one
DynamoDB transaction, the key holding a SHA-256 of the request body and the
answer given. So a retry after any crash either finds nothing (and records
the activity once) or finds the key (and gets the original answer, marked
`duplicate`); the same key with another body is refused (422), never
silently taken for a duplicate.
"""
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.activity.api_keys import Caller
from chalicelib.core import aws
from chalicelib.core.errors import NotFound, ValidationError
from chalicelib.core.models import IdempotencyKey, utcnow
from chalicelib.people import accounts

KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_DESCRIPTION = 500
OLDEST = timedelta(days=90)
CLOCK_SKEW = timedelta(minutes=5)
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
REMEMBER_KEYS = timedelta(days=1)  # a key answers with its original response this long


@dataclass
class Recorded:
    account_id: str
    kind: str
    occurred_at: datetime
    duplicate: bool

    def as_dict(self) -> dict:
        return {"account_id": self.account_id, "kind": self.kind, "occurred_at": self.occurred_at.isoformat(),
                "duplicate": self.duplicate}


def _occurred_at(raw) -> datetime:
    now = utcnow()
    if raw in (None, ""):
        return now
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        moment.astimezone(timezone.utc)  # year 1 or 9999 with an offset overflows
    except (ValueError, OverflowError):
        raise ValidationError("Use an ISO 8601 time, e.g. 2026-11-29T09:30:00Z.", field="occurred_at",
                              code="invalid_time") from None
    if moment.tzinfo is None:
        raise ValidationError("Give the time zone, e.g. a trailing Z for UTC.", field="occurred_at",
                              code="invalid_time")
    moment = moment.astimezone(timezone.utc)
    if moment > now + CLOCK_SKEW or moment < now - OLDEST:
        raise ValidationError("The time must be within the last 90 days.", field="occurred_at", code="invalid_time")
    return moment


def payload_hash(body: dict) -> str:
    """SHA-256 of the body's fields that carry a value (an omitted field and a null are the same request)."""
    given = {k: v for k, v in body.items() if v not in (None, "")}
    return hashlib.sha256(json.dumps(given, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _replay(org_id: str, idempotency_key: str, digest: str) -> Optional[Recorded]:
    """The original answer for a key already used with this body; 422 for another body."""
    try:
        item = IdempotencyKey.get(f"{org_id}#{idempotency_key}", consistent_read=True)
    except DoesNotExist:
        return None
    if item.created_at + REMEMBER_KEYS <= utcnow():
        return None  # older than the promised window: a new request
    if item.payload_hash != digest:
        error = ValidationError("This Idempotency-Key was already used with a different request body: "
                                "use a new key for a new activity.", field="Idempotency-Key", code="idempotency_mismatch")
        error.status = 422
        raise error
    original = item.response
    return Recorded(original["account_id"], original["kind"], datetime.fromisoformat(original["occurred_at"]),
                    duplicate=True)


def record(caller: Caller, body: dict, idempotency_key: Optional[str] = None) -> Recorded:
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValidationError("Idempotency-Key: 1–100 letters, digits or _.:-", field="Idempotency-Key")
    digest = payload_hash(body)
    if idempotency_key is not None:
        replayed = _replay(caller.org_id, idempotency_key, digest)
        if replayed:
            return replayed
    kind = str(body.get("kind") or "")
    if not KIND.match(kind):
        raise ValidationError("kind: a lower-case name of at most 40 letters, digits or _, e.g. course_completed.",
                              field="kind", code="invalid_kind")
    description = str(body.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION or any(ord(ch) < 32 and ch not in "\n\t" for ch in description):
        raise ValidationError(f"description: at most {MAX_DESCRIPTION} characters of text.", field="description")
    when = _occurred_at(body.get("occurred_at"))
    account = _target(caller.org_id, body)
    recorded = Recorded(account.account_id, kind, when, duplicate=False)
    activity = timeline.new_activity(caller.org_id, account.account_id, "activity", None, when, activity=kind,
                                     description=description or None, source=caller.label or "API")
    visit = accounts.visit_fields(account, when)
    try:
        with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
            if idempotency_key is not None:
                transaction.save(IdempotencyKey(
                    key=f"{caller.org_id}#{idempotency_key}", org_id=caller.org_id, payload_hash=digest,
                    response={**recorded.as_dict(), "duplicate": False}, created_at=utcnow(),
                    expires_at=utcnow() + REMEMBER_KEYS),
                    # A key past its window is a new request even before TTL has removed its item.
                    condition=IdempotencyKey.key.does_not_exist() | (IdempotencyKey.created_at < utcnow() - REMEMBER_KEYS))
            transaction.save(activity)
            accounts.stage(transaction, account, check_version=False, **visit)  # the visit, as record_visit
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if idempotency_key is not None and reasons and reasons[0] is not None \
                and reasons[0].code == "ConditionalCheckFailed":
            replayed = _replay(caller.org_id, idempotency_key, digest)  # the same key, concurrently
            if replayed:
                return replayed
        raise
    return recorded


def _target(org_id: str, body: dict):
    account_id, email = body.get("account_id"), body.get("email")
    if bool(account_id) == bool(email):
        raise ValidationError("Give exactly one of account_id or email.", field="account_id", code="missing_account")
    if email:
        found = accounts.find_by_email(org_id, accounts.normalise_email(str(email)))
        if found is None:
            raise NotFound("No account with this email in your organisation.")
        return _active(found)
    if not re.match(r"^[0-9a-f]{32}$", str(account_id)):
        raise NotFound("No such account.")
    return _active(accounts.get_account(org_id, str(account_id)))


def _active(account):
    """Activities count as engagement: only for people who have activated their account and are not archived."""
    if account.status != "activated":
        raise ValidationError(f"This account is {account.status}: activities are recorded only for activated "
                              "accounts.", field="account_id", code="account_not_active")
    return account
