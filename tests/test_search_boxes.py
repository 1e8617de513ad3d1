"""A search's stat boxes read at most SEARCH_BOX_REQUESTS pages of word items (issue 14):
exact when the matching words fit, estimated above, scaled by the number of words starting
with the search (kept by the accounts stream, recounted by the reconciler), and labelled."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.metrics import reconcile, store
from chalicelib.people.accounts import Viewer
from chalicelib.table import listing, search
from chalicelib.table.filters import parse_filters
from tests.conftest import make_account, reply_json

PAGE = 4  # word items per Query page in these tests (1,000 in the app)
NOW = datetime.now(timezone.utc)


@pytest.fixture
def crowd(org, pump, monkeypatch):
    """30 people called Ma..., a third of them visited this week; read a few words per page."""
    monkeypatch.setattr(listing, "SEARCH_BOX_PAGE", PAGE)
    made = []
    for index in range(30):
        visited = index % 3 == 0
        made.append(make_account(
            org.org_id, name=f"Ma{chr(97 + index % 26)}{index} Person", email=f"p{index}@crowd.example.org",
            last_visit=NOW - timedelta(days=1) if visited else None,
            active_days={(NOW - timedelta(days=1)).toordinal()} if visited else None))
    pump.drain()
    return made


def _stats(org, q: str) -> listing.Stats:
    viewer = Viewer.of(org.admin)
    filters = parse_filters({"q": q}, viewer)
    return listing.stats(viewer, filters)


def test_the_words_by_prefix_are_counted_by_the_stream_and_the_reconciler_agrees(org, crowd):
    items = store.read_items(org.org_id, [search.prefix_item("ma")])
    assert search.words_starting("ma", items) == 30
    assert search.words_starting("maa", items) == 2  # maa0, maa26
    assert search.words_starting("mab1", items) is None  # counted up to three letters
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_a_search_whose_words_fit_is_exact(org, crowd, monkeypatch):
    monkeypatch.setattr(listing, "SEARCH_BOX_REQUESTS", 10)
    stats = _stats(org, "ma")
    assert stats.exact and stats.boxes.total == 30 and stats.boxes.engaged == 10


def test_a_broad_search_is_estimated_from_its_first_words_and_says_so(org, crowd, admin_http):
    stats = _stats(org, "ma")
    assert not stats.exact and stats.estimated
    assert (stats.sampled, stats.words) == (listing.SEARCH_BOX_REQUESTS * PAGE, 30)
    assert 20 <= stats.boxes.total <= 40  # 8 words read, scaled by 30 / 8
    page = admin_http.get("/clients?q=ma").body.decode()
    assert "Estimated: this search matches 30 words, and the boxes are scaled up from the first 8." in page
    assert reply_json(admin_http.json("GET", "/api/v1/clients?q=ma"))["stats"]["estimated"] is True
    assert reply_json(admin_http.json("GET", "/api/v1/clients?q=mab"))["stats"]["estimated"] is False


def test_without_a_word_count_a_broad_search_says_it_counts_only_the_first_words(org, crowd, monkeypatch):
    monkeypatch.setattr(search, "words_starting", lambda term, items: None)
    stats = _stats(org, "ma")
    assert not stats.exact and not stats.estimated and stats.boxes.total <= listing.SEARCH_BOX_REQUESTS * PAGE


def test_rebuild_counts_the_words_by_prefix(org, crowd):
    reconcile.rebuild(org.org_id)
    assert search.words_starting("ma", store.read_items(org.org_id, [search.prefix_item("ma")])) == 30
    assert reconcile.reconcile(org.org_id).counters_off == 0


def test_a_word_items_copy_read_off_the_raw_item_equals_the_models(org, crowd):
    """The boxes read word items without a model per item (server time): the same fields."""
    from chalicelib.core.models import SearchToken

    for token in list(SearchToken.query(search.bucket(org.org_id, "ma"), SearchToken.token.startswith("ma")))[:6]:
        raw = token.serialize()
        model, fast = search.as_account(token), search.copy_of(raw)
        for name in ("account_id", "org_id", "name", "email", "role", "status", "group_id", "caseload_id",
                     "created_at", "last_visit", "active_days"):
            assert getattr(fast, name) == getattr(model, name), name
        assert fast.archived == model.archived


def test_a_broad_search_page_stays_within_six_requests_whatever_its_size(org, crowd, admin_http, pump):
    from tests.test_page_requests import dynamodb_requests

    pump.drain()
    admin_http.get("/clients")  # warm
    for path, headers in [("/clients?q=ma", {}), ("/clients?q=ma&size=100", {}),
                          ("/api/v1/clients?q=ma", {"accept": "application/json"}),
                          ("/api/v1/clients?q=ma&size=100", {"accept": "application/json"})]:
        with dynamodb_requests() as seen:
            assert admin_http.get(path, headers).status_code == 200
        assert len(seen) <= 6, (path, seen)
