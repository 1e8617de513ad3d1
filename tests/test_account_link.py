"""The organisation account link in the Invite Users window: shown again, copied, regenerated, turned off, limited to domains."""
import re

import pytest

from tests.conftest import PASSWORD, Http, join_and_confirm

SIGN_UP = {"mode": "signup", "name": "New Person", "password": PASSWORD}


def _link(http) -> str:
    page = http.get("/invite").body.decode()
    return re.search(r'id="account-link-url" type="text" readonly value="[^"]*/join/([^"]+)"', page).group(1)


def _admin(chalice_client, org) -> Http:
    http = Http(chalice_client)
    http.sign_in(org.admin)
    return http


def test_admins_see_the_same_link_again(chalice_client, org):
    http = _admin(chalice_client, org)
    assert _link(http) == org.join_token
    assert _link(http) == org.join_token


def test_regenerating_kills_the_old_link_at_once(chalice_client, org):
    http = _admin(chalice_client, org)
    response = http.post_form("/invite/link/regenerate", {"csrf_token": http.csrf("/invite")})
    assert response.status_code == 303
    new = _link(http)
    assert new != org.join_token
    visitor = Http(chalice_client)
    assert visitor.get(f"/join/{org.join_token}").status_code == 404
    assert visitor.get(f"/join/{new}").status_code == 200


def test_turning_the_link_off_and_on(chalice_client, org):
    http = _admin(chalice_client, org)
    http.post_form("/invite/link/enabled", {"enabled": "0", "csrf_token": http.csrf("/invite")})
    assert "The link is turned off" in http.get("/invite").body.decode()
    assert Http(chalice_client).get(f"/join/{org.join_token}").status_code == 404
    http.post_form("/invite/link/enabled", {"enabled": "1", "csrf_token": http.csrf("/invite")})
    assert Http(chalice_client).get(f"/join/{org.join_token}").status_code == 200


def test_sign_up_limited_to_listed_domains(chalice_client, org):
    http = _admin(chalice_client, org)
    saved = http.post_form("/invite/link/domains", {"domains": "@Example.org, partner.org example.org",
                                                     "csrf_token": http.csrf("/invite")})
    assert saved.status_code == 303
    assert 'value="example.org, partner.org"' in http.get("/invite").body.decode()
    visitor = Http(chalice_client)
    refused = join_and_confirm(visitor, org.join_token, {**SIGN_UP, "email": "someone@elsewhere.net"})
    assert refused.status_code == 400 and "limited to addresses at example.org, partner.org" in refused.body.decode()
    accepted = join_and_confirm(Http(chalice_client), org.join_token, {**SIGN_UP, "email": "new@partner.org"})
    assert accepted.status_code == 303


@pytest.mark.parametrize("domains", ["not a domain", "exa mple", "x" * 300 + ".org", "-bad-.org", "a.b"])
def test_bad_domains_get_an_error_next_to_the_field(chalice_client, org, domains):
    http = _admin(chalice_client, org)
    response = http.post_form("/invite/link/domains", {"domains": domains, "csrf_token": http.csrf("/invite")})
    page = response.body.decode()
    assert response.status_code == 400 and 'id="f-domains-error"' in page
    visitor = Http(chalice_client)
    assert join_and_confirm(visitor, org.join_token, {**SIGN_UP, "email": "any@where.net"}).status_code == 303


def test_only_admins_change_the_link_and_only_with_a_csrf_token(chalice_client, org):
    staff = Http(chalice_client)
    staff.sign_in(org.staff)
    assert staff.post_form("/invite/link/regenerate", {"csrf_token": staff.csrf("/invite")}).status_code == 403
    assert 'id="account-link-url"' in staff.get("/invite").body.decode()  # staff may copy it
    http = _admin(chalice_client, org)
    assert http.post_form("/invite/link/regenerate", {}, csrf=False).status_code == 403
    assert _link(http) == org.join_token


def _extra_links(http) -> list:
    page = http.get("/invite").body.decode()
    return re.findall(r'id="extra-[0-9a-f]+" type="text" readonly value="[^"]*/join/([^"]+)"', page)


def test_an_extra_link_places_people_and_stops_at_its_limit(chalice_client, org, group):
    from chalicelib.core.models import Account, Lookup
    from chalicelib.core.tokens import hash_token

    http = _admin(chalice_client, org)
    made = http.post_form("/invite/links", {"group_id": group.group_id, "staff_id": org.staff.account_id,
                                            "days": "7", "max_uses": "2", "csrf_token": http.csrf("/invite")})
    assert made.status_code == 303
    (token,) = _extra_links(http)
    for index in range(2):
        joined = join_and_confirm(Http(chalice_client), token, {**SIGN_UP, "email": f"extra{index}@example.org"})
        assert joined.status_code == 303
    newcomer = next(a for a in Account.query(org.org_id) if a.email == "extra0@example.org")
    assert (newcomer.group_id, newcomer.staff_id, newcomer.staff_email) == (group.group_id, org.staff.account_id,
                                                                           org.staff.email)
    assert "used 2 of 2 times" in http.get("/invite").body.decode()
    third = join_and_confirm(Http(chalice_client), token, {**SIGN_UP, "email": "extra2@example.org"})
    assert third.status_code == 410 and "used as many times as it allows" in third.body.decode()
    assert not [a for a in Account.query(org.org_id) if a.email == "extra2@example.org"]

    lookup = Lookup.get(f"join#{hash_token(token)}")
    assert lookup.uses == 2


def test_an_expired_or_revoked_extra_link_says_so(chalice_client, org):
    from datetime import timedelta

    from chalicelib.core.models import Lookup, utcnow
    from chalicelib.core.tokens import hash_token

    http = _admin(chalice_client, org)
    http.post_form("/invite/links", {"days": "1", "csrf_token": http.csrf("/invite")})
    http.post_form("/invite/links", {"days": "30", "csrf_token": http.csrf("/invite")})
    first, second = _extra_links(http)
    lookup = Lookup.get(f"join#{hash_token(second)}")
    lookup.update(actions=[Lookup.valid_until.set(utcnow() - timedelta(minutes=1))])
    expired = Http(chalice_client).get(f"/join/{second}")
    assert expired.status_code == 410 and "has expired" in expired.body.decode()
    page = http.get("/invite").body.decode()
    link_id = re.search(r'action="/invite/links/([0-9a-f]+)/revoke"', page).group(1)
    assert http.post_form(f"/invite/links/{link_id}/revoke", {"csrf_token": http.csrf("/invite")}).status_code == 303
    remaining = _extra_links(http)
    assert len(remaining) == 1
    gone = first if first not in remaining else second
    assert Http(chalice_client).get(f"/join/{gone}").status_code in (404, 410)


@pytest.mark.parametrize("fields, field", [
    ({"days": "0"}, "days"), ({"days": "91"}, "days"), ({"days": "soon"}, "days"), ({"days": ""}, "days"),
    ({"days": "7", "max_uses": "0"}, "max_uses"), ({"days": "7", "max_uses": "lots"}, "max_uses"),
    ({"days": "7", "group_id": "0" * 32}, "group_id"), ({"days": "7", "staff_id": "STAFF_OF_OTHER"}, "staff_id"),
    ({"days": "7", "staff_id": "CLIENT"}, "staff_id"),
])
def test_bad_extra_link_settings_get_errors_next_to_fields(chalice_client, org, other_org, fields, field):
    http = _admin(chalice_client, org)
    replacements = {"STAFF_OF_OTHER": other_org.staff.account_id, "CLIENT": org.client.account_id}
    fields = {k: replacements.get(v, v) for k, v in fields.items()}
    response = http.post_form("/invite/links", {**fields, "csrf_token": http.csrf("/invite")})
    assert response.status_code == 400 and f'id="f-link-{field}-error"' in response.body.decode()
    assert _extra_links(http) == []
