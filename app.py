"""Caseload: wiring only. The domain lives in chalicelib/, one folder per feature."""
from chalice import Chalice

from chalicelib.routes import actions, activity, api, events, exports, invitations, people, system, table
from chalicelib.web import guard

app = Chalice(app_name="caseload")
app.register_middleware(guard.middleware, "http")
# system last: its catch-all 404 routes must not shadow anything (they do not: concrete paths win).
for blueprint in (people.bp, api.bp, table.bp, actions.bp, invitations.bp, activity.bp, exports.bp, events.bp,
                  system.bp):
    app.register_blueprint(blueprint)
