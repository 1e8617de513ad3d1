"""Organisation API keys: how other platform modules record activities.

A key is shown once; only its SHA-256 is kept, as a Lookup item (found in one
GetItem when a request presents it) and in the organisation's list (what the
admin page shows and what revoking removes), both written in one transaction.
"""
from dataclasses import dataclass

from pynamodb.transactions import TransactWrite

from chalicelib.activity import timeline
from chalicelib.core import aws
from chalicelib.core.errors import Forbidden, NotFound, Unauthenticated, ValidationError
from chalicelib.core.models import ApiKeyEntry, Lookup, Organisation, utcnow
from chalicelib.core.tokens import hash_token, new_id, new_token
from chalicelib.people import organisations
from chalicelib.people.accounts import Viewer, clean_name

PREFIX = "cl_"
MAX_KEYS = 20


@dataclass
class ApiKey:
    key_id: str
    label: str
    hint: str
    created_at: str
    created_by: str


@dataclass
class Caller:
    """Who is calling with a key: the organisation and the key's label."""
    org_id: str
    key_id: str
    label: str


def list_keys(org_id: str) -> list:
    org = organisations.get_organisation(org_id)
    keys = [ApiKey(key_id, entry.label, entry.hint, entry.created_at, entry.created_by)
            for key_id, entry in org.api_keys.items()]
    return sorted(keys, key=lambda k: k.created_at, reverse=True)


def create_key(viewer: Viewer, raw_label: str) -> tuple:
    """A new key for the viewer's organisation: (ApiKey, the secret, shown only now)."""
    if not viewer.is_admin:
        raise Forbidden("Only admins manage API keys.")
    label = clean_name(raw_label, field="label")
    if len(list_keys(viewer.org_id)) >= MAX_KEYS:
        raise ValidationError(f"An organisation can have at most {MAX_KEYS} keys. Revoke one first.", field="label",
                              code="too_many_keys")
    secret = PREFIX + new_token()
    key = ApiKey(new_id(), label, secret[:len(PREFIX) + 4] + "…", utcnow().isoformat(), viewer.name or viewer.email)
    digest = hash_token(secret)
    org = Organisation(org_id=viewer.org_id)
    with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
        transaction.save(Lookup(key=f"apikey#{digest}", org_id=viewer.org_id, target_id=key.key_id, label=label),
                         condition=Lookup.key.does_not_exist())
        transaction.update(org, actions=[Organisation.api_keys[key.key_id].set(ApiKeyEntry(
            label=label, hint=key.hint, created_at=key.created_at, created_by=key.created_by, hash=digest))],
            condition=Organisation.org_id.exists())
    timeline.audit(viewer.org_id, "api_key_created", viewer, target_id=key.key_id, target=label, hint=key.hint)
    return key, secret


def revoke_key(viewer: Viewer, key_id: str) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only admins manage API keys.")
    org = organisations.get_organisation(viewer.org_id)
    entry = org.api_keys.get(key_id)
    if not entry:
        raise NotFound("No such API key.")
    with TransactWrite(connection=aws.dynamodb_connection()) as transaction:
        transaction.delete(Lookup(key=f"apikey#{entry.hash}"))
        transaction.update(org, actions=[Organisation.api_keys[key_id].remove()])
    timeline.audit(viewer.org_id, "api_key_revoked", viewer, target_id=key_id, target=entry.label)


def authenticate(authorization: str) -> Caller:
    """The caller behind an `Authorization: Bearer <key>` header, or 401."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.startswith(PREFIX):
        raise Unauthenticated("Send an organisation API key as 'Authorization: Bearer <key>'.")
    try:
        found = Lookup.get(f"apikey#{hash_token(secret.strip())}")
    except Lookup.DoesNotExist:
        raise Unauthenticated("This API key is not valid or was revoked.") from None
    return Caller(found.org_id, found.target_id, found.label or "")
