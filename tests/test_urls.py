"""One helper builds every link: the stage prefix for pages, the public address for emails."""
from chalicelib.core import urls


def test_links_carry_the_stage_and_drop_empty_parameters(monkeypatch):
    monkeypatch.setenv("CASELOAD_BASE_PATH", "/prod/")
    assert urls.url("/clients") == "/prod/clients"
    assert urls.url("/clients", role="client", q="", cursor=None) == "/prod/clients?role=client"
    assert urls.url("/invite", "account-link", notice="Done.") == "/prod/invite?notice=Done.#account-link"
    monkeypatch.delenv("CASELOAD_BASE_PATH")
    assert urls.url("/signin", next="/clients?role=client") == "/signin?next=%2Fclients%3Frole%3Dclient"


def test_absolute_links_start_at_the_public_address(monkeypatch):
    monkeypatch.setenv("CASELOAD_PUBLIC_URL", "https://abc.example.org/prod/")
    assert urls.absolute("/invite/tok") == "https://abc.example.org/prod/invite/tok"
    assert urls.absolute("/invites/uploads/j", uploaded=1) == "https://abc.example.org/prod/invites/uploads/j?uploaded=1"


def test_parameters_are_added_to_a_built_link():
    assert urls.with_params("/clients?role=client&notice=old", notice="Resent 2 of 2.") == \
        "/clients?role=client&notice=Resent+2+of+2."
    assert urls.with_params("/clients", notice="x") == "/clients?notice=x"
