"""Static files (issue 14): in production pages link to fingerprinted copies on the
stack's CloudFront site (cached for a year as immutable); locally, as before, the
app serves /static/ itself."""
import re

from chalicelib.core import assets, urls
from chalicelib.core.assets import asset_dir
from deploy.package import write_static_bundle

SITE = "https://d111111abcdef8.cloudfront.net"


def test_the_fingerprinted_name_changes_when_the_content_changes(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("body { color: black; }")
    first = write_static_bundle(static, tmp_path / "one")
    (static / "app.css").write_text("body { color: navy; }")
    second = write_static_bundle(static, tmp_path / "two")
    assert re.fullmatch(r"app\.[0-9a-f]{10}\.css", first["app.css"])
    assert first["app.css"] != second["app.css"]
    assert (tmp_path / "two" / second["app.css"]).read_text() == "body { color: navy; }"
    # The same content keeps its name (a deploy that changes nothing invalidates nothing).
    assert assets.fingerprint_of("app.css", b"body { color: navy; }") == second["app.css"]


def test_the_app_and_the_bundle_agree_on_every_name(tmp_path):
    bundle = write_static_bundle(asset_dir("static"), tmp_path)
    assert bundle == assets.fingerprinted()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(bundle.values())


def test_pages_link_to_the_fingerprinted_files_on_the_static_site(http, monkeypatch):
    monkeypatch.setenv("CASELOAD_STATIC_URL", SITE + "/")
    response = http.get("/signin")
    body = response.body.decode()
    names = assets.fingerprinted()
    assert f'href="{SITE}/{names["app.css"]}"' in body
    assert f'src="{SITE}/{names["app.js"]}"' in body
    assert f'href="{SITE}/{names["favicon.svg"]}"' in body
    assert "/static/" not in body
    policy = response.headers["Content-Security-Policy"]
    for directive in ("script-src", "style-src", "img-src"):
        assert f"{directive} 'self' {SITE}" in policy
    assert "default-src 'self';" in policy  # nothing else widened


def test_a_name_outside_static_falls_back_to_the_app(monkeypatch):
    monkeypatch.setenv("CASELOAD_STATIC_URL", SITE)
    assert urls.url("/static/missing.css") == "/static/missing.css"


def test_locally_pages_link_to_the_app_which_serves_the_file(http, monkeypatch):
    monkeypatch.delenv("CASELOAD_STATIC_URL", raising=False)
    body = http.get("/signin").body.decode()
    assert 'href="/static/app.css"' in body
    css = http.get("/static/app.css")
    assert css.status_code == 200 and css.headers["Cache-Control"] == "public, max-age=300"
    assert css.body.decode() == (asset_dir("static") / "app.css").read_text()
    assert "cloudfront" not in http.get("/signin").headers["Content-Security-Policy"]


def test_templates_reach_static_files_only_through_the_url_helper():
    """A literal /static/ link would bypass the fingerprint (and the base path)."""
    offenders = [str(path) for path in asset_dir("templates").rglob("*.html")
                 if re.search(r"""(src|href)=["']/static/""", path.read_text())]
    assert offenders == []
