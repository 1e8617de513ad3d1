"""The organisation account link in the Invite Users window: shown again, copied, regenerated, turned off, limited to domains."""
import re

import pytest

from tests.conftest import Http, PASSWORD

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
    refused = visitor.post_form(f"/join/{org.join_token}", {**SIGN_UP, "email": "someone@elsewhere.net"})
    assert refused.status_code == 400 and "limited to addresses at example.org, partner.org" in refused.body.decode()
    accepted = Http(chalice_client).post_form(f"/join/{org.join_token}", {**SIGN_UP, "email": "new@partner.org"})
    assert accepted.status_code == 303


@pytest.mark.parametrize("domains", ["not a domain", "exa mple", "x" * 300 + ".org", "-bad-.org", "a.b"])
def test_bad_domains_get_an_error_next_to_the_field(chalice_client, org, domains):
    http = _admin(chalice_client, org)
    response = http.post_form("/invite/link/domains", {"domains": domains, "csrf_token": http.csrf("/invite")})
    page = response.body.decode()
    assert response.status_code == 400 and 'id="f-domains-error"' in page
    visitor = Http(chalice_client)
    assert visitor.post_form(f"/join/{org.join_token}", {**SIGN_UP, "email": "any@where.net"}).status_code == 303


def test_only_admins_change_the_link_and_only_with_a_csrf_token(chalice_client, org):
    staff = Http(chalice_client)
    staff.sign_in(org.staff)
    assert staff.post_form("/invite/link/regenerate", {"csrf_token": staff.csrf("/invite")}).status_code == 403
    assert 'id="account-link-url"' in staff.get("/invite").body.decode()  # staff may copy it
    http = _admin(chalice_client, org)
    assert http.post_form("/invite/link/regenerate", {}, csrf=False).status_code == 403
    assert _link(http) == org.join_token
