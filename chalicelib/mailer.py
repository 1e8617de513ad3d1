"""E-mail through SES: invitations rendered by the app, sent in bulk.

Why SendBulkTemplatedEmail: one request carries up to 50 recipients, so
10,000 invitations cost 200 SES calls instead of 10,000, which keeps a large
invite (or a CSV import chunk) well inside one Lambda invocation and far from
SES's request-rate limits. The template itself is still ours: jinja renders
`templates/email/invite.*` once, leaving SES placeholders (`{{link}}`...) for
the per-recipient values, and the template name carries a hash of the content,
so a changed template is a new SES template and never a stale one.

moto stores bulk sends unrendered; `render_template` fills the placeholders
the way SES does, so the local outbox shows what a person would receive.
"""
import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List

from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib import aws, config

BULK_LIMIT = 50  # SES destinations per SendBulkTemplatedEmail call
PLACEHOLDERS = ("name", "org_name", "inviter", "link", "expires_on")
_PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")
_ensured: set = set()


@dataclass(frozen=True)
class Invitation:
    email: str
    link: str
    org_name: str
    inviter: str
    expires_on: str
    name: str = ""

    def data(self) -> dict:
        return {"name": self.name or "there", "org_name": self.org_name, "inviter": self.inviter or self.org_name,
                "link": self.link, "expires_on": self.expires_on}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    from chalicelib.web.render import asset_dir

    return Environment(loader=FileSystemLoader(str(asset_dir("templates"))),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def template_parts(kind: str = "invite") -> dict:
    """SES template parts: our jinja layout with SES placeholders left in."""
    env = _environment()
    blanks = {key: "{{%s}}" % key for key in PLACEHOLDERS}
    return {
        "SubjectPart": env.get_template(f"email/{kind}.subject.txt").render(**blanks).strip(),
        "TextPart": env.get_template(f"email/{kind}.txt").render(**blanks),
        "HtmlPart": env.get_template(f"email/{kind}.html").render(**blanks),
    }


def template_name(kind: str = "invite") -> str:
    digest = hashlib.sha256(json.dumps(template_parts(kind), sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.table_prefix()}{kind}-{digest}"


def render_template(part: str, data: dict, is_html: bool = False) -> str:
    """Fill SES placeholders like SES does (HTML-escaped in HTML parts)."""
    def value(match):
        text = str(data.get(match.group(1), ""))
        return html.escape(text) if is_html else text

    return _PLACEHOLDER.sub(value, part or "")


def _ensure_template(ses, kind: str) -> str:
    name = template_name(kind)
    key = (id(ses), name)
    if key not in _ensured:
        try:
            ses.create_template(Template={"TemplateName": name, **template_parts(kind)})
        except ses.exceptions.AlreadyExistsException:
            pass
        _ensured.add(key)
    return name


def send_invitations(invitations: Iterable[Invitation]) -> Dict[str, str]:
    """Send each invitation; returns {email: "" when accepted by SES, else the reason}.

    A rejected chunk (throttling, a bad address SES refuses) does not stop the
    others: the caller reports per address.
    """
    ses = aws.client("ses")
    name = _ensure_template(ses, "invite")
    results: Dict[str, str] = {}
    batch: List[Invitation] = []
    for invitation in invitations:
        batch.append(invitation)
        if len(batch) == BULK_LIMIT:
            results.update(_send_chunk(ses, name, batch))
            batch = []
    if batch:
        results.update(_send_chunk(ses, name, batch))
    return results


def _send_chunk(ses, name: str, batch: List[Invitation]) -> Dict[str, str]:
    try:
        reply = ses.send_bulk_templated_email(
            Source=config.mail_sender(), Template=name,
            DefaultTemplateData=json.dumps({key: "" for key in PLACEHOLDERS}),
            Destinations=[{"Destination": {"ToAddresses": [i.email]},
                           "ReplacementTemplateData": json.dumps(i.data())} for i in batch])
    except ses.exceptions.MessageRejected as exc:
        return {i.email: f"SES refused the message: {exc.response['Error'].get('Message', '')}" for i in batch}
    statuses = reply.get("Status", [])
    results = {}
    for index, invitation in enumerate(batch):
        status = statuses[index] if index < len(statuses) else {}
        failed = status.get("Status") not in (None, "Success")
        results[invitation.email] = (status.get("Error") or status.get("Status")) if failed else ""
    return results
