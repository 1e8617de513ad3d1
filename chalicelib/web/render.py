"""Rendering pages and JSON, and building links (behind API Gateway they carry the stage)."""
import json
import os
from functools import lru_cache
from urllib.parse import urlencode

from chalice import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib.core.assets import asset_dir


def base_path() -> str:
    return os.environ.get("CASELOAD_BASE_PATH", "").rstrip("/")


def url(path: str, **params) -> str:
    """A link inside the app; empty parameters are left out so URLs stay short."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", [])}, doseq=True)
    return f"{base_path()}{path}" + (f"?{query}" if query else "")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(asset_dir("templates"))),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(url=url, stage=lambda: os.environ.get("CASELOAD_STAGE", "local"))
    return env


def html(template: str, status: int = 200, headers=None, **context) -> Response:
    body = environment().get_template(template).render(**context)
    return Response(body=body, status_code=status,
                    headers={"Content-Type": "text/html; charset=utf-8", **(headers or {})})


def redirect(location: str, status: int = 303) -> Response:
    return Response(body="", status_code=status, headers={"Location": location})


def json_response(body, status: int = 200, headers=None) -> Response:
    return Response(body=json.dumps(body, default=str), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})
