"""Caseload: wiring only. The domain lives in chalicelib/."""
from chalice import Chalice

from chalicelib.routes import account_pages, api, events, system
from chalicelib.web import guard

app = Chalice(app_name="caseload")
app.register_middleware(guard.middleware, "http")
for blueprint in (account_pages.bp, api.bp, events.bp, system.bp):
    app.register_blueprint(blueprint)
