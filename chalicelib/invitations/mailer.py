"""E-mail through SES: invitations rendered by the app, sent in bulk.

Why SendBulkTemplatedEmail rather than one SendEmail per person: one request
carries up to 50 recipients, so 10,000 invitations cost 200 SES calls instead
of 10,000. That keeps a large invitation (or a CSV import chunk) well inside
one Lambda invocation and far from SES's request-rate limit, and a failed
call is retried or reported per chunk. The content is still ours: jinja
renders `templates/email/invite.*` (HTML + text) once, leaving SES
placeholders for the per-recipient values, and the template name carries a
hash of the content, so a changed template is a new SES template, never a
stale one.

SES templates are Handlebars: `{{x}}` is HTML-escaped (used in the HTML part),
`{{{x}}}` is not (text part and subject, where escaping would show "&amp;").

moto stores bulk sends unrendered (template name + data). The local outbox
(`tools.local.outbox`) therefore renders each recipient's message with
`render_message`, which fills the same app-rendered template the way SES does:
it shows what a person would receive, without giving up bulk sending.
"""
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List

from botocore.exceptions import ClientError
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib.core import aws, config
from chalicelib.core.assets import asset_dir

BULK_LIMIT = 50  # SES destinations per SendBulkTemplatedEmail call
PLACEHOLDERS = ("name", "org_name", "inviter", "link", "expires_on")
_PLACEHOLDER = re.compile(r"{{({)?\s*(\w+)\s*}?}}")
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

    return Environment(loader=FileSystemLoader(str(asset_dir("templates"))),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def template_parts(kind: str = "invite") -> dict:
    """SES template parts: our jinja layout with SES placeholders left in."""
    env = _environment()
    escaped = {key: "{{%s}}" % key for key in PLACEHOLDERS}
    raw = {key: "{{{%s}}}" % key for key in PLACEHOLDERS}
    return {
        "SubjectPart": " ".join(env.get_template(f"email/{kind}.subject.txt").render(**raw).split()),
        "TextPart": env.get_template(f"email/{kind}.txt").render(**raw),
        "HtmlPart": env.get_template(f"email/{kind}.html").render(**escaped),
    }


def template_name(kind: str = "invite") -> str:
    digest = hashlib.sha256(json.dumps(template_parts(kind), sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.table_prefix()}{kind}-{digest}"


def render_template(part: str, data: dict) -> str:
    """Fill SES (Handlebars) placeholders as SES does: `{{x}}` escaped, `{{{x}}}` raw."""
    def value(match):
        text = str(data.get(match.group(2), ""))
        return text if match.group(1) else html.escape(text)

    return _PLACEHOLDER.sub(value, part or "")


def render_message(parts: dict, data: dict) -> dict:
    """One recipient's message from SES template parts: {subject, text, html}."""
    return {"subject": render_template(parts.get("SubjectPart", ""), data),
            "text": render_template(parts.get("TextPart", ""), data),
            "html": render_template(parts.get("HtmlPart", ""), data)}


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
        # The stack's configuration set routes bounces and complaints to the feedback topic.
        configuration_set = os.environ.get("CASELOAD_MAIL_CONFIGURATION_SET")
        reply = ses.send_bulk_templated_email(
            **({"ConfigurationSetName": configuration_set} if configuration_set else {}),
            Source=config.mail_sender(), Template=name,
            DefaultTemplateData=json.dumps({key: "" for key in PLACEHOLDERS}),
            Destinations=[{"Destination": {"ToAddresses": [i.email]},
                           "ReplacementTemplateData": json.dumps(i.data())} for i in batch])
    except ClientError as exc:  # rejected, throttled, quota: reported per address, never a 500
        return {i.email: f"SES refused it: {exc.response['Error'].get('Message', '')}" for i in batch}
    statuses = reply.get("Status", [])
    results = {}
    for index, invitation in enumerate(batch):
        status = statuses[index] if index < len(statuses) else {}
        failed = status.get("Status") not in (None, "Success")
        results[invitation.email] = (status.get("Error") or status.get("Status")) if failed else ""
    return results


def send_one(to: str, kind: str, **context) -> str:
    """One message rendered by the app from `templates/email/{kind}.*` (sign-up verification, password
    reset): SendEmail, since there is no bulk to share. Returns "" when SES took it, else the reason."""
    env = _environment()
    subject = " ".join(env.get_template(f"email/{kind}.subject.txt").render(**context).split())
    text = env.get_template(f"email/{kind}.txt").render(**context)
    html_part = env.get_template(f"email/{kind}.html").render(**context)
    configuration_set = os.environ.get("CASELOAD_MAIL_CONFIGURATION_SET")
    try:
        aws.client("ses").send_email(
            **({"ConfigurationSetName": configuration_set} if configuration_set else {}),
            Source=config.mail_sender(), Destination={"ToAddresses": [to]},
            Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                     "Body": {"Text": {"Data": text, "Charset": "UTF-8"},
                              "Html": {"Data": html_part, "Charset": "UTF-8"}}})
    except ClientError as exc:  # the page answers alike either way; the reason is for the log
        return exc.response["Error"].get("Message", "refused")
    return ""
