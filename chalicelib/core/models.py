"""The one schema definition: every DynamoDB table is a pynamodb model here.

The local emulator and the tests create tables from these classes
(`create_tables`), and a test compares them with the deploy template, so a
table is never defined twice.

Listing design (the Clients Table): every filter dimension x sort order is a
GSI whose partition key is `org#value#L|A` (live or archived) and whose sort
key is `sortvalue#account_id`. A page with no filter or one filter is then one
Query that reads exactly the rows it returns (+1 to know there is more), and
combined filters query the most selective dimension (chosen from the metrics
counters) and filter the rest. Indexes project only the filter attributes, so
a last-visit bump rewrites little; rows are fetched with one BatchGetItem.
"""
from datetime import datetime, timezone
from typing import Optional

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from chalicelib.core import config
from chalicelib.core.attributes import MapOf

ROLES = ("admin", "staff", "client")
# Who can hold a caseload (be a client's assigned staff member, be in the Staff filter).
CASELOAD_ROLES = ("staff", "admin")
STATUSES = ("provisioned", "activated", "archived")
# What pages, emails and exports call them (templates read these: the `ROLE_LABELS` global).
ROLE_LABELS = {"admin": "Admin", "staff": "Staff", "client": "Client"}
STATUS_LABELS = {"activated": "Activated", "provisioned": "Provisioned", "archived": "Archived"}
# The Status filter's default (no status chosen: archived accounts left out), in the article's words.
STATUS_DEFAULT_LABEL = "Activated and Provisioned"
# Filter dimensions of the Clients Table and the account attribute behind each.
DIMENSIONS = ("all", "role", "status", "group", "staff")
SORTS = ("name", "visit", "created")
# Pairs of the selective filters, indexed in the default (name) order only: with
# them a combined filter reads about what it shows (DynamoDB allows 20 GSIs).
PAIRS = {"sg": ("status", "group"), "st": ("status", "staff"), "gs": ("group", "staff")}
# The day of the last visit, not its moment: a visit on a day already counted
# changes nothing an index holds (issue 14: the cost of a visit).
LISTING_PROJECTION = ["role", "status", "group_id", "caseload_id", "visit_day"]
NO_VALUE = "-"
# Attributes Account.derive_keys computes: never set by hand (people.accounts.change writes them).
DERIVED_KEYS = ("caseload_id", "visit_day", "p_all", "p_role", "p_status", "p_group", "p_staff", "p_sg", "p_st",
                "p_gs", "s_name", "s_visit", "s_created")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def day_number(moment: Optional[datetime]) -> Optional[int]:
    """The UTC day of a moment (date.toordinal()), None for none."""
    return moment.astimezone(timezone.utc).date().toordinal() if moment else None


def visit_sort_value(moment: Optional[datetime]) -> str:
    """The visit sort key's value: the UTC day, so it changes once a day at most ("0": never)."""
    return moment.astimezone(timezone.utc).date().isoformat() if moment else "0"


def name_order(person) -> tuple:
    """The order of people by name (their email when nameless, ignoring case), then id: the
    Name sort's index key and the staff menu."""
    return (person.name or person.email).casefold(), person.account_id


def _table(name: str) -> str:
    return f"{config.table_prefix()}{name}"


class _BaseMeta:
    billing_mode = "PAY_PER_REQUEST"


# The staff menu is read straight off role_name (no BatchGetItem of the staff):
# a rename already moves the entry (its sort key is the name), so this copy is nearly free.
MENU_PROJECTION = {"role_name": ["name", "email"]}


def listing_index(dimension: str, sort: str) -> GlobalSecondaryIndex:
    """The Clients Table's index for one filter dimension in one sort order:
    partition key `p_<dimension>`, sort key `s_<sort>`, named `<dimension>_<sort>`."""

    class Meta:
        index_name = f"{dimension}_{sort}"
        projection = IncludeProjection(LISTING_PROJECTION + MENU_PROJECTION.get(f"{dimension}_{sort}", []))

    attributes = {"Meta": Meta, f"p_{dimension}": UnicodeAttribute(hash_key=True),
                  f"s_{sort}": UnicodeAttribute(range_key=True)}
    return type(f"Listing_{Meta.index_name}", (GlobalSecondaryIndex,), attributes)()


class EmailIndex(GlobalSecondaryIndex):
    """Sign-in finds the account(s) for an email across organisations."""

    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    email = UnicodeAttribute(hash_key=True)


ORG_LIST = "org"  # the one partition of the organisations' list index


class EveryOrganisationIndex(GlobalSecondaryIndex):
    """Every organisation, by id: what the hourly reconciliation fans out over (a Query, not a Scan)."""

    class Meta:
        index_name = "every_org"
        projection = KeysOnlyProjection()

    listed = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)


class ApiKeyEntry(MapAttribute):
    """One API key in its organisation's list (chalicelib.activity.api_keys): the
    secret's hash also finds it in Lookup (`apikey#hash`)."""
    label = UnicodeAttribute()
    hint = UnicodeAttribute()  # the secret's first characters, to recognise it
    created_at = UnicodeAttribute()  # ISO time
    created_by = UnicodeAttribute()
    hash = UnicodeAttribute()


class ExtraLinkEntry(MapAttribute):
    """One extra sign-up link in its organisation's list (chalicelib.invitations.links):
    its token is derived from `nonce`; the Lookup `join#hash` counts its uses."""
    nonce = UnicodeAttribute()
    valid_until = UnicodeAttribute()  # ISO time
    max_uses = NumberAttribute(default=0)  # 0: no limit
    created_by = UnicodeAttribute(null=True)
    group_id = UnicodeAttribute(null=True)  # people who sign up join this group...
    staff_id = UnicodeAttribute(null=True)  # ...and are assigned to this staff member


class Organisation(Model):
    class Meta(_BaseMeta):
        table_name = _table("organisations")

    org_id = UnicodeAttribute(hash_key=True)
    listed = UnicodeAttribute(default=ORG_LIST)
    every_org = EveryOrganisationIndex()
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    # The organisation account link: only the hash of the token is kept.
    join_token_hash = UnicodeAttribute(null=True)
    join_nonce = UnicodeAttribute(null=True)  # the link's token is derived from it (organisations.py)
    join_enabled = BooleanAttribute(default=True)
    allowed_domains = ListAttribute(of=UnicodeAttribute, default=list)
    # API keys of other platform modules, by key id.
    api_keys = MapOf(ApiKeyEntry, default=dict)
    # Extra sign-up links, by link id.
    extra_links = MapOf(ExtraLinkEntry, default=dict)
    # IANA zone the organisation's exports show dates in (chalicelib.exports.settings); None = UTC.
    time_zone = UnicodeAttribute(null=True)


class Account(Model):
    """A person in one organisation. Derived index keys are set on every serialize.
    Change an existing account only through chalicelib.people.accounts.change (the one write path)."""

    class Meta(_BaseMeta):
        table_name = _table("accounts")
        stream_view_type = "NEW_AND_OLD_IMAGES"

    org_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    phone = UnicodeAttribute(null=True)
    role = UnicodeAttribute(default="client")
    status = UnicodeAttribute(default="provisioned")
    previous_status = UnicodeAttribute(null=True)
    group_id = UnicodeAttribute(null=True)
    staff_id = UnicodeAttribute(null=True)
    staff_email = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    created_by = UnicodeAttribute(null=True)
    last_visit = UTCDateTimeAttribute(null=True)
    visit_day = NumberAttribute(null=True)  # derived: the UTC day (date.toordinal()) of last_visit
    # Days (date.toordinal()) with any activity, newest 90 kept: the metrics
    # stream derives sliding-window engagement from it without reading history.
    active_days = NumberSetAttribute(null=True)
    version = VersionAttribute()
    # Invitation lifecycle (chalicelib.invitations.invites), shown on Provisioned rows:
    # invite_state is queued (waiting for the mail queue) | invited (SES accepted the email) | not_sent
    # (invite_error says why) | revoked | bounced | complained | accepted;
    # "expired" is derived (invited and invite_expires_at passed), never stored.
    invite_state = UnicodeAttribute(null=True)
    invite_hash = UnicodeAttribute(null=True)  # sha256 of the live invite token
    invited_at = UTCDateTimeAttribute(null=True)
    invite_expires_at = UTCDateTimeAttribute(null=True)
    invite_error = UnicodeAttribute(null=True)  # why the invitation email was not sent
    invite_job = UnicodeAttribute(null=True)  # the import job that created it (a re-run step counts it once)

    # Derived: whose caseload the account is in: the assigned staff member, for clients only.
    # Staff see this caseload; their own account is not one of their clients (issue 13 item 11).
    caseload_id = UnicodeAttribute(null=True)
    p_all = UnicodeAttribute(null=True)
    p_role = UnicodeAttribute(null=True)
    p_status = UnicodeAttribute(null=True)
    p_group = UnicodeAttribute(null=True)
    p_staff = UnicodeAttribute(null=True)
    p_sg = UnicodeAttribute(null=True)
    p_st = UnicodeAttribute(null=True)
    p_gs = UnicodeAttribute(null=True)
    s_name = UnicodeAttribute(null=True)
    s_visit = UnicodeAttribute(null=True)
    s_created = UnicodeAttribute(null=True)

    by_email = EmailIndex()
    # The Clients Table's indexes: every DIMENSIONS x SORTS, and the PAIRS in name order
    # (tests/test_models.py checks this list against those constants, test_package.py against the template).
    all_name = listing_index("all", "name")
    all_visit = listing_index("all", "visit")
    all_created = listing_index("all", "created")
    role_name = listing_index("role", "name")
    role_visit = listing_index("role", "visit")
    role_created = listing_index("role", "created")
    status_name = listing_index("status", "name")
    status_visit = listing_index("status", "visit")
    status_created = listing_index("status", "created")
    group_name = listing_index("group", "name")
    group_visit = listing_index("group", "visit")
    group_created = listing_index("group", "created")
    staff_name = listing_index("staff", "name")
    staff_visit = listing_index("staff", "visit")
    staff_created = listing_index("staff", "created")
    sg_name = listing_index("sg", "name")
    st_name = listing_index("st", "name")
    gs_name = listing_index("gs", "name")

    @property
    def archived(self) -> bool:
        return self.status == "archived"

    def derive_keys(self) -> None:
        """Recompute the listing keys from the account's own attributes."""
        org, me = self.org_id, self.account_id
        live = "A" if self.archived else "L"
        self.email = self.email.strip().lower()
        self.caseload_id = self.staff_id if self.role == "client" else None
        self.p_all = None if self.archived else org
        self.p_role = f"{org}#{self.role}#{live}"
        self.p_status = f"{org}#{self.status}"
        self.p_group = f"{org}#{self.group_id or NO_VALUE}#{live}"
        self.p_staff = f"{org}#{self.caseload_id or NO_VALUE}#{live}"
        group, staff = self.group_id or NO_VALUE, self.caseload_id or NO_VALUE
        self.p_sg = f"{org}#{self.status}#{group}"
        self.p_st = f"{org}#{self.status}#{staff}"
        self.p_gs = f"{org}#{group}#{staff}#{live}"
        self.s_name = "#".join(name_order(self))
        self.visit_day = day_number(self.last_visit)
        self.s_visit = f"{visit_sort_value(self.last_visit)}#{me}"
        self.s_created = f"{self.created_at.isoformat()}#{me}"

    def serialize(self, null_check: bool = True):
        self.derive_keys()
        return super().serialize(null_check=null_check)


class SessionAccountIndex(GlobalSecondaryIndex):
    """A person's sessions, newest first. It holds keys and `ended_at` only: a visit's touch of
    `last_seen` then writes the table alone (1 write unit, issue 14), and the history reads the
    sessions it lists in one BatchGetItem."""

    class Meta:
        index_name = "by_account"
        projection = IncludeProjection(["ended_at"])

    account_key = UnicodeAttribute(hash_key=True)
    started_at = UTCDateTimeAttribute(range_key=True)


class Session(Model):
    """A signed-in browser. Keyed by the SHA-256 of the cookie's random id."""

    class Meta(_BaseMeta):
        table_name = _table("sessions")

    session_hash = UnicodeAttribute(hash_key=True)
    account_key = UnicodeAttribute()  # org_id#account_id
    org_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    started_at = UTCDateTimeAttribute(default=utcnow)
    last_seen = UTCDateTimeAttribute(default=utcnow)
    ended_at = UTCDateTimeAttribute(null=True)
    ended_reason = UnicodeAttribute(null=True)
    ip = UnicodeAttribute(default="")
    user_agent = UnicodeAttribute(default="")
    csrf_secret = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)  # housekeeping only; expiry is checked in code

    by_account = SessionAccountIndex()


def audit_index(key: str) -> GlobalSecondaryIndex:
    """The audit log by one filter, newest last: partition key `audit_<key>` (`org#...`),
    sort key `at_id`, named `audit_by_<key>`. Sparse: only audit entries carry the key."""

    class Meta:
        index_name = f"audit_by_{key}"
        projection = AllProjection()

    attributes = {"Meta": Meta, f"audit_{key}": UnicodeAttribute(hash_key=True),
                  "at_id": UnicodeAttribute(range_key=True)}
    return type(f"Audit_{key}", (GlobalSecondaryIndex,), attributes)()


class Activity(Model):
    """One event in a person's timeline, or in the organisation's audit log
    (account_key `org_id#org`).

    Audit entries also carry `audit_kind` (`org#kind`), `audit_actor`
    (`org#actor`) and `audit_actor_kind` (`org#actor#kind`), and when done to
    someone `audit_target` / `audit_target_kind`: sparse indexes make the Audit
    log's filters (action, person who acted or was acted on, both) a Query each,
    newest first, reading exactly the entries shown. Kept as indexes rather than
    copies of each entry so that an entry is written once, by one PutItem."""

    class Meta(_BaseMeta):
        table_name = _table("activities")

    account_key = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)  # iso timestamp#random, newest last
    kind = UnicodeAttribute()
    actor_id = UnicodeAttribute(null=True)
    actor_name = UnicodeAttribute(null=True)
    # Whom or what it was done to (a person, a group, a link...), for the audit log.
    target_id = UnicodeAttribute(null=True)
    target_name = UnicodeAttribute(null=True)
    detail = MapOf(UnicodeAttribute, default=dict)  # what else the event says, as texts by name
    audit_kind = UnicodeAttribute(null=True)
    audit_actor = UnicodeAttribute(null=True)
    audit_actor_kind = UnicodeAttribute(null=True)
    audit_target = UnicodeAttribute(null=True)
    audit_target_kind = UnicodeAttribute(null=True)

    # By action; by who did it; by whom it was done to (a person, group, link or key); and the
    # last two with the action too, so both filters at once stay one Query.
    audit_by_kind = audit_index("kind")
    audit_by_actor = audit_index("actor")
    audit_by_actor_kind = audit_index("actor_kind")
    audit_by_target = audit_index("target")
    audit_by_target_kind = audit_index("target_kind")


class Group(Model):
    """A group of an organisation (chalicelib.groups). Its name is claimed in
    Lookup (`group#org#casefolded name`), which keeps names unique.

    Deleting marks the group (`deleted_at`): it leaves every choice at once and
    its members are ungrouped in the background (`ungrouped` of
    `members_at_delete` so far); the item goes when the last member is ungrouped."""

    class Meta(_BaseMeta):
        table_name = _table("groups")

    org_id = UnicodeAttribute(hash_key=True)
    group_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    created_by = UnicodeAttribute(null=True)
    deleted_at = UTCDateTimeAttribute(null=True)
    deleted_by = UnicodeAttribute(null=True)
    members_at_delete = NumberAttribute(null=True)
    ungrouped = NumberAttribute(null=True)
    ungroup_cursor = UnicodeAttribute(null=True)  # where ungrouping has got to (chalicelib.groups.ungroup)
    job_id = UnicodeAttribute(null=True)

    @property
    def deleting(self) -> bool:
        return self.deleted_at is not None


class LinkPlacement(MapAttribute):
    """Where an extra sign-up link puts the people who sign up with it."""
    group_id = UnicodeAttribute(null=True)
    staff_id = UnicodeAttribute(null=True)


class PendingSignup(MapAttribute):
    """A sign-up through a join link, kept until its emailed confirmation link is opened."""
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    join_hash = UnicodeAttribute()  # the join link's Lookup key (hash), checked again on confirmation


class SuppressionReason(MapAttribute):
    """Why an address is never mailed again (SES feedback)."""
    reason = UnicodeAttribute()  # bounced | complained
    detail = UnicodeAttribute(default="")


class Lookup(Model):
    """Exact-match keys that must be unique or found without a query. Each kind of
    key uses the columns named here, and no other:

    | key                  | what it is                                   | columns |
    | `email#org#addr`     | one account per email per organisation      | account_id |
    | `group#org#name`     | group names unique per organisation          | target_id (the group) |
    | `join#hash`          | the organisation link, or an extra link      | target_id (the extra link), valid_until, uses, max_uses, placement |
    | `invite#hash`        | an invitation's token                        | account_id, valid_until, used_at |
    | `reset#hash`         | a password reset link's token                | account_id, valid_until, used_at, fingerprint |
    | `signup#hash`        | a sign-up waiting for its email to be confirmed | valid_until, used_at, signup |
    | `apikey#hash`        | an organisation API key                      | target_id (the key), label |
    | `mail#batch`         | a mail queue message's claim, under a lease  | target_id (the holder), valid_until (its lease), uses (handed to SES), max_uses (recorded), used_at (done), expires_at |
    | `suppressed#addr`    | an address never mailed again (all organisations: org_id "*") | suppression |

    Tokens are stored only as hashes.
    """

    class Meta(_BaseMeta):
        table_name = _table("lookups")

    key = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    target_id = UnicodeAttribute(null=True)  # the id of the group, extra link or API key the key names
    created_at = UTCDateTimeAttribute(default=utcnow)
    valid_until = UTCDateTimeAttribute(null=True)  # checked in code
    used_at = UTCDateTimeAttribute(null=True)
    uses = NumberAttribute(default=0)
    max_uses = NumberAttribute(null=True)
    placement = LinkPlacement(null=True)
    signup = PendingSignup(null=True)
    label = UnicodeAttribute(null=True)
    suppression = SuppressionReason(null=True)
    fingerprint = UnicodeAttribute(null=True)  # what the account was when the link was issued (recovery)
    expires_at = TTLAttribute(null=True)


class SearchToken(Model):
    """One word of an account's name or email, bucketed by its first two letters,
    kept by the accounts stream. Search = one Query on begins_with + BatchGet."""

    class Meta(_BaseMeta):
        table_name = _table("search_tokens")

    bucket = UnicodeAttribute(hash_key=True)  # org_id#first two letters
    token = UnicodeAttribute(range_key=True)  # word#account_id
    account_id = UnicodeAttribute()
    # A copy of what the Clients Table filters, sorts and counts on, so a search
    # filters and counts its matches without reading the accounts.
    org_id = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    status = UnicodeAttribute()
    group_id = UnicodeAttribute(null=True)
    caseload_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    last_visit = UTCDateTimeAttribute(null=True)
    active_days = NumberSetAttribute(null=True)


class Metric(Model):
    """Counters kept by the accounts stream (see chalicelib.metrics.counters): per
    organisation and filter combination, with per-day buckets as dynamic
    top-level attributes; plus short-lived markers of applied stream records."""

    class Meta(_BaseMeta):
        table_name = _table("metrics")

    org_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # c#role#status#group#staff, or a#account_id
    n = NumberAttribute(default=0)
    rev = NumberAttribute(default=0)  # bumped by every change: reconciliation replaces only unchanged items
    # a#account_id items: the stream record (zero-padded sequence number) and
    # account version last applied, which make redelivered records no-ops.
    seq = UnicodeAttribute(null=True)
    applied_version = NumberAttribute(null=True)
    rebuilt = BooleanAttribute(null=True)


class Throttle(Model):
    """Failed sign-ins per account, per address, per account at one address and per known
    browser, and emails asked for anonymously per address mailed and per client address, in fixed
    windows (keys are hashed or validated: bounded length). `failures` is the count either way."""

    class Meta(_BaseMeta):
        table_name = _table("throttles")

    key = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    window_start = UTCDateTimeAttribute(default=utcnow)
    last_failure = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


# Background jobs (chalicelib.jobs). waiting: for the person or an upload (no worker, never swept);
# running: a worker holds the lease or a queue message will take it; the rest are final.
JOB_STATUSES = ("waiting", "running", "done", "failed", "cancelled")
JOB_FINAL = ("done", "failed", "cancelled")
JOB_DUE = "due"  # the one partition of the sweeper's index


class JobDueIndex(GlobalSecondaryIndex):
    """Running jobs by lease expiry: the sweeper's one Query (sparse: only running jobs carry `due`)."""

    class Meta:
        index_name = "by_due"
        projection = IncludeProjection(["step_seq"])

    due = UnicodeAttribute(hash_key=True)
    lease_until = UnicodeAttribute(range_key=True)  # iso timestamp (UTC): sorts by time


class JobOwnerIndex(GlobalSecondaryIndex):
    """An organisation's jobs, newest first (a person's own list, an admin's list of all)."""

    class Meta:
        index_name = "by_org"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # iso created_at#job_id


class Job(Model):
    """One piece of background work (chalicelib.jobs): an import, a bulk action, an export...

    `cursor` is where the next step continues (the kind's own shape), `step_seq`
    counts committed steps (a queue message names the step it is for, so a
    redelivered or early message is a no-op), `lease_owner`/`lease_until` say
    who works on it until when.
    """

    class Meta(_BaseMeta):
        table_name = _table("jobs")

    job_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    owner_id = UnicodeAttribute()  # the account that started it
    kind = UnicodeAttribute()
    status = UnicodeAttribute(default="waiting")  # JOB_STATUSES
    phase = UnicodeAttribute(default="")  # the kind's own stage, e.g. checking / ready / importing
    done = NumberAttribute(default=0)
    total = NumberAttribute(default=0)
    attempts = NumberAttribute(default=0)  # of the current step; reset when a step commits
    step_seq = NumberAttribute(default=0)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)  # see JobDueIndex
    due = UnicodeAttribute(null=True)  # JOB_DUE while running
    cancel_requested = BooleanAttribute(default=False)
    retryable = BooleanAttribute(default=False)  # failed after its attempts: Retry continues from `cursor`
    error = UnicodeAttribute(null=True)  # for a person to read
    last_error = UnicodeAttribute(null=True)  # the last failed attempt's, while retrying
    params = JSONAttribute(default=dict)  # what it was started with
    cursor = JSONAttribute(default=dict)
    summary = JSONAttribute(default=dict)  # counts and results shown to the person
    # Emails the job queued, as the mail queue reports them (atomic counters: consumers run apart).
    mail_sent = NumberAttribute(default=0)
    mail_not_sent = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute(default=utcnow)
    created_key = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    progress_at = UTCDateTimeAttribute(default=utcnow)  # last time a step moved it on
    expires_at = TTLAttribute(null=True)

    by_due = JobDueIndex()
    by_org = JobOwnerIndex()

    def serialize(self, null_check: bool = True):
        self.created_key = f"{self.created_at.isoformat()}#{self.job_id}"
        return super().serialize(null_check=null_check)


class IdempotencyKey(Model):
    """A client's Idempotency-Key on POST /api/v1/activities, bound to a hash of the
    request body and holding the answer given; written in the same transaction as
    the activity and the visit (chalicelib.activity.platform_api)."""

    class Meta(_BaseMeta):
        table_name = _table("idempotency_keys")

    key = UnicodeAttribute(hash_key=True)  # org_id#the client's key
    org_id = UnicodeAttribute()
    payload_hash = UnicodeAttribute()
    response = JSONAttribute(default=dict)
    created_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute(null=True)  # housekeeping; the window is checked in code


class Export(Model):
    """One CSV export of the Clients Table (chalicelib.exports): a direct download,
    or a file written to S3 by a background job (`job_id`, whose cursor says how far it is)."""

    class Meta(_BaseMeta):
        table_name = _table("exports")

    org_id = UnicodeAttribute(hash_key=True)
    export_id = UnicodeAttribute(range_key=True)  # time-ordered: newest last
    owner_id = UnicodeAttribute()
    owner_name = UnicodeAttribute(default="")
    kind = UnicodeAttribute(default="manual")  # manual | scheduled
    schedule_id = UnicodeAttribute(null=True)
    filters = MapOf(UnicodeAttribute, default=dict)  # the Clients Table's query parameters
    summary = UnicodeAttribute(default="")  # the filters in words
    time_zone = UnicodeAttribute(default="UTC")
    status = UnicodeAttribute(default="running")  # running | ready | downloaded | failed
    rows = NumberAttribute(default=0)
    bytes = NumberAttribute(default=0)
    expected_rows = NumberAttribute(null=True)
    object_key = UnicodeAttribute(null=True)
    job_id = UnicodeAttribute(null=True)  # the background job writing the file (chalicelib.jobs)
    error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    finished_at = UTCDateTimeAttribute(null=True)
    file_until = UTCDateTimeAttribute(null=True)  # the file's retention (the bucket's lifecycle rule)
    expires_at = TTLAttribute(null=True)
    version = VersionAttribute()


class DueScheduleIndex(GlobalSecondaryIndex):
    """Schedules by next run: the runner's one Query (`due` is a constant partition)."""

    class Meta:
        index_name = "by_due"
        projection = KeysOnlyProjection()

    due = UnicodeAttribute(hash_key=True)
    next_run_at = UnicodeAttribute(range_key=True)  # iso time#schedule id


class ExportSchedule(Model):
    """A recurring export (daily or weekly) with chosen filters."""

    class Meta(_BaseMeta):
        table_name = _table("export_schedules")

    org_id = UnicodeAttribute(hash_key=True)
    schedule_id = UnicodeAttribute(range_key=True)
    frequency = UnicodeAttribute()  # daily | weekly
    at_time = UnicodeAttribute(default="06:00")  # HH:MM on the organisation's wall clock
    weekday = NumberAttribute(default=0)  # weekly: date.weekday() (0 = Monday)
    filters = MapOf(UnicodeAttribute, default=dict)
    summary = UnicodeAttribute(default="")
    email_admins = BooleanAttribute(default=False)
    created_by = UnicodeAttribute()
    created_by_name = UnicodeAttribute(default="")
    created_at = UTCDateTimeAttribute(default=utcnow)
    due = UnicodeAttribute(default="due")
    next_run_at = UnicodeAttribute()
    last_export_id = UnicodeAttribute(null=True)
    version = VersionAttribute()

    by_due = DueScheduleIndex()


ALL_MODELS = (Organisation, Account, Session, Activity, Group, Lookup, SearchToken, Metric, Throttle, Export,
              ExportSchedule, Job, IdempotencyKey)
TTL_ATTRIBUTE = "expires_at"


def create_tables() -> None:
    """Create every table in the emulator (production tables come from the template)."""
    import boto3

    client = boto3.client("dynamodb")
    for model in ALL_MODELS:
        model._connection = None
        if not model.exists():
            model.create_table(wait=True)
        if TTL_ATTRIBUTE in model.get_attributes():
            client.update_time_to_live(
                TableName=model.Meta.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
