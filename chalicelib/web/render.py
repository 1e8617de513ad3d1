"""Rendering pages and JSON; links come from chalicelib.core.urls (`url` here and in templates)."""
import json
import os
import re
from datetime import datetime
from functools import lru_cache

from chalice import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from chalicelib.core.assets import asset_dir
from chalicelib.core.models import ROLE_LABELS, STATUS_DEFAULT_LABEL, STATUS_LABELS
from chalicelib.core.urls import url
from chalicelib.table.filters import NO_VISIT_DAYS


# Control characters are not allowed in HTML (a parse error): a value echoed back
# (a search, a file name) never carries them into a page.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(value):
    if isinstance(value, Markup):
        return Markup(_CONTROL.sub("", value))
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    return value


def _as_moment(value, pattern: str) -> str:
    try:
        moment = datetime.fromisoformat(str(value)) if not isinstance(value, datetime) else value
    except ValueError:
        return str(value)
    return moment.strftime(pattern)


def human_time(value) -> str:
    """The pages' one date format, with the year: 30 Nov 2026, 14:05 UTC (ISO text or datetime)."""
    return _as_moment(value, "%-d %b %Y, %H:%M UTC")


def human_date(value) -> str:
    """The same format without the time, for days: 30 Nov 2026."""
    return _as_moment(value, "%-d %b %Y")


def _options(items, value=None, label=None) -> list:
    """(value, text) pairs for the select() macro. `value` and `label` name an attribute
    (or key) of each item; `label` may be a callable (a template macro that writes
    "name (email)"). Without them, the item itself: zones|options -> [(zone, zone)]."""
    def read(item, name):
        if name is None:
            return item
        return item[name] if isinstance(item, dict) else getattr(item, name)
    return [(read(item, value), label(item) if callable(label) else read(item, label if label else value))
            for item in items]


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        finalize=_printable,
        loader=FileSystemLoader(str(asset_dir("templates"))),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(options=_options, human_time=human_time, human_date=human_date)
    env.globals.update(ROLE_LABELS=ROLE_LABELS, STATUS_LABELS=STATUS_LABELS, STATUS_DEFAULT_LABEL=STATUS_DEFAULT_LABEL,
                       NO_VISIT_CHOICES=[(str(days), f"Not in {days} days") for days in NO_VISIT_DAYS], url=url,
                       stage=lambda: os.environ.get("CASELOAD_STAGE", "local"))
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
