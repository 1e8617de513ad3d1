"""Signing up through a sign-up link, in two steps: the form sends a single-use verification link
to the address; using it creates the Client (in the link's group and caseload) and signs them in.

Nothing is created, activated or signed in until the address is proven. The organisation's
allowed-domains rule is applied to that verified address (again at verification, in case it
changed). An address that already has an account gets the same page, and an email telling its
owner to sign in instead: the page never says whether an address is known.
"""
from dataclasses import dataclass
from datetime import timedelta
from typing import Tuple

from chalicelib.core import single_use, urls
from chalicelib.core.errors import Conflict, Gone, Problems, ValidationError
from chalicelib.core.models import Account, Lookup, PendingSignup, Session
from chalicelib.core.tokens import hash_token
from chalicelib.invitations import links, mailer
from chalicelib.people import accounts, auth, passwords, throttle

VERIFY_FOR = timedelta(hours=24)
INVALID = "This confirmation link is not valid. Sign up again from your organisation's link."
WORDS = single_use.Words(
    invalid=INVALID, used="This confirmation link has already been used. Sign in instead.",
    expired="This confirmation link has expired. Sign up again from your organisation's link.")


@dataclass(frozen=True)
class Pending:
    """A sign-up waiting for its address to be confirmed."""
    lookup: Lookup
    org_name: str

    @property
    def email(self) -> str:
        return self.lookup.signup.email

    @property
    def name(self) -> str:
        return self.lookup.signup.name


def _check_domain(org, email: str) -> None:
    domain = email.rsplit("@", 1)[1]
    if org.allowed_domains and domain not in org.allowed_domains:
        raise ValidationError(f"Sign-up is limited to addresses at {', '.join(org.allowed_domains)}.", "email",
                              code="domain_not_allowed")


def start_sign_up(link: links.JoinLink, join_token: str, raw_name: str, raw_email: str, password: str,
                  ip: str) -> str:
    """Check the form (every field's problem at once) and email the address: a confirmation link, or
    (known address) a note to sign in. Returns the address the page names; the answer, and the time it
    takes, are the same whether it is known or not. TooManyRequests when this address or client (`ip`)
    asked for too many emails (see throttle)."""
    org = link.org
    problems = Problems()
    name = problems.check(accounts.clean_name, raw_name)
    email = problems.check(accounts.normalise_email, raw_email)
    if email:
        problems.check(_check_domain, org, email)
    problems.check(passwords.check_new_password, password)
    problems.raise_any()
    throttle.count_email(email, ip)
    # Hashed whether or not the address is known, so the time of the answer does not say which.
    password_hash = passwords.hash_password(password)
    if accounts.find_by_email(org.org_id, email):
        mailer.send_one(email, "signup_exists", org_name=org.name, link=urls.absolute("/signin"))
        return email
    token, valid_until = single_use.issue("signup", org.org_id, VERIFY_FOR, signup=PendingSignup(
        name=name, email=email, password_hash=password_hash, join_hash=hash_token(join_token)))
    mailer.send_one(email, "signup_verify", name=name, org_name=org.name,
                    link=urls.absolute(f"/signup/confirm/{token}"),
                    expires_on=valid_until.strftime("%-d %B %Y at %H:%M UTC"))
    return email


def open_pending(token: str) -> Pending:
    """The sign-up behind a confirmation link; NotFound when unknown, Gone when used or expired."""
    lookup = single_use.open_link("signup", token, WORDS)
    from chalicelib.people import organisations

    return Pending(lookup, organisations.get_organisation(lookup.org_id).name)


def confirm(token: str, ip: str, user_agent: str) -> Tuple[str, Session, Account]:
    """Use the confirmation link (once): create the Client and start their session."""
    pending = open_pending(token)
    lookup = pending.lookup
    link = links.join_link_by_hash(lookup.signup.join_hash)  # still on, not expired or used up
    email = pending.email
    _check_domain(link.org, email)
    single_use.use(lookup, WORDS)
    staff = accounts.get_account(link.org.org_id, link.staff_id) if link.staff_id else None
    account = accounts.new_account(link.org.org_id, email, pending.name, "client",
                                   password_hash=lookup.signup.password_hash, created_by="join_link",
                                   group_id=link.group_id, staff_id=staff.account_id if staff else None,
                                   staff_email=staff.email if staff else None)
    links.use_extra_link(link)
    try:
        accounts.create_account(account)
    except Conflict:
        raise Gone("An account with this email already exists. Sign in instead.", code="email_taken") from None
    cookie_value, session = auth.start_session(account, ip, user_agent)
    return cookie_value, session, account
