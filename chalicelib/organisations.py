"""Organisations and their account link (SPEC 4.1)."""
from typing import Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import NotFound
from chalicelib.models import Lookup, Organisation
from chalicelib.tokens import hash_token, new_id, new_token


def create_organisation(name: str) -> Tuple[Organisation, str]:
    """A new organisation with an account link; returns it and the link's token."""
    org = Organisation(org_id=new_id(), name=name)
    token = new_token()
    org.join_token_hash = hash_token(token)
    org.save()
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    return org, token


def get_organisation(org_id: str) -> Organisation:
    try:
        return Organisation.get(org_id)
    except DoesNotExist:
        raise NotFound("No such organisation.") from None


def regenerate_join_link(org: Organisation) -> str:
    """A new link; the old one stops working at once."""
    token = new_token()
    old_hash, org.join_token_hash = org.join_token_hash, hash_token(token)
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    org.save()
    if old_hash:
        Lookup(key=f"join#{old_hash}").delete()
    return token


def organisation_for_join_token(token: str) -> Organisation:
    """The organisation whose account link this is; NotFound when wrong or turned off."""
    missing = NotFound("This sign-up link is not valid. Ask your organisation for a new one.", code="link_invalid")
    if not token or len(token) > 100:
        raise missing
    token_hash = hash_token(token)
    try:
        org = Organisation.get(Lookup.get(f"join#{token_hash}").org_id)
    except DoesNotExist:
        raise missing from None
    if org.join_token_hash != token_hash or not org.join_enabled:
        raise missing
    return org
