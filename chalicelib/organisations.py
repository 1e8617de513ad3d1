"""Organisations and their account link (SPEC 4.1)."""
import re
from typing import Optional, Tuple

from pynamodb.exceptions import DoesNotExist

from chalicelib import tokens
from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import Lookup, Organisation
from chalicelib.tokens import hash_token, new_id, new_token

MAX_DOMAINS = 20
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _link_token(org_id: str, nonce: str) -> str:
    """The account link's token, derived from a stored random nonce with the app's
    secret, so admins can see the link again while only its hash is looked up."""
    return tokens.sign("join-link", f"{org_id}|{nonce}")


def create_organisation(name: str) -> Tuple[Organisation, str]:
    """A new organisation with an account link; returns it and the link's token."""
    org = Organisation(org_id=new_id(), name=name)
    org.join_nonce = new_token()
    token = _link_token(org.org_id, org.join_nonce)
    org.join_token_hash = hash_token(token)
    org.save()
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    return org, token


def join_link_token(org: Organisation) -> Optional[str]:
    """The current link's token; None if it cannot be shown (the secret key changed): regenerate."""
    token = _link_token(org.org_id, org.join_nonce) if org.join_nonce else None
    return token if token and hash_token(token) == org.join_token_hash else None


def get_organisation(org_id: str) -> Organisation:
    try:
        return Organisation.get(org_id)
    except DoesNotExist:
        raise NotFound("No such organisation.") from None


def regenerate_join_link(org: Organisation) -> str:
    """A new link; the old one stops working at once."""
    org.join_nonce = new_token()
    token = _link_token(org.org_id, org.join_nonce)
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


def set_join_enabled(org: Organisation, enabled: bool) -> None:
    org.update(actions=[Organisation.join_enabled.set(enabled)])


def set_allowed_domains(org: Organisation, raw: str) -> list:
    """Self sign-up limited to these e-mail domains (none: any domain)."""
    domains = []
    for part in re.split(r"[\s,;]+", (raw or "").strip().lower()):
        domain = part.lstrip("@")
        if not domain:
            continue
        if len(domain) > 253 or not _DOMAIN.match(domain):
            raise ValidationError(f"'{domain[:60]}' is not a domain like example.org.", "domains",
                                  code="invalid_domain")
        if domain not in domains:
            domains.append(domain)
    if len(domains) > MAX_DOMAINS:
        raise ValidationError(f"List at most {MAX_DOMAINS} domains.", "domains", code="invalid_domain")
    org.update(actions=[Organisation.allowed_domains.set(domains)])
    return domains
