"""Rendering pages and JSON; links come from chalicelib.core.urls (`url` here and in templates)."""
import json
import os
from functools import lru_cache

from chalice import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib.core.assets import asset_dir
from chalicelib.core.urls import url


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
