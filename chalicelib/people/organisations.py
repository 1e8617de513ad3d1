"""Organisations: creating one (with its account link) and finding it."""
from typing import Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import tokens
from chalicelib.core.errors import NotFound
from chalicelib.core.models import Lookup, Organisation
from chalicelib.core.tokens import hash_token, new_id, new_token


def link_token(org_id: str, nonce: str) -> str:
    """The account link's token, derived from a stored random nonce with the app's
    secret, so admins can see the link again while only its hash is looked up."""
    return tokens.sign("join-link", f"{org_id}|{nonce}")


def get_organisation(org_id: str) -> Organisation:
    try:
        return Organisation.get(org_id)
    except DoesNotExist:
        raise NotFound("No such organisation.") from None


def create_organisation(name: str) -> Tuple[Organisation, str]:
    """A new organisation with an account link; returns it and the link's token."""
    org = Organisation(org_id=new_id(), name=name)
    org.join_nonce = new_token()
    token = link_token(org.org_id, org.join_nonce)
    org.join_token_hash = hash_token(token)
    org.save()
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    return org, token
