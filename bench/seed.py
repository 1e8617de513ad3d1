"""A large organisation for benchmarks: accounts only, bulk-written, then counted once.

Distribution (like the demo, at scale): 20 staff, 10 groups; clients 70%
activated, 22% provisioned, 8% archived; 80% in a group, 85% assigned; the
activated visited on 1-8 days of the last 90.
"""
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from faker import Faker

from chalicelib.core.models import Account, Group, utcnow
from chalicelib.core.tokens import new_id
from chalicelib.metrics import reconcile
from chalicelib.people import organisations


@dataclass
class SeededOrg:
    org_id: str
    admin: Account
    staff: list
    groups: list
    size: int


def seed_org(size: int, seed: int = 1) -> SeededOrg:
    fake, rng = Faker("en_GB"), random.Random(seed)
    Faker.seed(seed)
    org, _ = organisations.create_organisation(f"Bench {size:,}")
    now = utcnow()
    today = now.date().toordinal()
    groups = [Group(org_id=org.org_id, group_id=new_id(), name=f"Group {i + 1}") for i in range(10)]
    with Group.batch_write() as batch:
        for group in groups:
            batch.save(group)
    admin = Account(org_id=org.org_id, account_id=new_id(), email="admin@bench.example.org", name="Bench Admin",
                    role="admin", status="activated", created_at=now - timedelta(days=500))
    staff = [Account(org_id=org.org_id, account_id=new_id(), email=f"staff{i}@bench.example.org",
                     name=f"Staff Member {i}", role="staff", status="activated",
                     created_at=now - timedelta(days=400)) for i in range(20)]
    with Account.batch_write() as batch:
        for person in [admin, *staff]:
            batch.save(person)
        for index in range(size - len(staff) - 1):
            status = rng.choices(["activated", "provisioned", "archived"], weights=[70, 22, 8])[0]
            assigned = rng.choice(staff) if rng.random() < 0.85 else None
            client = Account(
                org_id=org.org_id, account_id=new_id(), email=f"c{index}.{fake.user_name()}@example.net",
                name=f"{fake.first_name()} {fake.last_name()}", role="client", status=status,
                group_id=rng.choice(groups).group_id if rng.random() < 0.8 else None,
                staff_id=assigned.account_id if assigned else None, staff_email=assigned.email if assigned else None,
                created_at=now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440)))
            if status == "activated":
                days = {today - rng.randint(0, 89) for _ in range(rng.randint(1, 8))}
                client.active_days = days
                client.last_visit = datetime.combine(datetime.fromordinal(max(days)).date(), time(10),
                                                     tzinfo=timezone.utc)
            batch.save(client)
    reconcile.rebuild(org.org_id)
    return SeededOrg(org.org_id, admin, staff, groups, size)
