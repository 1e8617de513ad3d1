"""Email through SES: invitations rendered by the app, sent in bulk.

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

Paced delivery (`queue_invitations` → the mail queue → `deliver`): invitations
are not sent where they are created. They go to the mail queue in messages of
up to 50 recipients; the queue's consumer sends them no faster than the
account's sending rate (`GetSendQuota`'s MaxSendRate, read at run time, capped
by CASELOAD_MAIL_MAX_RATE), which counts recipients, not calls. SES throttling
is retried by botocore's standard retry mode (exponential backoff with
jitter); recipients SES still refuses as throttled come back through the queue
with a delay, up to MAIL_ATTEMPTS times. Every recipient ends with an outcome
on their account: `invited` (SES accepted it), or `not_sent` with the reason
(throttled after retries, rejected); bounces and complaints arrive later
(suppression.py). Each message is claimed (`mail#<batch id>` in Lookup, a
conditional write) under a lease of minutes that records how far sending got
(`_Claim`), so a redelivered message mails nobody twice, a worker that died
mid-message is taken over once its lease runs out (those it may have mailed
are recorded Not sent, interrupted; Resend sends them), and an invitation
replaced meanwhile (Resend, Revoke, accepted) is skipped: only the account's
current token is ever mailed.
"""
import hashlib
import html
import json
import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import aws, config, logs, tokens
from chalicelib.core.assets import asset_dir
from chalicelib.core.models import Account, Job, Lookup, utcnow

log = logging.getLogger("caseload.mail")

BULK_LIMIT = 50  # SES destinations per SendBulkTemplatedEmail call
SES_ATTEMPTS = 6  # botocore standard retry mode: throttling retried with exponential backoff, 6 tries in all
MAIL_CONSUMERS = 2  # the mail queue's consumers at most (its event source's maximum concurrency): they share the rate
MAIL_ATTEMPTS = 4  # times a recipient SES answered "throttled" goes back through the queue
RETRY_DELAY_SECONDS = 60  # then 120, 240 (SQS DelaySeconds, at most 900)
DEFAULT_MAX_RATE = 14.0  # CASELOAD_MAIL_MAX_RATE's default: SES's rate for a new production account
QUOTA_SECONDS = 300  # how long a GetSendQuota answer is used
CLAIM_KEPT = timedelta(days=14)  # SQS keeps a message at most 14 days
# A worker's hold on one mail message, renewed before each SES call (a message of 50 takes seconds):
# a worker that died is taken over when the message comes back (the queue's visibility timeout).
MAIL_LEASE = timedelta(minutes=2)
# Per-destination statuses of SendBulkTemplatedEmail that mean "try later".
THROTTLED = {"AccountThrottled", "AccountDailyQuotaExceeded", "TransientFailure", "AccountSendingPaused"}
REASONS = {"throttled": "SES kept refusing it as over the sending rate (throttled after retries)",
           "rejected": "SES rejected it", "interrupted": "sending was interrupted"}
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


@lru_cache(maxsize=None)
def _template_digest(kind: str) -> str:
    """The templates ship with the code: rendered and hashed once per process, not per send."""
    return hashlib.sha256(json.dumps(template_parts(kind), sort_keys=True).encode()).hexdigest()[:12]


def template_name(kind: str = "invite") -> str:
    return f"{config.table_prefix()}{kind}-{_template_digest(kind)}"


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


# --------------------------------------------------------------------------- paced delivery

def _ses_with_retries():
    return _paced_client(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_DEFAULT_REGION", ""))


@lru_cache(maxsize=None)
def _paced_client(endpoint: str, region: str):
    """SES with botocore's standard retry mode: throttling errors retried with backoff and jitter."""
    return boto3.client("ses", endpoint_url=endpoint or None, region_name=region or None,
                        config=Config(retries={"mode": "standard", "max_attempts": int(
                            os.environ.get("CASELOAD_SES_ATTEMPTS") or SES_ATTEMPTS)}))


def queue_invitations(org_id: str, invitations: List[Tuple["Invitation", str]], job_id: Optional[str] = None) -> int:
    """Queue (invitation, account_id) pairs for paced delivery, up to 50 per message;
    returns the number of messages. The accounts wait in invite_state `queued`; the
    job (an import), if named, counts what became of them (Job.mail_sent / mail_not_sent)."""
    sqs, sent = aws.client("sqs"), 0
    for start in range(0, len(invitations), BULK_LIMIT):
        _send_message(sqs, _message(org_id, invitations[start:start + BULK_LIMIT], 0, job_id))
        sent += 1
    return sent


def _message(org_id: str, batch, attempt: int, job_id: Optional[str] = None) -> dict:
    return {"org_id": org_id, "batch_id": tokens.new_id(), "attempt": attempt, "job_id": job_id,
            "invitations": [{"account_id": account_id, **invitation.__dict__} for invitation, account_id in batch]}


def _send_message(sqs, message: dict, delay: int = 0) -> None:
    sqs.send_message(QueueUrl=config.mail_queue_url(), MessageBody=json.dumps(message), DelaySeconds=delay)


class Pacer:
    """At most `rate` recipients in any one-second window (a sliding window of what
    was sent, so even bursts at a window's edges stay within the rate).
    `clock`/`sleep` are swappable (the bench computes the pacing instead of waiting)."""

    WINDOW = 1.0

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate, self.clock, self.sleep = max(float(rate), 1.0), clock, sleep
        self.sent: deque = deque()  # (time, recipients) within the last window
        self.lock = threading.Lock()

    @property
    def chunk(self) -> int:
        """Recipients per SendBulkTemplatedEmail call: never more than one second's worth."""
        return max(1, min(BULK_LIMIT, int(self.rate)))

    def take(self, wanted: int) -> int:
        """Wait until the window has room, then claim up to `wanted` (at most `chunk`) recipients:
        how many may be sent now. A short call fills what a message's last partial call left free,
        so messages of 50 still go out at the full rate."""
        with self.lock:
            while True:
                now = self.clock()
                while self.sent and self.sent[0][0] <= now - self.WINDOW:
                    self.sent.popleft()
                room = int(self.rate - sum(n for _t, n in self.sent))
                if room >= 1:
                    count = max(1, min(wanted, self.chunk, room))
                    self.sent.append((now, count))
                    return count
                self.sleep(max(self.sent[0][0] + self.WINDOW - now, 1e-6))


_quota = {"rate": None, "read_at": 0.0}
_pacer_lock = threading.Lock()
_pacers: Dict[float, Pacer] = {}


def sending_rate() -> float:
    """Recipients per second: SES's MaxSendRate (read at run time, kept QUOTA_SECONDS),
    never above CASELOAD_MAIL_MAX_RATE."""
    cap = float(os.environ.get("CASELOAD_MAIL_MAX_RATE") or DEFAULT_MAX_RATE)
    simulated = os.environ.get("CASELOAD_MAIL_SIMULATED_RATE")  # the emulator and the bench only (moto says 1)
    if simulated:
        return max(1.0, min(cap, float(simulated)))
    if _quota["rate"] is None or time.monotonic() - _quota["read_at"] > QUOTA_SECONDS:
        try:
            _quota["rate"] = float(_ses_with_retries().get_send_quota().get("MaxSendRate") or cap)
        except ClientError:
            _quota["rate"] = cap
        _quota["read_at"] = time.monotonic()
    return max(1.0, min(cap, _quota["rate"]))


def _pacer() -> Pacer:
    rate = max(1.0, sending_rate() / MAIL_CONSUMERS)
    with _pacer_lock:
        return _pacers.setdefault(rate, Pacer(rate))


def deliver(body: str, pacer: Optional[Pacer] = None) -> Dict[str, str]:
    """One mail-queue message: claim it, send its current invitations at the sending
    rate, record each recipient's outcome. Returns {account_id: outcome}."""
    try:
        message = json.loads(body)
        org_id, batch_id, attempt = message["org_id"], message["batch_id"], int(message.get("attempt", 0))
        items = [dict(i) for i in message["invitations"]]
        job_id = message.get("job_id")
    except (TypeError, ValueError, KeyError):
        log.warning("dropped a mail message that is not one")
        return {}
    with logs.correlated(batch_id, batch_id=batch_id, org_id=org_id, attempt=attempt):
        outcomes = _deliver(org_id, batch_id, attempt, items, pacer, job_id)
    if job_id and outcomes:
        _count_for_job(job_id, outcomes)
    return outcomes


def _count_for_job(job_id: str, outcomes: Dict[str, str]) -> None:
    sent = sum(1 for o in outcomes.values() if o == "sent")
    failed = sum(1 for o in outcomes.values() if o not in ("sent", "retrying"))
    actions = ([Job.mail_sent.add(sent)] if sent else []) + ([Job.mail_not_sent.add(failed)] if failed else [])
    if actions:
        try:
            Job(job_id=job_id).update(actions=actions, condition=Job.job_id.exists())
        except UpdateError:
            pass  # the job is gone (kept 30 days): the accounts still say what happened


class ClaimHeld(Exception):
    """A mail message another worker is sending (or was, until its lease runs out)."""


class _Claim:
    """One mail message's claim (`mail#<batch id>` in Lookup), held under a short
    lease: `target_id` the holder, `valid_until` its lease, `uses` how many of the
    message's invitations (in order) have been handed to SES, `max_uses` how many
    of those have their outcome recorded, `used_at` set once the message is done.
    A worker that dies leaves the lease to run out; the message's redelivery
    (the queue's visibility timeout) then takes it over: the invitations between
    `max_uses` and `uses` may have gone out, so they are recorded as not sent
    (interrupted; Resend sends them) rather than mailed again, and the rest are sent."""

    def __init__(self, org_id: str, batch_id: str):
        self.item = Lookup(key=f"mail#{batch_id}")
        self.org_id, self.token = org_id, tokens.new_id()
        self.started = self.recorded = 0

    def take(self) -> bool:
        now = utcnow()
        try:
            self.item.update(actions=[Lookup.org_id.set(self.org_id), Lookup.target_id.set(self.token),
                                      Lookup.valid_until.set(now + MAIL_LEASE),
                                      Lookup.expires_at.set(now + CLAIM_KEPT)],
                             condition=Lookup.key.does_not_exist()
                             | (Lookup.used_at.does_not_exist() & (Lookup.valid_until < now)))
        except UpdateError:
            return False
        self.started, self.recorded = int(self.item.uses or 0), int(self.item.max_uses or 0)
        return True

    def finished(self) -> bool:
        try:
            return Lookup.get(self.item.key, consistent_read=True).used_at is not None
        except DoesNotExist:
            return False

    def advance(self, started: int, recorded: int, finished: bool = False) -> bool:
        """Say how far it got (renewing the lease); False if the lease was lost meanwhile."""
        now = utcnow()
        actions = [Lookup.uses.set(started), Lookup.max_uses.set(recorded), Lookup.valid_until.set(now + MAIL_LEASE)]
        if finished:
            actions.append(Lookup.used_at.set(now))
        try:
            self.item.update(actions=actions, condition=Lookup.target_id == self.token)
        except UpdateError:
            return False
        return True


def _deliver(org_id: str, batch_id: str, attempt: int, items: List[dict], pacer: Optional[Pacer],
             job_id: Optional[str] = None) -> Dict[str, str]:
    claim = _Claim(org_id, batch_id)
    if not claim.take():
        if claim.finished():  # delivered again after it was done: nobody is mailed twice
            log.info("mail message delivered again: skipped", extra={"batch_id": batch_id})
            return {}
        # Another worker holds it (or held it and its lease has not run out yet): fail, so that
        # the queue delivers it again after its visibility timeout and it is then taken over.
        raise ClaimHeld(f"mail message {batch_id} is being sent by another worker")
    for index, item in enumerate(items):
        item["index"] = index
    current = _current(org_id, items[claim.recorded:])
    outcomes: Dict[str, str] = {}
    for item in (i for i in current if i["index"] < claim.started):  # handed to SES by a worker that died
        outcomes[item["account_id"]] = "interrupted"
        _record(org_id, item, "interrupted")
    waiting = [i for i in current if i["index"] >= claim.started]
    pacer = (pacer or _pacer()) if waiting else None
    position = 0
    while position < len(waiting):
        part = waiting[position:position + pacer.take(len(waiting) - position)]
        position += len(part)
        if not claim.advance(part[-1]["index"] + 1, part[0]["index"]):
            log.warning("mail claim lost to another worker", extra={"batch_id": batch_id})
            return outcomes
        sent = _send_bulk(part)
        retry = [i for i in part if sent[i["account_id"]] == "throttled"]
        if retry and attempt + 1 < MAIL_ATTEMPTS:
            again = {"org_id": org_id, "batch_id": tokens.new_id(), "attempt": attempt + 1, "job_id": job_id,
                     "invitations": [{k: v for k, v in i.items() if k not in ("index", "token_hash")} for i in retry]}
            _send_message(aws.client("sqs"), again, min(900, RETRY_DELAY_SECONDS * 2 ** attempt))
            for item in retry:
                sent[item["account_id"]] = "retrying"
        for item in part:
            _record(org_id, item, sent[item["account_id"]])
        outcomes.update(sent)
    claim.advance(len(items), len(items), finished=True)
    counts = {}
    for outcome in outcomes.values():
        counts[outcome.split(":")[0]] = counts.get(outcome.split(":")[0], 0) + 1
    log.info("mail batch delivered", extra={"outcomes": counts})
    for account_id, outcome in outcomes.items():
        if outcome.startswith("rejected") or outcome in ("throttled", "interrupted"):
            log.warning("invitation not sent", extra={"account_id": account_id, "reason": outcome})
    return outcomes


def _current(org_id: str, items: List[dict]) -> List[dict]:
    """The invitations that are still their account's current one and not yet sent."""
    found = {a.account_id: a for a in Account.batch_get([(org_id, i["account_id"]) for i in items])}
    current = []
    for item in items:
        account = found.get(item["account_id"])
        token = item["link"].rsplit("/", 1)[-1]
        if account and account.status == "provisioned" and account.invite_state == "queued" \
                and account.invite_hash == tokens.hash_token(token):
            item["token_hash"] = account.invite_hash
            current.append(item)
    return current


def _send_bulk(items: List[dict]) -> Dict[str, str]:
    """{account_id: sent | throttled | rejected: why} for one SendBulkTemplatedEmail."""
    ses = _ses_with_retries()
    fields = Invitation.__dataclass_fields__
    batch = [Invitation(**{k: v for k, v in i.items() if k in fields}) for i in items]
    try:
        name = _ensure_template(ses, "invite")
        configuration_set = os.environ.get("CASELOAD_MAIL_CONFIGURATION_SET")
        reply = ses.send_bulk_templated_email(
            **({"ConfigurationSetName": configuration_set} if configuration_set else {}),
            Source=config.mail_sender(), Template=name,
            DefaultTemplateData=json.dumps({key: "" for key in PLACEHOLDERS}),
            Destinations=[{"Destination": {"ToAddresses": [i.email]},
                           "ReplacementTemplateData": json.dumps(i.data())} for i in batch])
    except ClientError as exc:  # after botocore's retries
        error = exc.response.get("Error", {})
        if error.get("Code") in ("Throttling", "ThrottlingException", "TooManyRequestsException"):
            return {i["account_id"]: "throttled" for i in items}
        return {i["account_id"]: f"rejected: {error.get('Message') or error.get('Code')}" for i in items}
    statuses = reply.get("Status", [])
    outcomes = {}
    for index, item in enumerate(items):
        status = statuses[index] if index < len(statuses) else {}
        code = status.get("Status") or "Success"
        if code == "Success":
            outcomes[item["account_id"]] = "sent"
        elif code in THROTTLED:
            outcomes[item["account_id"]] = "throttled"
        else:
            outcomes[item["account_id"]] = f"rejected: {status.get('Error') or code}"
    return outcomes


def _record(org_id: str, item: dict, outcome: str) -> None:
    """The recipient's outcome on their account, only while this invitation is still current."""
    if outcome == "retrying":
        return
    if outcome == "sent":
        actions = [Account.invite_state.set("invited"), Account.invite_error.remove()]
    else:
        reason = REASONS.get(outcome) or f"{REASONS['rejected']} ({outcome[10:]})"
        actions = [Account.invite_state.set("not_sent"), Account.invite_error.set(reason[:300])]
    try:
        Account(org_id=org_id, account_id=item["account_id"]).update(
            actions=actions, condition=(Account.invite_hash == item["token_hash"]) & (Account.invite_state == "queued"),
            add_version_condition=False)
    except UpdateError:
        pass  # replaced meanwhile (Resend, Revoke, accepted): that one's outcome counts


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
