"""Sign-up links: the organisation account link (shown again,
regenerated, turned off, limited to email domains) and extra links tied to a
group and/or staff member, with an expiry and a use limit."""
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.activity import timeline
from chalicelib.core.errors import Gone, NotFound, ValidationError
from chalicelib.core.models import ExtraLinkEntry, LinkPlacement, Lookup, Organisation, utcnow
from chalicelib.core.tokens import hash_token, new_id, new_token
from chalicelib.people import organisations

MAX_DOMAINS = 20
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def join_link_token(org: Organisation) -> Optional[str]:
    """The current link's token; None if it cannot be shown (the secret key changed): regenerate."""
    token = organisations.link_token(org.org_id, org.join_nonce) if org.join_nonce else None
    return token if token and hash_token(token) == org.join_token_hash else None


def regenerate_join_link(org: Organisation, actor=None) -> str:
    """A new link; the old one stops working at once."""
    org.join_nonce = new_token()
    token = organisations.link_token(org.org_id, org.join_nonce)
    old_hash, org.join_token_hash = org.join_token_hash, hash_token(token)
    Lookup(key=f"join#{org.join_token_hash}", org_id=org.org_id).save()
    org.save()
    if old_hash:
        Lookup(key=f"join#{old_hash}").delete()
    if actor:
        timeline.audit(org.org_id, "join_link_regenerated", actor)
    return token


def set_join_enabled(org: Organisation, enabled: bool, actor=None) -> None:
    org.update(actions=[Organisation.join_enabled.set(enabled)])
    if actor:
        timeline.audit(org.org_id, "join_link_enabled" if enabled else "join_link_disabled", actor)


def set_allowed_domains(org: Organisation, raw: str, actor=None) -> list:
    """Self sign-up limited to these email domains (none: any domain)."""
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
    if actor:
        timeline.audit(org.org_id, "join_link_domains", actor, domains=", ".join(domains) or "any")
    return domains


# Extra sign-up links: tied to a group and/or staff member, with an expiry and a use limit.

MAX_EXTRA_LINKS = 50
MAX_LINK_DAYS = 90
MAX_LINK_USES = 10_000


@dataclass
class JoinLink:
    """Where a sign-up link leads: the organisation, and the extra link's Lookup if it is one."""
    org: Organisation
    extra: Optional[Lookup] = None

    @property
    def group_id(self) -> Optional[str]:
        return self.extra.placement.group_id if self.extra and self.extra.placement else None

    @property
    def staff_id(self) -> Optional[str]:
        return self.extra.placement.staff_id if self.extra and self.extra.placement else None


def join_link(token: str) -> JoinLink:
    """The link behind a token; NotFound when wrong or turned off, Gone when expired or used up."""
    missing = NotFound("This sign-up link is not valid. Ask your organisation for a new one.", code="link_invalid")
    if not token or len(token) > 100:
        raise missing
    return join_link_by_hash(hash_token(token))


def join_link_by_hash(token_hash: str) -> JoinLink:
    """`join_link` from the token's stored hash (a pending sign-up keeps only the hash)."""
    missing = NotFound("This sign-up link is not valid. Ask your organisation for a new one.", code="link_invalid")
    try:
        lookup = Lookup.get(f"join#{token_hash}")
        org = Organisation.get(lookup.org_id)
    except DoesNotExist:
        raise missing from None
    if lookup.target_id:
        if lookup.valid_until and lookup.valid_until <= utcnow():
            raise Gone("This sign-up link has expired. Ask your organisation for a new one.", code="link_expired")
        if lookup.max_uses and lookup.uses >= lookup.max_uses:
            raise Gone("This sign-up link has been used as many times as it allows. Ask your organisation "
                       "for a new one.", code="link_used_up")
        return JoinLink(org, lookup)
    if org.join_token_hash != token_hash or not org.join_enabled:
        raise missing
    return JoinLink(org)


def use_extra_link(link: JoinLink) -> None:
    """Count one sign-up against the link's limit, atomically (two people cannot take the last use)."""
    if not link.extra:
        return
    condition = Lookup.uses < link.extra.max_uses if link.extra.max_uses else None
    try:
        link.extra.update(actions=[Lookup.uses.add(1)], condition=condition)
    except UpdateError:
        raise Gone("This sign-up link has been used as many times as it allows.", code="link_used_up") from None


def create_extra_link(org: Organisation, created_by: str, group_id: str = "", staff_id: str = "",
                      days: str = "7", max_uses: str = "", actor=None) -> str:
    """A new extra link; returns its token. Group and staff are checked by the caller's domain."""
    if len(org.extra_links) >= MAX_EXTRA_LINKS:
        raise ValidationError(f"An organisation can have at most {MAX_EXTRA_LINKS} extra links.", "days")
    problems, checked = {}, {}
    for name, check in (("target", lambda: _check_target(org.org_id, group_id, staff_id)),
                        ("days", lambda: _bounded(days, "days", 1, MAX_LINK_DAYS, required=True)),
                        ("max_uses", lambda: _bounded(max_uses, "max_uses", 1, MAX_LINK_USES, required=False))):
        try:
            checked[name] = check()
        except ValidationError as error:  # every bad field at once
            problems.update(error.problems)
    if problems:
        raise ValidationError.of(problems)
    valid_days, uses = checked["days"], checked["max_uses"]
    link_id, nonce = new_id(), new_token()
    token = organisations.link_token(org.org_id, nonce)
    valid_until = utcnow() + timedelta(days=valid_days)
    placement = LinkPlacement(group_id=group_id or None, staff_id=staff_id or None)
    Lookup(key=f"join#{hash_token(token)}", org_id=org.org_id, target_id=link_id, valid_until=valid_until,
           max_uses=uses, placement=placement, expires_at=valid_until + timedelta(days=30)).save()
    org.update(actions=[Organisation.extra_links[link_id].set(ExtraLinkEntry(
        nonce=nonce, valid_until=valid_until.isoformat(), max_uses=uses or 0, created_by=created_by,
        group_id=group_id or None, staff_id=staff_id or None))])
    if actor:
        timeline.audit(org.org_id, "extra_link_created", actor, target_id=link_id,
                       target=f"Link until {valid_until:%d %b %Y}",
                       days=valid_days, max_uses=uses, group_id=group_id or None, staff_id=staff_id or None)
    return token


def extra_links(org: Organisation) -> list:
    """The extra links with their tokens and how often each was used, newest expiry first."""
    entries = org.extra_links
    if not entries:
        return []
    hashes = {link_id: hash_token(organisations.link_token(org.org_id, e.nonce)) for link_id, e in entries.items()}
    uses = {item.target_id: item.uses for item in Lookup.batch_get([f"join#{h}" for h in hashes.values()])}
    links = [{"link_id": link_id, "token": organisations.link_token(org.org_id, e.nonce), "uses": uses.get(link_id, 0),
              "valid_until": e.valid_until, "max_uses": int(e.max_uses or 0), "group_id": e.group_id,
              "staff_id": e.staff_id, "expired": e.valid_until <= utcnow().isoformat()} for link_id, e in entries.items()]
    return sorted(links, key=lambda link: link["valid_until"], reverse=True)


def revoke_extra_link(org: Organisation, link_id: str, actor=None) -> None:
    entry = org.extra_links.get(link_id)
    if not entry:
        raise NotFound("No such link.")
    Lookup(key=f"join#{hash_token(organisations.link_token(org.org_id, entry.nonce))}").delete()
    org.update(actions=[Organisation.extra_links[link_id].remove()])
    if actor:
        timeline.audit(org.org_id, "extra_link_revoked", actor,
                       target_id=link_id, target=f"Link until {entry.valid_until[:10]}")


def forget_group(org_id: str, group_id: str) -> int:
    """A deleted group's extra links keep working, without the group: people who
    sign up through them are no longer put in it. Returns how many links changed
    (at most MAX_EXTRA_LINKS: one read of the organisation, two writes per link)."""
    org = organisations.get_organisation(org_id)
    changed = 0
    for link_id, entry in org.extra_links.items():
        if entry.group_id != group_id:
            continue
        token_hash = hash_token(organisations.link_token(org_id, entry.nonce))
        try:
            Lookup(key=f"join#{token_hash}").update(actions=[Lookup.placement.group_id.remove()],
                                                    condition=Lookup.key.exists())
        except UpdateError:
            pass  # the link was revoked meanwhile
        try:
            org.update(actions=[Organisation.extra_links[link_id]["group_id"].remove()],
                       condition=Organisation.extra_links[link_id].exists())
        except UpdateError:
            continue
        changed += 1
    return changed


def _check_target(org_id: str, group_id: str, staff_id: str) -> None:
    from chalicelib.core.models import Account, Group

    problems = {}
    if group_id:
        try:
            if Group.get(org_id, group_id).deleting:
                raise DoesNotExist()
        except DoesNotExist:
            problems["group_id"] = "Choose one of your groups."
    if staff_id:
        try:
            if Account.get(org_id, staff_id).role != "staff":
                raise DoesNotExist()
        except DoesNotExist:
            problems["staff_id"] = "Choose one of your staff members."
    if problems:
        raise ValidationError.of(problems)


def _bounded(raw, field: str, low: int, high: int, required: bool) -> Optional[int]:
    text = str(raw or "").strip()
    if not text and not required:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"Enter a whole number from {low} to {high:,}.", field) from None
    if not low <= value <= high:
        raise ValidationError(f"Enter a whole number from {low} to {high:,}.", field)
    return value
