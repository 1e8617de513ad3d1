"""JSON API: the signed-in account."""
from typing import Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.core.models import ROLES, STATUSES
from chalicelib.people import accounts
from chalicelib.people.accounts import NAME_MAX
from chalicelib.web import api
from chalicelib.web.api import Body, Email, Reply
from chalicelib.web.guard import viewer

bp = Blueprint(__name__)
EVERYONE = ROLES


class Me(Reply):
    account_id: str
    org_id: str
    name: str
    email: Email
    role: Literal[ROLES]
    status: Literal[STATUSES]

    @classmethod
    def of(cls, account) -> "Me":
        return cls(account_id=account.account_id, org_id=account.org_id, name=account.name, email=account.email,
                   role=account.role, status=account.status)


class Rename(Body):
    name: str = Field(max_length=NAME_MAX, description="Your name as others see it")


@api.route(bp, "/api/v1/me", roles=EVERYONE, summary="The signed-in account", reply=Me)
def me():
    you = viewer()
    return Me.of(accounts.get_account(you.org_id, you.account_id))


@api.route(bp, "/api/v1/me", "PATCH", roles=EVERYONE, summary="Change your own name", body=Rename, reply=Me)
def rename_me(body: Rename):
    return Me.of(accounts.rename_self(viewer(), body.name))
