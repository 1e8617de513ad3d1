"""Caseload: wiring only. The domain lives in chalicelib/, one folder per feature."""
from chalice import Chalice

from chalicelib.routes import (actions, activity, api, audit, events, exports, groups, invitations, jobs, people,
                               system, table)
from chalicelib.web import guard

app = Chalice(app_name="caseload")
app.register_middleware(guard.middleware, "http")
# system last: its catch-all 404 routes must not shadow anything (they do not: concrete paths win).
for blueprint in (people.bp, api.bp, table.bp, actions.bp, invitations.bp, groups.bp, activity.bp, audit.bp,
                  exports.bp, jobs.bp, events.bp, system.bp):
    app.register_blueprint(blueprint)
