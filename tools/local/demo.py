"""A realistic demo organisation: an admin, staff, groups, clients with history.

Written with batch writes (25 items a request) as a bulk load, then counted
once (`reconcile.rebuild`), so the stream skips the load's records and
handles every later change.
"""
import random
from dataclasses import dataclass
from datetime import timedelta

from faker import Faker

from chalicelib.activity import timeline
from chalicelib.core.models import Account, Activity, Group, Lookup, Session, utcnow
from chalicelib.core.tokens import hash_token, new_id, new_token
from chalicelib.metrics import reconcile
from chalicelib.people import accounts, organisations, passwords

DEMO_PASSWORD = "demo-caseload-2026"
GROUP_NAMES = ["Job Club", "Digital Skills", "Youth Employment", "Return to Work", "Career Changers"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]


@dataclass
class Demo:
    org_id: str
    org_name: str
    join_token: str
    admin_email: str
    staff_email: str
    password: str


def seed(clients: int = 500, seed_value: int = 2026, org_name: str = "Northside Employment Centre") -> Demo:
    fake = Faker("en_GB")
    Faker.seed(seed_value)
    rng = random.Random(seed_value)
    now = utcnow()
    org, join_token = organisations.create_organisation(org_name)
    domain = "northside.example.org"
    password_hash = passwords.hash_password(DEMO_PASSWORD)

    groups = [Group(org_id=org.org_id, group_id=new_id(), name=name, created_at=now - timedelta(days=120))
              for name in GROUP_NAMES]
    people = [Account(org_id=org.org_id, account_id=new_id(), email=f"amara.okafor@{domain}", name="Amara Okafor",
                      role="admin", status="activated", password_hash=password_hash,
                      created_at=now - timedelta(days=400))]
    for first, last in [("Daniel", "Hughes"), ("Priya", "Shah"), ("Tom", "Bennett")]:
        people.append(Account(org_id=org.org_id, account_id=new_id(), email=f"{first}.{last}@{domain}".lower(),
                              name=f"{first} {last}", role="staff", status="activated", password_hash=password_hash,
                              created_at=now - timedelta(days=rng.randint(200, 380))))
    staff = people[1:]
    seen_emails = {p.email for p in people}
    while len(people) < clients + 4:
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}{rng.randint(1, 99)}@{fake.free_email_domain()}".lower().replace("'", "")
        if email in seen_emails:
            continue
        seen_emails.add(email)
        status = rng.choices(["activated", "provisioned", "archived"], weights=[70, 22, 8])[0]
        assigned = rng.choice(staff) if rng.random() < 0.85 else None
        account = Account(
            org_id=org.org_id, account_id=new_id(), email=email, name=f"{first} {last}", role="client",
            status=status, group_id=rng.choice(groups).group_id if rng.random() < 0.8 else None,
            staff_id=assigned.account_id if assigned else None, staff_email=assigned.email if assigned else None,
            phone=fake.phone_number() if rng.random() < 0.6 else None,
            created_at=now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440)),
            created_by=people[0].account_id,
        )
        if status == "archived":
            account.previous_status = rng.choice(["activated", "provisioned"])
        if status == "activated" or account.previous_status == "activated":
            account.password_hash = password_hash
        people.append(account)

    history, sessions = [], []
    for person in people:
        active = person.status == "activated" or person.previous_status == "activated"
        history.append(timeline.new_activity(org.org_id, person.account_id, "invited", people[0],
                                               when=person.created_at, role=person.role))
        if not active:
            continue
        span = max(1, min(90, (now - person.created_at).days))
        visits = sorted({rng.randint(0, span) for _ in range(rng.randint(1, 8))}, reverse=True)
        for days_ago in visits:
            start = now - timedelta(days=days_ago, minutes=rng.randint(5, 600))
            if start <= person.created_at:
                continue
            accounts.note_visit(person, start)
            duration = timedelta(minutes=rng.randint(2, 95))
            sessions.append(Session(
                session_hash=hash_token(new_token()), account_key=f"{org.org_id}#{person.account_id}",
                org_id=org.org_id, account_id=person.account_id, started_at=start, last_seen=start + duration,
                ended_at=start + duration, ended_reason="signed_out", ip=fake.ipv4_public(),
                user_agent=rng.choice(BROWSERS), csrf_secret=new_token()))
            history.append(timeline.new_activity(org.org_id, person.account_id, "signed_in", when=start))
        if person.last_visit:
            person.last_visit = max(person.last_visit, person.created_at)
    # Accounts last: their stream records find groups and email claims in place.
    _write(Group, groups)
    _write(Lookup, [Lookup(key=accounts.email_lookup_key(org.org_id, p.email), org_id=org.org_id,
                           account_id=p.account_id) for p in people])
    _write(Lookup, [Lookup(key=f"group#{org.org_id}#{g.name.casefold()}", org_id=org.org_id, target_id=g.group_id)
                    for g in groups])
    _write(Session, sessions)
    _write(Activity, history)
    _write(Account, people)
    reconcile.rebuild(org.org_id)
    return Demo(org.org_id, org.name, join_token, people[0].email, staff[0].email, DEMO_PASSWORD)


def _write(model, items) -> None:
    with model.batch_write() as batch:
        for item in items:
            batch.save(item)
