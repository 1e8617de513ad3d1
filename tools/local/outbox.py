"""What the local emulator's SES "sent", shown at /dev/outbox: a page only the
local runtime adds to the app (`install`), so it is never deployed.

Invitations go out with SendBulkTemplatedEmail (see chalicelib.invitations.mailer for why),
and moto keeps those as template name + data, never rendered. The outbox
renders each recipient's message from the stored template with
`mailer.render_message` (the same substitution SES does), so it shows the
app-rendered email a person would receive, one entry per recipient.
"""
import json
import os
import urllib.request
from typing import Dict, List

from chalice import Blueprint

from chalicelib.core import aws, config
from chalicelib.core.errors import NotFound
from chalicelib.invitations import mailer
from chalicelib.web.guard import page, view

bp = Blueprint(__name__)


@bp.route("/dev/outbox")
@view()
def local_outbox():
    if not config.is_local():
        raise NotFound("No such page.")
    return page("dev/outbox.html", messages=sent_messages())


# One email's HTML, shown in a sandboxed frame of the outbox page: emails style themselves inline,
# which the app's own policy (style-src 'self') forbids, so this response has a policy of its own
# that allows inline styles and nothing else (no script, no requests, framed only by the outbox).
MAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
            "base-uri 'none'; form-action 'none'; sandbox")


@bp.route("/dev/outbox/{number}")
@view()
def local_outbox_message(number):
    if not config.is_local():
        raise NotFound("No such page.")
    messages = sent_messages()
    if not number.isdigit() or int(number) >= len(messages):
        raise NotFound("No such email.")
    from chalice import Response

    return Response(messages[int(number)]["html"] or "", status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": MAIL_CSP,
                             "X-Frame-Options": "SAMEORIGIN"})


def install(app) -> None:
    """Add the outbox page to the app served locally (once)."""
    if "/dev/outbox" not in app.routes:
        app.register_blueprint(bp)


def sent_messages() -> List[dict]:
    """Newest first: [{id, source, to, subject, text, html, raw}], one per recipient."""
    templates: Dict[str, dict] = {}
    shaped: List[dict] = []
    for message in _raw_messages():
        shaped.extend(_shape(message, templates))
    return list(reversed(shaped))


def _raw_messages() -> List[dict]:
    """Oldest first. The local run and the tests start moto in this process, where
    its backend keeps the order of sending; otherwise ask the server (data.json
    groups messages by kind, so the order across kinds is lost)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        backend = ses_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
        if backend.sent_messages:
            return [vars(m) for m in backend.sent_messages]
    except ImportError:  # moto is a dev dependency; a deployed stage has no outbox
        pass
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return []
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as reply:
        by_kind = json.load(reply).get("ses", {})
    return [m for kind in ("Message", "TemplateMessage", "RawMessage") for m in by_kind.get(kind, [])]


def _template(name: str, cache: Dict[str, dict]) -> dict:
    if name not in cache:
        try:
            cache[name] = aws.client("ses").get_template(TemplateName=name)["Template"]
        except Exception:  # a template deleted since: show the data instead of failing the page
            cache[name] = {}
    return cache[name]


def _data(raw) -> dict:
    try:
        data = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _shape(message: dict, templates: Dict[str, dict]) -> List[dict]:
    base = {"id": message.get("id"), "source": message.get("source"), "raw": message.get("raw_data", "")}
    destinations = message.get("destinations") or {}
    if message.get("template"):
        parts = _template(message["template"], templates)
        default = _data(message.get("template_data"))
        # Bulk: [{Destination, ReplacementTemplateData}]; single templated send: {ToAddresses: [...]}.
        recipients = destinations if isinstance(destinations, list) else [{"Destination": destinations}]
        shaped = []
        for recipient in recipients:
            data = {**default, **_data(recipient.get("ReplacementTemplateData"))}
            rendered = mailer.render_message(parts, data) if parts else {"subject": message["template"],
                                                                         "text": json.dumps(data), "html": ""}
            to = ", ".join((recipient.get("Destination") or {}).get("ToAddresses", []))
            shaped.append({**base, "to": to, **rendered})
        return shaped
    body = message.get("body") or {}
    if not isinstance(body, dict):  # moto keeps one part of a SendEmail, the HTML one when there is one
        body = {"text": str(body), "html": str(body) if str(body).lstrip().lower().startswith("<!doctype") else ""}
    return [{**base,
             "to": ", ".join(destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations),
             "subject": message.get("subject", ""), "text": body.get("text", ""), "html": body.get("html", "")}]
