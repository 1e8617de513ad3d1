"""Every link Caseload builds goes through here: relative ones for pages and redirects,
absolute ones for emails and S3's redirects back to us.

Behind API Gateway without a custom domain, paths carry the stage
(`CASELOAD_BASE_PATH`, e.g. "/prod"); `CASELOAD_PUBLIC_URL` is the app's full
address, stage included (e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod).
Empty parameters are left out so links stay short.

Static files (`url("/static/app.css")`) are the one exception: in production
(`CASELOAD_STATIC_URL` set) they link to the fingerprinted copy on CloudFront,
e.g. https://d1234.cloudfront.net/app.3f2a1b9c0d.css; locally to the app's /static/.
"""
import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chalicelib.core import assets, config

STATIC_PREFIX = "/static/"


def base_path() -> str:
    return os.environ.get("CASELOAD_BASE_PATH", "").rstrip("/")


def _query(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "", [])}, doseq=True)


def _join(path: str, params: dict, anchor: str) -> str:
    query = _query(params)
    return path + (f"?{query}" if query else "") + (f"#{anchor}" if anchor else "")


def url(path: str, _anchor: str = "", **params) -> str:
    """A link inside the app, e.g. url("/clients", role="client") -> "/prod/clients?role=client"."""
    if path.startswith(STATIC_PREFIX):
        return _join(static(path[len(STATIC_PREFIX):]), params, _anchor)
    return _join(f"{base_path()}{path}", params, _anchor)


def static(name: str) -> str:
    """A static file: its fingerprinted copy on the static site in production (cached for a
    year, immutable), the app's own /static/ route locally (and for a name not in static/)."""
    site = config.static_url()
    fingerprinted = assets.fingerprinted().get(name) if site else None
    if fingerprinted:
        return f"{site}/{fingerprinted}"
    return f"{base_path()}{STATIC_PREFIX}{name}"


def absolute(path: str, _anchor: str = "", **params) -> str:
    """A link for outside the browser's page (emails, S3): the public address + path."""
    return _join(f"{config.public_url()}{path}", params, _anchor)


def with_params(link: str, **params) -> str:
    """`link` (already built, e.g. a checked `next`) with `params` added or replaced."""
    parts = urlsplit(link)
    merged = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged.update(params)
    return urlunsplit(parts._replace(query=_query(merged)))
