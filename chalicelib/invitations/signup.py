"""Signing up through a sign-up link: a new Client of the link's organisation,
placed in the link's group and caseload."""
from typing import Tuple

from chalicelib.core.errors import Conflict, ValidationError
from chalicelib.core.models import Account, Session
from chalicelib.invitations import links
from chalicelib.people import accounts, auth, passwords


def sign_up(link: links.JoinLink, raw_name: str, raw_email: str, password: str, ip: str,
            user_agent: str) -> Tuple[str, Session, Account]:
    """A new Client through a sign-up link (placed in the link's group and caseload), signed in at once."""
    org = link.org
    name = accounts.clean_name(raw_name)
    email = accounts.normalise_email(raw_email)
    domain = email.rsplit("@", 1)[1]
    if org.allowed_domains and domain not in org.allowed_domains:
        raise ValidationError(f"Sign-up is limited to addresses at {', '.join(org.allowed_domains)}.", "email")
    passwords.check_new_password(password)
    staff = accounts.get_account(org.org_id, link.staff_id) if link.staff_id else None
    account = accounts.new_account(org.org_id, email, name, "client",
                                   password_hash=passwords.hash_password(password), created_by="join_link",
                                   group_id=link.group_id, staff_id=staff.account_id if staff else None,
                                   staff_email=staff.email if staff else None)
    if accounts.find_by_email(org.org_id, email):
        raise Conflict("An account with this e-mail already exists. Sign in instead.", "email", code="email_taken")
    links.use_extra_link(link)
    try:
        accounts.create_account(account)
    except Conflict:
        raise Conflict("An account with this e-mail already exists. Sign in instead.", "email",
                       code="email_taken") from None
    cookie_value, session = auth.start_session(account, ip, user_agent)
    return cookie_value, session, account
