"""Caseload: wiring only. The domain lives in chalicelib/."""
from chalice import Chalice

from chalicelib.routes import account_pages, activities_api, api, clients, events, invites, system
from chalicelib.web import guard

app = Chalice(app_name="caseload")
app.register_middleware(guard.middleware, "http")
# system last: its catch-all 404 routes must not shadow anything (they do not: concrete paths win).
for blueprint in (account_pages.bp, api.bp, clients.bp, invites.bp, activities_api.bp, events.bp, system.bp):
    app.register_blueprint(blueprint)
