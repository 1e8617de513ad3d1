"""What each simulated person does during `make load` (locust, run by tools/load/run.py).

Every user signs in as the demo's admin or one of its staff, then browses pages, filters, searches,
invites new addresses and edits names. Each user edits only its own slice of the clients, so a
409 (someone else's edit) is a real error, not the test's. Any answer other than the expected
status counts as a failure."""
import itertools
import json
import os
import re
import uuid

from locust import HttpUser, between, task

PLAN = json.loads(open(os.environ["CASELOAD_LOAD_PLAN"], encoding="utf-8").read())
_numbers = itertools.count()
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


class Person(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self):
        number = next(_numbers)
        signs_in_as = PLAN["admin_email"] if number % 4 else PLAN["staff_email"]  # one in four is staff
        self.is_admin = signs_in_as == PLAN["admin_email"]
        own = PLAN["admin_clients"] if self.is_admin else PLAN["staff_clients"]
        users = PLAN["users"]
        self.clients = itertools.cycle(own[number % users::users])  # this user's slice: no two users edit one row
        page = self.client.get("/signin", name="/signin").text
        self.client.post("/signin", {"email": signs_in_as, "password": PLAN["password"],
                                     "csrf_token": _TOKEN.search(page).group(1)}, name="/signin",
                         allow_redirects=False)
        self.csrf = _TOKEN.search(self.client.get("/home", name="/home").text).group(1)
        self.api = {"x-csrf-token": self.csrf, "accept": "application/json"}

    @task(6)
    def browse(self):
        """The Clients Table, then its next page through the cursor."""
        self.client.get("/clients", name="/clients")
        first = self.client.get("/api/v1/clients?size=25", headers=self.api, name="/api/v1/clients (page)").json()
        if first.get("next_cursor"):
            self.client.get(f"/api/v1/clients?size=25&cursor={first['next_cursor']}", headers=self.api,
                            name="/api/v1/clients (next page)")

    @task(4)
    def filter_table(self):
        query = next(self._filters)
        self.client.get(f"/clients?{query}", name="/clients?filters")
        self.client.get(f"/api/v1/clients?{query}", headers=self.api, name="/api/v1/clients?filters")

    _filters = itertools.cycle(["role=client", "status=activated", "status=provisioned&sort=created",
                                "no_visit=30", "box=new", "box=engaged", "role=client&status=activated",
                                "status=archived"])

    @task(3)
    def search(self):
        term = next(self._terms)
        self.client.get(f"/api/v1/clients?q={term}", headers=self.api, name="/api/v1/clients?q")

    _terms = itertools.cycle(["sm", "jo", "pat", "ali", "ow", "north", "ka", "ma", "son"])

    @task(1)
    def invite(self):
        address = f"load-{uuid.uuid4().hex[:12]}@invited.example.org"
        with self.client.post("/api/v1/invites", json={"emails": [address]}, headers=self.api,
                              name="/api/v1/invites", catch_response=True) as answer:
            outcome = answer.json()["results"][0]["status"] if answer.status_code == 200 else None
            if outcome != "invited":
                answer.failure(f"{answer.status_code} {outcome}")

    @task(2)
    def edit(self):
        account_id = next(self.clients)
        self.client.patch(f"/api/v1/clients/{account_id}", json={"name": f"Edited {uuid.uuid4().hex[:6]}"},
                          headers=self.api, name="/api/v1/clients/{id} (edit)")
