"""Invite Users: the window (a plain page without JavaScript, the dialog's body
with it), the invitation acceptance page, Resend/Revoke, their JSON twins, and
the SES feedback handler. Each route parses, calls one domain function, renders."""
import json
from typing import Literal, Optional

from chalice import Blueprint
from pydantic import Field

from chalicelib import jobs
from chalicelib.actions import rows
from chalicelib.core import config, urls
from chalicelib.core.errors import Gone, NotFound, ValidationError
from chalicelib.core.models import ROLES
from chalicelib.invitations import (
    acceptance,
    imports,
    invites,
    lifecycle,
    links,
    suppression,
)
from chalicelib.invitations.addresses import (
    MAX_ADDRESSES,
    split_addresses,
)
from chalicelib.invitations.invites import MAX_SELECTED, OUTCOMES
from chalicelib.people import auth, organisations
from chalicelib.routes.jobs import JobStatus
from chalicelib.web import api, render
from chalicelib.web.api import Body, Reply
from chalicelib.web.guard import (
    flash,
    form_errors,
    page,
    page_or_fragment,
    request,
    set_session_cookie,
    take_notice,
    view,
    viewer,
    wants_fragment,
)
from chalicelib.web.requests import (
    FORM_TYPE,
    client_ip,
    form,
    form_list,
    query,
    safe_next,
)

bp = Blueprint(__name__)
TEAM = ("admin", "staff")
# Chalice needs the topic at import time; each stage's config names its own.
# The stack's own queue and topic (deploy/names.py), named with the stage's prefix.
SES_FEEDBACK_TOPIC = f"{config.table_prefix()}mail-events"
UPLOAD_QUEUE = f"{config.table_prefix()}uploads"



class Invite(Body):
    emails: list[str] = Field(description="The addresses, as typed", json_schema_extra={"maxItems": MAX_ADDRESSES})
    role: Literal[ROLES] = "client"
    group_id: Optional[str] = None
    staff_id: Optional[str] = None
    send_email: bool = Field(True, description="Send invitation emails (else only create the accounts)")


class InviteOutcome(Reply):
    input: str
    email: Optional[str]
    status: Literal[OUTCOMES]
    message: str
    account_id: Optional[str]


class InviteReport(Reply):
    results: list[InviteOutcome]
    counts: dict[Literal[OUTCOMES], int]


class Addresses(Body):
    emails: list[str] = Field(json_schema_extra={"maxItems": MAX_ADDRESSES})


class CheckedAddress(Reply):
    input: str
    email: Optional[str]
    valid: bool
    duplicate: bool
    message: Optional[str]
    exists: bool = Field(description="Already has an account in this organisation")
    suppressed: bool = Field(description="Emails to this address bounced or were marked as spam before")


class CheckedAddresses(Reply):
    entries: list[CheckedAddress]


class Selection(Body):
    account_ids: list[str] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_SELECTED})


class SelectionResult(Reply):
    account_id: str
    status: str = Field(description="sent, revoked, or why not: not_provisioned, suppressed, not_found, ...")
    message: str


class SelectionResults(Reply):
    results: list[SelectionResult]


class UploadStart(Body):
    filename: str = Field("", description="The file's name, for people (cut to 120 characters)")


class PresignedPost(Reply):
    url: str
    fields: dict[str, str]


class UploadStarted(Reply):
    job_id: str
    upload: PresignedPost = Field(description="POST the file to url with these form fields, the file last")
    max_bytes: int


class CsvProblem(Reply):
    row: int
    email: str
    problem: str


class MailCounts(Reply):
    sent: int = Field(description="Accepted by SES")
    not_sent: int = Field(description="Not sent (throttled after retries, or rejected): shown as Not sent; Resend")
    queued: int = Field(description="Still waiting in the mail queue")


class ImportJob(Reply):
    job_id: str
    filename: Optional[str]
    status: str = Field(description="waiting, checking, ready, failed, importing, done or cancelled")
    message: Optional[str]
    dry_run: Optional[dict[str, int]]
    result: Optional[dict[str, int]]
    rows_done: int
    planned: int
    has_report: bool
    send_email: Optional[bool]
    errors: list[CsvProblem]
    mail: Optional[MailCounts] = Field(None, description="Once importing with emails: what became of them")
    job: JobStatus = Field(description="The background job: state, progress, a message to show, Cancel/Retry")


class Commit(Body):
    send_email: bool = Field(True, description="Send invitation emails")


# --------------------------------------------------------------------------- helpers



def _window(status: int = 200, **extra):
    """The whole page, or only the window's content when the dialog asks (X-Fragment: 1)."""
    me = viewer()
    org = organisations.get_organisation(me.org_id)
    token = links.join_link_token(org)
    context = {"groups": invites.groups_of(me.org_id), "staff": invites.staff_members(me.org_id),
               "link": {"url": urls.absolute(f"/join/{token}") if token else None,
                        "enabled": org.join_enabled, "domains": list(org.allowed_domains or [])},
               "extra_links": [{**link, "url": urls.absolute(f"/join/{link['token']}")}
                               for link in links.extra_links(org)] if me.is_admin else [],
               "link_values": {"days": "7"},
               "link_limits": {"days": links.MAX_LINK_DAYS, "uses": links.MAX_LINK_USES}, "csv": imports.limits(),
               "is_admin": me.is_admin, "max_addresses": MAX_ADDRESSES, "errors": {}, "report": None,
               "values": {"emails": "", "role": "client", "group_id": "", "send_email": True,
                          "staff_id": me.account_id if me.role == "staff" else ""}}
    context.update(extra)
    return page_or_fragment("invites/page.html", "invites/_window.html", status, **context)


# --------------------------------------------------------------------------- the Invite Users window

@bp.route("/invite")
@view(*TEAM)
def invite_window():
    return _window(notice=take_notice(), open_link_settings=query(request()).get("open") == "link")


@bp.route("/invite", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def invite_submit():
    fields = form(request())
    values = {"emails": fields.get("emails", ""), "role": fields.get("role", "client"),
              "group_id": fields.get("group_id", ""), "staff_id": fields.get("staff_id", ""),
              "send_email": fields.get("send_email") == "on"}
    try:
        report = invites.invite_many(viewer(), split_addresses(values["emails"]), values["role"],
                                     values["group_id"], values["staff_id"], values["send_email"])
    except ValidationError as error:
        return _window(400, values=values, errors=form_errors(error))
    # The addresses that were not invited stay in the field, to fix or remove.
    retry = "\n".join(o.input for o in report.outcomes if o.status in ("invalid", "suppressed"))
    return _window(report=report, values={**values, "emails": retry})


def _back_with(target: str, notice: str):
    flash(notice)
    return render.redirect(target)


# Resend and Revoke ask first (a GET page, or the table's own dialog with JavaScript): both stop
# the link already sent from working.
CONFIRMS = {
    "resend": {"verb": "Resent", "button": "Resend invite", "action": lifecycle.resend,
               "question": "Resend the invitation to {who}?",
               "consequences": ["A new email with a fresh sign-up link goes to {email}.",
                                "The link in earlier invitation emails stops working at once."]},
    "revoke": {"verb": "Revoked", "button": "Revoke invite", "action": lifecycle.revoke,
               "question": "Revoke the invitation of {who}?",
               "consequences": ["The link in their invitation email stops working at once.",
                                "Their account stays Provisioned: Resend invite sends a new link."]},
}


def _selection_done(what: str):
    """Resend/Revoke from a page: back to it with a notice (a refusal too, such as
    an empty selection: never a separate error page), or a page that says what happened.
    A script (X-Fragment: 1) gets the notice alone, to show where the admin is."""
    target = safe_next(form(request()).get("next", ""))
    try:
        results = CONFIRMS[what]["action"](viewer(), form_list(request(), "account_id"))
    except ValidationError as error:
        if wants_fragment():
            return page_or_fragment("invites/done.html", "invites/_done.html", error.status,
                                    notice=error.message, results=[])
        if target:
            return _back_with(target, error.message)
        raise
    if len(results) == 1:
        notice = results[0]["message"]
    else:
        done = sum(1 for r in results if r["status"] in ("sent", "revoked"))
        notice = f"{CONFIRMS[what]['verb']} {done} of {len(results)} invitations."
    if target and not wants_fragment():
        return _back_with(target, notice)
    return page_or_fragment("invites/done.html", "invites/_done.html", notice=notice, results=results)


def _confirm_page(what: str):
    """The question before Resend or Revoke, for a page without JavaScript."""
    person = rows.target(viewer(), query(request()).get("account_id", ""))
    words = CONFIRMS[what]
    who = person.name or person.email
    return page_or_fragment("invites/confirm.html", "invites/_confirm.html", person=person, errors={}, action=what, button=words["button"],
                question=words["question"].format(who=who),
                consequences=[c.format(email=person.email) for c in words["consequences"]],
                back=safe_next(query(request()).get("next", "")) or render.url("/clients"))


@bp.route("/invites/resend", methods=["GET"])
@view(*TEAM)
def resend_confirm():
    return _confirm_page("resend")


@bp.route("/invites/revoke", methods=["GET"])
@view(*TEAM)
def revoke_confirm():
    return _confirm_page("revoke")


@bp.route("/invites/resend", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def resend_form():
    return _selection_done("resend")


@bp.route("/invites/revoke", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def revoke_form():
    return _selection_done("revoke")


# --------------------------------------------------------------------------- the organisation account link

def _link_changed(notice: str):
    flash(notice)
    return render.redirect(render.url("/invite", "account-link", open="link"))


@bp.route("/invite/link/regenerate", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def regenerate_link():
    links.regenerate_join_link(organisations.get_organisation(viewer().org_id), viewer())
    return _link_changed("A new organisation link was made; the old one no longer works.")


@bp.route("/invite/link/enabled", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def switch_link():
    enabled = form(request()).get("enabled") == "1"
    links.set_join_enabled(organisations.get_organisation(viewer().org_id), enabled, viewer())
    return _link_changed("Self sign-up through the link is on." if enabled else
                         "Self sign-up through the link is off: the link shows a not-found page.")


@bp.route("/invite/link/domains", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def limit_link_domains():
    fields = form(request())
    try:
        domains = links.set_allowed_domains(organisations.get_organisation(viewer().org_id),
                                            fields.get("domains", ""), viewer())
    except ValidationError as error:
        return _window(400, errors=form_errors(error), link_domains=fields.get("domains", ""))
    return _link_changed(f"Sign-up limited to {', '.join(domains)}." if domains else
                         "Sign-up through the link is open to any email domain.")


@bp.route("/invite/links", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def create_extra_link():
    me, fields = viewer(), form(request())
    try:
        links.create_extra_link(organisations.get_organisation(me.org_id), me.name or me.email,
                                fields.get("group_id", ""), fields.get("staff_id", ""),
                                fields.get("days", ""), fields.get("max_uses", ""), actor=me)
    except ValidationError as error:
        return _window(400, errors={f"link_{k}": v for k, v in form_errors(error).items()}, link_values=fields)
    return _link_changed("A new sign-up link was made.")


@bp.route("/invite/links/{link_id}/revoke", methods=["POST"], content_types=[FORM_TYPE])
@view("admin")
def revoke_extra_link(link_id):
    links.revoke_extra_link(organisations.get_organisation(viewer().org_id), link_id, viewer())
    return _link_changed("The sign-up link was revoked: it no longer works.")


# --------------------------------------------------------------------------- accepting an invitation

@bp.route("/invite/{token}")
@view()
def accept_form(token):
    try:
        pending = acceptance.open_invite(token)
    except (Gone, NotFound) as error:
        return page("invites/link_problem.html", error.status, error=error)
    return page("invites/accept.html", pending=pending, token=token, values={"name": pending.account.name},
                errors={})


@bp.route("/invite/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def accept(token):
    req = request()
    fields = form(req)
    try:
        cookie_value, _session, account = acceptance.accept(token, fields.get("name", ""), fields.get("password", ""),
                                                         client_ip(req), req.headers.get("user-agent", ""))
    except (Gone, NotFound) as error:
        return page("invites/link_problem.html", error.status, error=error)
    except ValidationError as error:
        return page("invites/accept.html", 400, pending=acceptance.open_invite(token), token=token,
                    values={"name": fields.get("name", "")}, errors=form_errors(error))
    if req.session:  # someone else was signed in here (the page said so): their session ends first
        auth.sign_out(req.session)
    set_session_cookie(cookie_value)
    return render.redirect(render.url("/clients" if account.role in TEAM else "/home"))


# --------------------------------------------------------------------------- JSON API

@api.route(bp, "/api/v1/invites", "POST", roles=TEAM, body=Invite, reply=InviteReport,
           summary="Invite email addresses: Provisioned accounts and, by default, invitation emails")
def api_invite(body: Invite):
    return invites.invite_many(viewer(), body.emails, body.role, body.group_id, body.staff_id,
                               body.send_email).to_dict()


@api.route(bp, "/api/v1/invites/check", "POST", roles=TEAM, body=Addresses, reply=CheckedAddresses,
           summary="Check addresses as the chips input does: syntax, already a member, bounced before "
                   "(nothing is created)")
def api_check(body: Addresses):
    return {"entries": invites.check_for(viewer(), body.emails)}


@api.route(bp, "/api/v1/invites/resend", "POST", roles=TEAM, body=Selection, reply=SelectionResults,
           summary="Send Provisioned accounts a new invitation (the old link stops working)")
def api_resend(body: Selection):
    return {"results": lifecycle.resend(viewer(), body.account_ids)}


@api.route(bp, "/api/v1/invites/revoke", "POST", roles=TEAM, body=Selection, reply=SelectionResults,
           summary="Revoke Provisioned accounts' invitations (the accounts stay Provisioned)")
def api_revoke(body: Selection):
    return {"results": lifecycle.revoke(viewer(), body.account_ids)}


@api.route(bp, "/api/v1/invites/uploads", "POST", roles=TEAM, body=UploadStart, reply=UploadStarted, status=201,
           summary="Start a CSV upload: a job and a presigned POST to send the file straight to S3 (≤ 10 MB)")
def api_upload_start(body: UploadStart):
    return imports.start_upload(viewer(), body.filename)


@api.route(bp, "/api/v1/invites/uploads/{job_id}", roles=TEAM, reply=ImportJob, errors=(404,),
           summary="An upload's state: the dry run, then the import's progress and summary")
def api_upload(job_id):
    return imports.job_view(imports.get_job(viewer(), job_id))


@api.route(bp, "/api/v1/invites/uploads/{job_id}/commit", "POST", roles=TEAM, body=Commit, reply=ImportJob,
           errors=(404, 409), summary="Invite the rows of a checked upload (runs in the background, in chunks)")
def api_upload_commit(job_id, body: Commit):
    return imports.job_view(imports.commit_import(viewer(), job_id, body.send_email))


@api.route(bp, "/api/v1/invites/uploads/{job_id}/cancel", "POST", roles=TEAM, reply=ImportJob, errors=(404, 409),
           summary="Cancel an upload at any stage before the end (rows already invited stay invited)")
def api_upload_cancel(job_id):
    return imports.job_view(imports.cancel_import(viewer(), job_id))


# Without JavaScript: the same jobs, as pages. The browser posts the file to S3
# itself, and S3 sends it back to the job's page.

def _upload_page_url(job_id: str) -> str:
    return render.url(f"/invites/uploads/{job_id}")


@bp.route("/invites/uploads", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def upload_start_form():
    return render.redirect(_upload_page_url(imports.start_upload(viewer())["job_id"]))


@bp.route("/invites/uploads/{job_id}")
@view(*TEAM)
def upload_page(job_id):
    job = imports.get_job(viewer(), job_id)
    uploaded = query(request()).get("uploaded") == "1"
    upload = None if uploaded else imports.upload_form(
        job, urls.absolute(f"/invites/uploads/{job_id}", uploaded=1))
    return page("invites/upload.html", job=imports.job_view(job), upload=upload, poll=jobs.POLL, csv=imports.limits())


@bp.route("/invites/uploads/{job_id}/commit", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def upload_commit_form(job_id):
    imports.commit_import(viewer(), job_id, form(request()).get("send_email") == "on")
    return render.redirect(_upload_page_url(job_id))


@bp.route("/invites/uploads/{job_id}/cancel", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def upload_cancel_form(job_id):
    imports.cancel_import(viewer(), job_id)
    return render.redirect(_upload_page_url(job_id))


@bp.route("/invites/uploads/{job_id}/retry", methods=["POST"], content_types=[FORM_TYPE])
@view(*TEAM)
def upload_retry_form(job_id):
    imports.retry_import(viewer(), job_id)
    return render.redirect(_upload_page_url(job_id))


@bp.route("/invites/uploads/{job_id}/errors.csv")
@view(*TEAM)
def upload_error_report(job_id):
    return render.redirect(imports.report_url(viewer(), job_id), 302)


# --------------------------------------------------------------------------- events

@bp.on_sqs_message(queue=UPLOAD_QUEUE, batch_size=1, name="invite_uploads")
def invite_uploads(event):
    """The upload queue: the bucket's notifications (dry run) and import chunks.
    An exception leaves the message for SQS to deliver again (the work is idempotent)."""
    for record in event:
        imports.handle_queue_message(record.body)


@bp.on_sns_message(topic=SES_FEEDBACK_TOPIC, name="ses_feedback")
def ses_feedback(event):
    """SES bounce and complaint notifications. A message that is not SES feedback
    is dropped (Lambda logs it), never retried forever."""
    try:
        message = json.loads(event.message)
    except (TypeError, ValueError):
        return
    if isinstance(message, dict):
        suppression.handle_ses_notification(message)
